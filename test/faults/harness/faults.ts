/**
 * The faults a scenario injects, each at a moment chosen at random within the run (triggered by how far the load
 * has got, plus jitter, so every fault lands while work is in flight), and the log of what was injected and how long
 * the stack took to recover from each kill.
 */
import { signWebhook } from '../../../services/bank';
import type { SimulatorScenario } from '../../../services/bank';
import type { LocalTwilioFailureStatus } from '../../../local/stand-ins/local-twilio';
import type { CommandTraffic } from './commands';
import type { ForgedWebhook } from './invariants';
import type { LoadPlan, PlannedPayment, Progress } from './load';
import type { Rng } from './random';
import { sleep } from './random';
import type { WorkerProcess } from './processes';
import type { FaultStack } from './stack';
import { runsHeld } from './takeovers';

/** Fault kinds as the report counts them. */
export const FaultKind = {
  WorkerSigkill: 'worker_sigkill',
  WorkerRestart: 'worker_graceful_restart',
  TemporalSigkill: 'temporal_server_sigkill',
  TemporalPostgresRestart: 'temporal_postgres_restart',
  PgTerminate: 'postgres_terminate_backend',
  SmtpRefusal: 'smtp_refusal_window',
  Twilio429: 'twilio_429_burst',
  Twilio500: 'twilio_500_burst',
  TwilioWindow: 'twilio_503_window',
  BankOutage: 'bank_500_window',
  BankSubmit500: 'bank_submit_500',
  BankLostAnswer: 'bank_submit_answer_lost',
  WebhookTwice: 'bank_webhook_twice',
  WebhookLate: 'bank_webhook_late',
  WebhookOutOfOrder: 'bank_webhook_out_of_order',
  WebhookDropped: 'bank_webhook_dropped',
  WebhookForged: 'bank_webhook_forged',
  NatsSigkill: 'nats_server_sigkill',
  ConsumerSigkill: 'command_consumer_sigkill',
  InvalidCommand: 'invalid_command',
} as const;
/** One of {@link FaultKind}. */
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/**
 * How much longer than usual the runs in flight at a fault took. A run's delay is its time from acceptance to end
 * minus the median of the scenario's unfaulted runs of its kind (0 when it took no longer); unfaulted runs are those
 * in flight at no fault of the scenario.
 */
export interface RunDelay {
  /** Runs in flight while the part was down: accepted before it answered again, ended after it went down. */
  runs: number;
  /** Median and largest delay of those runs, ms; null when there was no unfaulted run to compare with. */
  p50Ms: number | null;
  maxMs: number | null;
}

/** How one kill (or restart) went, times in ms. */
export interface Recovery {
  kind: FaultKind;
  /** Which process it struck, when the stack runs more than one of its kind (`worker-2`). */
  target?: string;
  /** When the fault hit, from the scenario's start. */
  atMs: number;
  /** From the kill until the process was back and answering (or, for PostgreSQL, until the harness stopped). */
  downMs: number;
  /** From the restart until the first run ended after it; null when no run ended after it. */
  recoveryMs: number | null;
  /** Completed runs when the fault hit. */
  endedBefore: number;
  delayed: RunDelay;
}

/** Runs of a kind needed to take their median as the kind's usual time; fewer, and the wider group's serves. */
const MIN_BASELINE_RUNS = 3;

/** The value below which `share` (0 to 1) of the sorted `values` lie (nearest rank); null for none. */
function percentile(sorted: readonly number[], share: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(share * sorted.length) - 1)] ?? null;
}

/** What a scenario injected, counted by kind, with the recovery of each kill. */
export class FaultLog {
  readonly counts: Partial<Record<FaultKind, number>> = {};
  readonly forged: ForgedWebhook[] = [];
  private readonly pending: {
    kind: FaultKind;
    target?: string;
    hitAt: number;
    readyAt: number;
    endedBefore: number;
  }[] = [];

  constructor(
    private readonly startedAt: number,
    private readonly stack: Pick<FaultStack, 'log'>,
  ) {}

