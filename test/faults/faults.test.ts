/**
 * baton under faults: each scenario drives 200 payments and 50 registrations through the real local stack (dev
 * server on SQLite, PostgreSQL, bank simulator, SMTP sink, local Twilio, the worker as its own process) while it
 * injects one kind of fault, then all of them at once, and checks the invariants from the ledger and the sinks.
 * The report is printed at the end and written to test-results/faults-report.json.
 *
 * Every scenario stops at the first nondeterminism (or a run whose workflow task keeps failing) the worker reports,
 * and ends by replaying every history it wrote with nothing cached.
 *
 * One scenario sends most of a smaller load as command events through the command consumer (its own process) and
 * SIGKILLs the NATS server and the consumer, publishes commands twice and sends invalid ones; it is also checked
 * against the broker's streams and Temporal's list of runs.
 *
 * One scenario has operators terminate, reset and Temporal-cancel runs under load, as from the UI or the CLI, then
 * asks the watchdog for the orphaned debits the terminations left, compares them with what the harness knows it did,
 * and ends each with `npm run client -- resolve`; its checks know which runs were ended on purpose.
 *
 * FAULT_SEED repeats a run's load plan and fault draws; FAULT_ONLY=<name>[,<name>] runs only the named scenarios.
 */
import { randomInt } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  bankOutage,
  failTwilio,
  FaultKind,
  killConsumer,
  killNats,
  killPostgresConnections,
  killTemporal,
  killWorker,
  refuseSmtp,
  releaseOutOfOrder,
  sendInvalidCommands,
} from './harness/faults';
import { formatReport, writeReport } from './harness/report';
import type { ScenarioReport } from './harness/report';
import { runScenario } from './harness/scenario';
import type { ScenarioSpec } from './harness/scenario';
import { assertScenarioHeld } from './harness/verdict';

