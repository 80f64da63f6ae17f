/**
 * baton under faults on a Temporal cluster, as it is deployed: `temporal-server` on a PostgreSQL of its own, and two
 * worker processes on the task queue, each with its own webhook receiver behind the one address the bank posts to.
 * Each scenario drives a small mixed load (62 payments, 15 registrations, each started as others end) through the
 * fault suite's harness while one fault strikes: a worker SIGKILLed and left down long enough that the other worker
 * takes its runs over, `temporal-server` SIGKILLed and restarted on the same ports and databases, or the PostgreSQL
 * under it stopped and started again. Each checks the fault suite's invariants (nothing lost, nothing moved twice,
 * one message per purpose, every history replays) and reports how long the runs in flight at the fault were delayed.
 * The report is printed at the end and written to test-results/cluster-faults-report.json.
 *
 * FAULT_SEED repeats a run's load plan and fault draws; FAULT_ONLY=<name>[,<name>] runs only the named scenarios.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FaultKind, killTemporal, killWorker, restartTemporalPostgres } from '../faults/harness/faults';
import type { LoadShape } from '../faults/harness/load';
import { PROJECT_ROOT } from '../faults/harness/processes';
import { formatReport, writeReport } from '../faults/harness/report';
import type { ReportTarget, ScenarioReport } from '../faults/harness/report';
import { runScenario } from '../faults/harness/scenario';
import type { ScenarioSpec } from '../faults/harness/scenario';
import type { StackShape } from '../faults/harness/stack';
import { assertScenarioHeld } from '../faults/harness/verdict';

const CLUSTER_FAULT_SUITE: ReportTarget = {
  title: 'baton fault suite on a Temporal cluster',
  path: path.join(PROJECT_ROOT, 'test-results', 'cluster-faults-report.json'),
};

const CLUSTER: StackShape = { temporal: 'cluster', workers: 2 };

/** Every branch the fault suite's load has, small enough for three scenarios in a few minutes on two cores. */
const LOAD: LoadShape = {
  payments: { settle: 40, fail: 6, return: 4, review: 2, aml_hit: 3, insufficient: 3, tight: 4 },
  registrations: { email: 8, sms: 5, sms_fallback: 2 },
  viaBus: 0,
};

/**
 * Runs in progress before the next one waits (each of the load's starting lanes may add one more): runs keep
 * starting and ending before, during and after the fault, and those in flight at no fault give the usual time.
 */
const MAX_IN_FLIGHT = 6;

const SCENARIOS: readonly ScenarioSpec[] = [
  {
    name: 'cluster-worker-takeover',
    tag: 'cwk',
    title:
      'loses and duplicates nothing when one of two workers is SIGKILLed and stays down while the other takes its runs over',
    stack: CLUSTER,
    load: LOAD,
    maxInFlight: MAX_IN_FLIGHT,
    // Longer than a sticky queue's 10-second schedule-to-start timeout and a workflow task's 10-second timeout, with
    // room to spare: the runs the killed worker held go on on the other one before it is back.
    inject: (ctx) => [killWorker(ctx, [0.2], { minMs: 13_000, maxMs: 15_000 })],
    minimumFaults: { [FaultKind.WorkerSigkill]: 1 },
    minimumTakeovers: 1,
  },
  {
    name: 'cluster-temporal-sigkill',
    tag: 'cts',
    title:
      'loses and duplicates nothing when temporal-server is SIGKILLed and restarted on the same ports and databases',
    stack: CLUSTER,
    load: LOAD,
    maxInFlight: MAX_IN_FLIGHT,
    inject: (ctx) => [killTemporal(ctx, [0.3])],
    minimumFaults: { [FaultKind.TemporalSigkill]: 1 },
  },
  {
    name: 'cluster-postgres-restart',
    tag: 'cpg',
    title:
      'loses and duplicates nothing when the PostgreSQL under temporal-server is stopped for seconds and started again',
    stack: CLUSTER,
    load: LOAD,
    maxInFlight: MAX_IN_FLIGHT,
    inject: (ctx) => [restartTemporalPostgres(ctx, [0.3])],
    minimumFaults: { [FaultKind.TemporalPostgresRestart]: 1 },
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

describe('baton under faults on a Temporal cluster with two workers', () => {
  after(async () => {
    const totalMs = Date.now() - suiteStartedAt;
    await writeReport(reports, totalMs, CLUSTER_FAULT_SUITE);
    console.log(formatReport(reports, totalMs, CLUSTER_FAULT_SUITE));
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