  count(kind: FaultKind, n = 1): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + n;
    this.stack.log.write(`[fault] ${kind}${n === 1 ? '' : ` x${n}`}`);
  }

  kill(kind: FaultKind, hitAt: number, readyAt: number, endedBefore: number, target?: string): void {
    this.count(kind);
    this.pending.push({ kind, hitAt, readyAt, endedBefore, ...(target === undefined ? {} : { target }) });
  }

  /**
   * Recovery of each kill, once the scenario's runs have ended, with the delay of the runs in flight at it.
   * `kindOf` names a run's kind (`payment:settle`); its usual time is the median of the unfaulted runs of that kind,
   * or of its type (the name before the colon) when that kind has too few, or of all.
   */
  recoveries(progress: Progress, kindOf: (workflowId: string) => string = () => 'run'): Recovery[] {
    const runs = lifetimes(progress);
    const groups = (workflowId: string): string[] => {
      const kind = kindOf(workflowId);
      return [kind, kind.split(':')[0] ?? kind, ''];
    };
    const usual = new Map<string, number[]>();
    for (const run of runs.filter((r) => this.unfaulted(r))) {
      for (const group of groups(run.workflowId)) usual.set(group, [...(usual.get(group) ?? []), run.tookMs]);
    }
    for (const times of usual.values()) times.sort((a, b) => a - b);
    const usualTime = (workflowId: string): number | null => {
      for (const group of groups(workflowId)) {
        const times = usual.get(group) ?? [];
        if (times.length >= MIN_BASELINE_RUNS || group === '') return percentile(times, 0.5);
      }
      return null;
    };

    return this.pending.map((window) => {
      const { kind, target, hitAt, readyAt, endedBefore } = window;
      const first = progress.firstEndAfter(readyAt);
      const hit = runs.filter((run) => inFlightAt(run, window));
      const delays = hit
        .flatMap((run) => {
          const usualMs = usualTime(run.workflowId);
          return usualMs === null ? [] : [Math.max(0, run.tookMs - usualMs)];
        })
        .sort((a, b) => a - b);
      return {
        kind,
        ...(target === undefined ? {} : { target }),
        atMs: hitAt - this.startedAt,
        downMs: readyAt - hitAt,
        recoveryMs: first === undefined ? null : first - readyAt,
        endedBefore,
        delayed: { runs: hit.length, p50Ms: percentile(delays, 0.5), maxMs: percentile(delays, 1) },
      };
    });
  }

  /** The ended runs in flight at no fault, and the median of their times from acceptance to end (ms). */
  unfaultedRuns(progress: Progress): { runs: number; medianMs: number | null } {
    const times = lifetimes(progress)
      .filter((run) => this.unfaulted(run))
      .map((run) => run.tookMs)
      .sort((a, b) => a - b);
    return { runs: times.length, medianMs: percentile(times, 0.5) };
  }

  private unfaulted(run: Lifetime): boolean {
    return !this.pending.some((window) => inFlightAt(run, window));
  }
}

/** One ended run: from its acceptance to its end. */
interface Lifetime {
  workflowId: string;
  acceptedAt: number;
  endedAt: number;
  tookMs: number;
}

function lifetimes(progress: Progress): Lifetime[] {
  return [...progress.ended].flatMap(([workflowId, end]) => {
    const acceptedAt = progress.accepted.get(workflowId);
    return acceptedAt === undefined
      ? []
      : [{ workflowId, acceptedAt, endedAt: end.at, tookMs: end.at - acceptedAt }];
  });
}

/** Whether the run was in flight while the part was down: accepted before it answered, ended after it went down. */
function inFlightAt(run: Lifetime, window: { hitAt: number; readyAt: number }): boolean {
  return run.acceptedAt <= window.readyAt && run.endedAt >= window.hitAt;
}

/** What every injector gets. */
export interface FaultContext {
  stack: FaultStack;
  plan: LoadPlan;
  progress: Progress;
  rng: Rng;
  log: FaultLog;
  /** True once every accepted run has ended (or the deadline passed): injectors stop then. */
  over: () => boolean;
  /** Runs kills and restarts one at a time, so two injectors never restart the same process at once. */
  serial: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The scenario's command events, when part of its load arrives on the bus. */
  commands?: CommandTraffic;
}