const SCENARIOS: readonly ScenarioSpec[] = [
  {
    name: 'worker-sigkill',
    tag: 'wk',
    title: 'loses and duplicates nothing when the worker is SIGKILLed four times and restarted',
    inject: (ctx) => [killWorker(ctx, [0.05, 0.25, 0.45, 0.65])],
  },
  {
    name: 'temporal-sigkill',
    tag: 'ts',
    title:
      'loses and duplicates nothing when the Temporal dev server is SIGKILLed and restarted on its SQLite file',
    inject: (ctx) => [killTemporal(ctx, [0.15, 0.55])],
  },
  {
    name: 'postgres-terminate',
    tag: 'pg',
    title:
      "loses and duplicates nothing when the worker's PostgreSQL connections are killed and the ledger restarted",
    inject: (ctx) => [killPostgresConnections(ctx, [0.08, 0.3, 0.5, 0.7], true)],
  },
  {
    name: 'messaging-outages',
    tag: 'ms',
    title:
      'delivers each message once when the SMTP sink refuses for a while and Twilio answers 429/500 bursts',
    inject: (ctx) => [refuseSmtp(ctx, [0.05, 0.4]), failTwilio(ctx, [0.03, 0.2, 0.4, 0.6])],
  },
  {
    name: 'bank-misbehaviour',
    tag: 'bk',
    title:
      'settles each payment once when the bank fails, loses answers and sends webhooks twice, late, out of order or forged',
    bankFaults: {
      submit500: 15,
      lostAnswer: 15,
      twice: 25,
      late: 12,
      outOfOrder: 12,
      dropped: 10,
      forged: 20,
    },
    inject: (ctx) => [bankOutage(ctx, [0.1, 0.45]), releaseOutOfOrder(ctx)],
  },
  {
    name: 'replay-tasks',
    tag: 'rt',
    title:
      'finishes every run when the worker caches two runs among dozens in flight, so nearly every workflow task replays the history so far, and is SIGKILLed',
    // Every update, signal and timer path the load has: reviews, duplicate and late webhooks, polls, kills. The
    // smallest cache the SDK keeps (it refuses 1; 0 drops local activities in flight, so baton refuses it).
    workerEnv: { WORKER_MAX_CACHED_WORKFLOWS: '2' },
    bankFaults: { submit500: 0, lostAnswer: 8, twice: 15, late: 10, outOfOrder: 8, dropped: 10, forged: 0 },
    inject: (ctx) => [killWorker(ctx, [0.2, 0.55]), releaseOutOfOrder(ctx)],
  },
  {
    name: 'bus-faults',
    tag: 'bus',
    title:
      'turns each command into one run and each outcome into one event when NATS and the command consumer are SIGKILLed, commands come twice and some are invalid',
    bus: {
      load: {
        payments: { settle: 50, fail: 8, return: 4, review: 3, aml_hit: 4, insufficient: 4, tight: 6 },
        registrations: { email: 8, sms: 5, sms_fallback: 2 },
        viaBus: 0.8,
      },
      maxInFlight: 12,
      resends: { sameId: 10, newId: 8, newIdAfterEnd: 6 },
    },
    inject: (ctx) => [
      killNats(ctx, [0.2, 0.5]),
      killConsumer(ctx, [0.1, 0.35, 0.65]),
      sendInvalidCommands(ctx),
    ],
    minimumFaults: {
      [FaultKind.NatsSigkill]: 2,
      [FaultKind.ConsumerSigkill]: 2,
      [FaultKind.InvalidCommand]: 5,
    },
  },
  {
    name: 'operator-actions',
    tag: 'op',
    title:
      'ends every payment once, by its run or by resolution, when operators terminate, reset and cancel runs under load',
    // A smaller load: the operators' actions and the CLI runs after it are what this scenario is about.
    load: {
      payments: { settle: 44, fail: 8, return: 6, review: 8, aml_hit: 2, insufficient: 2, tight: 6 },
      registrations: { email: 4, sms: 2, sms_fallback: 0 },
      viaBus: 0,
    },
    operators: {
      terminate_before_debit: 3,
      terminate_at_bank: 6,
      terminate_at_settlement: 3,
      reset_to_first_task: 3,
      reset_to_first_task_after_end: 2,
      reset_after_debit: 3,
      cancel_awaiting_review: 2,
      cancel_while_submitting: 2,
      cancel_at_bank: 3,
    },
    inject: () => [],
  },
  {
    name: 'everything-at-once',
    tag: 'all',
    title: 'loses and duplicates nothing when every fault strikes in the same run',
    bankFaults: { submit500: 8, lostAnswer: 8, twice: 12, late: 8, outOfOrder: 8, dropped: 6, forged: 10 },
    inject: (ctx) => [
      killWorker(ctx, [0.18, 0.55]),
      killTemporal(ctx, [0.38]),
      killPostgresConnections(ctx, [0.08, 0.45, 0.7], true),
      refuseSmtp(ctx, [0.28]),
      failTwilio(ctx, [0.1, 0.4, 0.6]),
      bankOutage(ctx, [0.32]),
      releaseOutOfOrder(ctx),
    ],
  },
];

const only = (process.env.FAULT_ONLY ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');
const baseSeed =
  process.env.FAULT_SEED === undefined ? randomInt(1, 2 ** 31) : Number(process.env.FAULT_SEED);
const reports: ScenarioReport[] = [];
const suiteStartedAt = Date.now();

describe('baton under faults', () => {
  after(async () => {
    const totalMs = Date.now() - suiteStartedAt;
    await writeReport(reports, totalMs);
    console.log(formatReport(reports, totalMs));
  });

  SCENARIOS.forEach((spec, index) => {
    const skip = only.length > 0 && !only.includes(spec.name);
    it(`${spec.name}: ${spec.title}`, { skip }, async () => {
      const report = await runScenario(spec, (baseSeed + index * 7919) % 2 ** 31);
      reports.push(report);
      assertScenarioHeld(spec, report);
    });
  });
});