/**
 * Waits until about `fraction` (give or take 4 points, at random) of the runs ended, then a random 0-`jitterMs`;
 * false when the load is over first.
 */
async function at(ctx: FaultContext, fraction: number, jitterMs = 2_000): Promise<boolean> {
  const moment = Math.min(0.95, Math.max(0.01, fraction + ctx.rng.int(-40, 40) / 1000));
  await Promise.race([ctx.progress.whenEnded(moment), untilOver(ctx)]);
  if (ctx.over()) return false;
  await sleep(ctx.rng.int(0, jitterMs));
  return !ctx.over();
}

async function untilOver(ctx: FaultContext): Promise<void> {
  while (!ctx.over()) await sleep(500);
}

/** How long a killed worker stays down before it is started again, ms (drawn between the two). */
export interface DownTime {
  minMs: number;
  maxMs: number;
}

/**
 * The worker that holds the most of the runs in flight (ties drawn at random), so a kill always strikes runs; the
 * only worker of a one-worker stack, with no draw, so such a scenario keeps the draws its seed always gave.
 */
async function busiestWorker(ctx: FaultContext): Promise<WorkerProcess> {
  const { workers } = ctx.stack;
  if (workers.length === 1) return ctx.stack.worker;
  const inFlight = [...ctx.progress.accepted.keys()].filter((id) => !ctx.progress.ended.has(id));
  const held = await runsHeld(ctx.stack.client, workers, inFlight);
  const most = Math.max(...held.values());
  const busiest = workers.filter((w) => held.get(w) === most);
  const worker = busiest[ctx.rng.int(0, busiest.length - 1)] ?? ctx.stack.worker;
  const holders = workers.map((w) => `${w.label} ${held.get(w) ?? 0}`).join(', ');
  ctx.stack.log.write(`[harness] open runs each worker holds: ${holders}; killing ${worker.label}`);
  return worker;
}

/**
 * SIGKILLs a worker at each of `fractions` of the load (with two, the one holding the most runs in flight) and
 * starts it again after `down`, by default a short pause. Down for longer than a sticky queue's 10 seconds, its
 * runs' next workflow tasks go to the other worker, which replays them from their histories: the takeover.
 */
export async function killWorker(
  ctx: FaultContext,
  fractions: readonly number[],
  down: DownTime = { minMs: 200, maxMs: 2_000 },
): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction))) return;
    await ctx.serial(async () => {
      const worker = await busiestWorker(ctx);
      const endedBefore = ctx.progress.ended.size;
      const hitAt = Date.now();
      await worker.kill('SIGKILL');
      await sleep(ctx.rng.int(down.minMs, down.maxMs));
      const { readyAt } = await worker.start();
      const target = ctx.stack.workers.length > 1 ? worker.label : undefined;
      ctx.log.kill(FaultKind.WorkerSigkill, hitAt, readyAt, endedBefore, target);
    });
  }
}

/**
 * SIGKILLs the Temporal server at each of `fractions`, restarting it on the same port and state (the dev server's
 * SQLite file, or the cluster's databases).
 */
export async function killTemporal(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction))) return;
    await ctx.serial(async () => {
      const endedBefore = ctx.progress.ended.size;
      const { killedAt, readyAt } = await ctx.stack.killTemporal(ctx.rng.int(500, 3_000));
      ctx.log.kill(FaultKind.TemporalSigkill, killedAt, readyAt, endedBefore);
    });
  }
}

/**
 * Stops the PostgreSQL under the Temporal cluster at each of `fractions` (fast shutdown: every session cut, every
 * commit kept), for `down`, and starts it again on the same data. The server stays up and keeps refusing work until
 * its database answers again. Cluster stacks only.
 */
export async function restartTemporalPostgres(
  ctx: FaultContext,
  fractions: readonly number[],
  down: DownTime = { minMs: 3_000, maxMs: 6_000 },
): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction))) return;
    await ctx.serial(async () => {
      const endedBefore = ctx.progress.ended.size;
      const { killedAt, readyAt } = await ctx.stack.restartTemporalPostgres(
        ctx.rng.int(down.minMs, down.maxMs),
      );
      ctx.log.kill(FaultKind.TemporalPostgresRestart, killedAt, readyAt, endedBefore);
    });
  }
}

/**
 * Terminates the worker's PostgreSQL connections at each of `fractions`: for a few seconds every connection it opens
 * is killed again, as during a database failover. With `restartLedger`, the last round also restarts the worker that
 * holds the ledger (SIGTERM, then a fresh process with a fresh pool).
 */
export async function killPostgresConnections(
  ctx: FaultContext,
  fractions: readonly number[],
  restartLedger: boolean,
): Promise<void> {
  for (const [index, fraction] of fractions.entries()) {
    if (!(await at(ctx, fraction))) return;
    const endedBefore = ctx.progress.ended.size;
    const hitAt = Date.now();
    const until = hitAt + ctx.rng.int(2_000, 5_000);
    let terminated = 0;
    while (Date.now() < until) {
      terminated += await ctx.stack.terminateWorkerConnections();
      await sleep(ctx.rng.int(150, 600));
    }
    ctx.stack.log.write(`[fault] ${terminated} PostgreSQL connections terminated in this round`);
    if (restartLedger && index === fractions.length - 1) {
      await ctx.serial(async () => {
        await ctx.stack.terminateWorkerConnections();
        await ctx.stack.worker.kill('SIGTERM');
        const { readyAt } = await ctx.stack.worker.start();
        ctx.log.count(FaultKind.PgTerminate);
        ctx.log.kill(FaultKind.WorkerRestart, hitAt, readyAt, endedBefore);
      });
    } else {
      ctx.log.kill(FaultKind.PgTerminate, hitAt, Date.now(), endedBefore);
    }
  }
}

/** Makes the SMTP sink refuse every connection and transaction (421) for a window at each of `fractions`. */
export async function refuseSmtp(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction))) return;
    // Shorter than the messages' retry budget (about two and a half minutes), so every message can still go out.
    ctx.stack.mailSink.refuseFor(ctx.rng.int(8_000, 20_000));
    ctx.log.count(FaultKind.SmtpRefusal);
  }
}

/** Makes the local Twilio answer bursts of 429 or 500 (and one 503 window) at each of `fractions`. */
export async function failTwilio(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const [index, fraction] of fractions.entries()) {
    if (!(await at(ctx, fraction))) return;
    if (index % 3 === 2) {
      ctx.stack.smsSink.failFor(ctx.rng.int(5_000, 12_000), 503);
      ctx.log.count(FaultKind.TwilioWindow);
      continue;
    }
    const status: LocalTwilioFailureStatus = index % 3 === 0 ? 429 : 500;
    ctx.stack.smsSink.failNext(ctx.rng.int(10, 30), status);
    ctx.log.count(status === 429 ? FaultKind.Twilio429 : FaultKind.Twilio500);
  }
}

/** Makes the bank answer 500 to every call (submissions and polls) for a window at each of `fractions`. */
export async function bankOutage(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction))) return;
    ctx.stack.bank.failFor(ctx.rng.int(3_000, 10_000));
    ctx.log.count(FaultKind.BankOutage);
  }
}

/** Shares of the bank-bound payments that get each per-payment bank fault. */
export interface BankFaultMix {
  submit500: number;
  lostAnswer: number;
  twice: number;
  late: number;
  outOfOrder: number;
  dropped: number;
  forged: number;
}

/**
 * Gives bank-bound payments their per-payment faults before the load starts: 500s on submission, answers lost after
 * the bank took the payment, webhooks sent twice, late (after the workflow gave up waiting and asked), out of order
 * (a group whose webhooks arrive in the reverse of the order the bank decided them), dropped, and forged.
 */
export function planBankFaults(ctx: Pick<FaultContext, 'plan' | 'rng' | 'log'>, mix: BankFaultMix): void {
  // The racing payments are left alone: only some of them reach the bank at all.
  const bound = ctx.rng.shuffle(ctx.plan.payments.filter((p) => p.bank !== undefined && p.kind !== 'tight'));
  let cursor = 0;
  const take = (n: number): PlannedPayment[] => {
    const chosen = bound.slice(cursor, cursor + n);
    cursor += n;
    return chosen;
  };
  const set = (p: PlannedPayment, extra: SimulatorScenario) => {
    p.bank = { ...p.bank, ...extra };
  };
  for (const p of take(mix.submit500)) set(p, { failSubmits: ctx.rng.int(1, 3) });
  ctx.log.count(FaultKind.BankSubmit500, mix.submit500);
  for (const p of take(mix.lostAnswer)) set(p, { loseSubmitAnswers: ctx.rng.int(1, 2) });
  ctx.log.count(FaultKind.BankLostAnswer, mix.lostAnswer);
  for (const p of take(mix.twice)) set(p, { webhook: 'twice' });
  ctx.log.count(FaultKind.WebhookTwice, mix.twice);
  // Later than the payment's wait for a webhook (15 s): it polls, ends, and only then does the webhook come.
  for (const p of take(mix.late)) set(p, { webhookDelayMs: ctx.rng.int(18_000, 24_000) });
  ctx.log.count(FaultKind.WebhookLate, mix.late);
  // Held by the bank once decided, then released by the harness in the reverse order (see releaseOutOfOrder).
  for (const p of take(mix.outOfOrder)) {
    set(p, { holdWebhook: true });
    p.outOfOrder = true;
  }
  for (const p of take(mix.dropped)) set(p, { webhook: 'drop' });
  ctx.log.count(FaultKind.WebhookDropped, mix.dropped);
  // Forged ones need the payment pending at the bank for a while: the forgeries go out while it decides.
  for (const p of take(mix.forged)) {
    set(p, { delayMs: ctx.rng.int(3_000, 5_000) });
    p.forge = true;
  }
}

/**
 * Throws forged webhooks at a payment while the bank works on it: signed with a wrong secret, unsigned, and a
 * genuine-looking body whose status was changed after signing. Each claims the opposite of what the bank decides.
 */
export async function forgeWebhooks(ctx: FaultContext, payment: PlannedPayment): Promise<void> {
  let record = ctx.stack.bank.payments().find((p) => p.paymentId === payment.id);
  const deadline = Date.now() + 120_000;
  while (record === undefined && Date.now() < deadline && !ctx.over()) {
    await sleep(200);
    record = ctx.stack.bank.payments().find((p) => p.paymentId === payment.id);
  }
  if (record === undefined) return;
  const lie = record.outcome === 'settled' ? 'failed' : 'settled';
  const event = (status: string) =>
    JSON.stringify({
      eventId: `evt_forged_${payment.id}_${status}_${ctx.rng.int(0, 1e9)}`,
      type: 'payment.status',
      paymentId: payment.id,
      reference: record.reference,
      status,
      occurredAt: new Date().toISOString(),
    });
  const now = () => Math.floor(Date.now() / 1000);
  const genuine = event(record.outcome);
  const variants: { variant: string; body: string; signature?: string }[] = [
    {
      variant: 'wrong_secret',
      body: event(lie),
      signature: signWebhook(event(lie), 'not-the-bank-secret-at-all', now()),
    },
    { variant: 'unsigned', body: event(lie) },
    {
      variant: 'tampered_body',
      body: genuine.replace(`"status":"${record.outcome}"`, `"status":"${lie}"`),
      signature: signWebhook(genuine, ctx.stack.webhookSecret, now()),
    },
  ];
  for (const v of variants) {
    let httpStatus = 0;
    for (let attempt = 0; attempt < 20 && httpStatus === 0; attempt++) {
      try {
        const response = await fetch(ctx.stack.webhookUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(v.signature ? { 'Bank-Signature': v.signature } : {}),
          },
          body: v.body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        httpStatus = response.status;
      } catch {
        // The receiver is down with its worker: the forger tries again, as an attacker would.
        await sleep(1_000);
      }
    }
    if (httpStatus === 0) continue;
    const decided = ctx.stack.bank.payments().find((p) => p.paymentId === payment.id)?.status !== 'pending';
    ctx.log.forged.push({
      paymentId: payment.id,
      variant: v.variant,
      httpStatus,
      beforeBankDecided: !decided,
    });
    ctx.stack.log.write(`[harness] forged webhook (${v.variant}) for ${payment.id} answered ${httpStatus}`);
    ctx.log.count(FaultKind.WebhookForged);
  }
}

/**
 * Releases the webhooks the bank holds for the out-of-order group in batches, newest decision first: once the whole
 * group is held, or a few seconds after the first of a batch was. Counts each webhook sent out of order.
 */
export async function releaseOutOfOrder(ctx: FaultContext): Promise<void> {
  const pending = new Set(ctx.plan.payments.filter((p) => p.outOfOrder).map((p) => p.id));
  let firstHeldAt: number | undefined;
  while (pending.size > 0 && !ctx.over()) {
    const held = ctx.stack.bank.heldWebhooks().filter((id) => pending.has(id));
    if (held.length > 0) firstHeldAt ??= Date.now();
    if (held.length > 0 && (held.length === pending.size || Date.now() - (firstHeldAt ?? 0) > 6_000)) {
      for (const id of held.reverse()) {
        ctx.stack.bank.releaseWebhook(id);
        pending.delete(id);
        await sleep(150);
      }
      if (held.length > 1) ctx.log.count(FaultKind.WebhookOutOfOrder, held.length);
      firstHeldAt = undefined;
    }
    await sleep(200);
  }
}

/**
 * SIGKILLs the NATS server at each of `fractions`, restarting it on the same port and JetStream store: the streams,
 * the commands not yet consumed and the consumer's position must all come back.
 */
export async function killNats(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const fraction of fractions) {
    if (!(await at(ctx, fraction, 1_000))) return;
    await ctx.serial(async () => {
      const endedBefore = ctx.progress.ended.size;
      const { killedAt, readyAt } = await ctx.stack.killNats(ctx.rng.int(500, 3_000));
      ctx.log.kill(FaultKind.NatsSigkill, killedAt, readyAt, endedBefore);
    });
  }
}

/** Longest a consumer kill waits for the consumer to hold a command it has not acknowledged yet. */
const HOLDING_WAIT_MS = 15_000;

/**
 * SIGKILLs the command consumer at each of `fractions` and starts it again, always while it holds a batch of
 * commands it has not acknowledged. The first kill strikes while the batch waits to be handled: nothing of it has
 * started. The others strike as the consumer reports the first run of the batch started, while the rest of the
 * batch is being started: runs then exist whose command is never acknowledged. Either way the commands come back
 * after the bus's redelivery timer, and must each end in one run.
 */
export async function killConsumer(ctx: FaultContext, fractions: readonly number[]): Promise<void> {
  for (const [index, fraction] of fractions.entries()) {
    if (!(await at(ctx, fraction, 1_000))) return;
    await ctx.serial(async () => {
      const until = Date.now() + HOLDING_WAIT_MS;
      let holding = 0;
      while (holding < 2 && Date.now() < until && !ctx.over()) {
        holding = await ctx.stack.bus.commandBacklog().then(
          (backlog) => backlog.unacknowledged,
          () => 0,
        );
        if (holding < 2) await sleep(20);
      }
      const midBatch = index > 0 && (await ctx.stack.consumer.nextStart(5_000));
      const endedBefore = ctx.progress.ended.size;
      const hitAt = Date.now();
      ctx.stack.log.write(
        `[harness] killing the consumer ${midBatch ? 'as it starts' : 'while it holds'} a batch of ${holding} unacknowledged command(s)`,
      );
      await ctx.stack.consumer.kill('SIGKILL');
      await sleep(ctx.rng.int(200, 2_000));
      const { readyAt } = await ctx.stack.consumer.start();
      ctx.log.kill(FaultKind.ConsumerSigkill, hitAt, readyAt, endedBefore);
    });
  }
}

/** Publishes the scenario's invalid commands spread over the load (those left once it is over, at the end). */
export async function sendInvalidCommands(ctx: FaultContext): Promise<void> {
  const commands = ctx.commands;
  if (commands === undefined) return;
  const count = commands.invalid.length;
  for (let index = 0; index < count; index++) {
    await at(ctx, (index + 1) / (count + 1), 1_000);
    await commands.sendInvalid(index);
    ctx.log.count(FaultKind.InvalidCommand);
  }
}
