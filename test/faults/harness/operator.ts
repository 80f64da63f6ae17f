/**
 * Operators acting on payment runs under load, as they would from the Temporal UI or CLI: terminating runs before the
 * debit, at the bank and as they settle; resetting runs to their first workflow task or to just after the debit;
 * Temporal-cancelling runs before and after their submission. The desk keeps the ground truth of what it did to which
 * payment, so the checks know which runs were ended on purpose; then it asks the watchdog for the orphaned debits,
 * compares them with that truth, ends each orphan with baton's own `resolve`, and asks the watchdog again.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { CancelledFailure, TerminatedFailure, WorkflowFailedError } from '@temporalio/client';
import { z } from 'zod';
import { paymentStatusQuery, PaymentStatus } from '../../../workflows/payment-contract';
import type { PaymentState } from '../../../workflows/payment-contract';
import { runCli } from '../../support/cli';
import type { CliRun } from '../../support/cli';
import type { LoadPlan, PlannedPayment } from './load';
import { OperatorAction } from './load';
import type { Rng } from './random';
import { sleep } from './random';
import type { FaultStack } from './stack';
import { activitiesRun } from '../../support/history';

/** How many payments get each operator action. */
export type OperatorMix = Record<OperatorAction, number>;

/** How a payment's last run ended, as the desk followed it after acting on it. */
export type OperatedEnd =
  | { kind: 'terminated' }
  | { kind: 'cancelled' }
  | { kind: 'completed'; status: string }
  | { kind: 'failed'; detail: string }
  /** Still open at the desk's deadline. */
  | { kind: 'open' };

/** What the desk did to one payment: the ground truth the checks read. */
export interface OperatedPayment {
  paymentId: string;
  workflowId: string;
  action: OperatorAction;
  tool: 'client' | 'temporal-cli';
  /** False when the run had already gone past the point the action needs; it is then an ordinary payment. */
  done: boolean;
  /** Why it was not done. */
  skipped?: string;
  /** The payment's status (from its query) when the operator acted. */
  statusWhenActed?: string;
  /** The run ids reset created, oldest first. */
  resetRunIds: string[];
  end?: OperatedEnd;
}

/** How a resolution through `npm run client -- resolve` went for one orphan. */
export interface ResolutionAttempt {
  paymentId: string;
  /** `settled` or `reversed` when the CLI resolved it; otherwise the last refusal. */
  outcome?: string;
  refusals: string[];
}

/**
 * What operators did to a scenario's runs, for its checks: they then expect a terminated run to be terminated, its
 * money to follow the bank (settled or reversed, by resolution when the run could not), and a cancelled one to be
 * cancelled with nothing left moved.
 */
export interface OperatorTruth {
  /** Each payment an operator acted on, by payment id; only those with `done` change what is expected. */
  operated: ReadonlyMap<string, OperatedPayment>;
  /** Each orphan's resolution through the CLI, by payment id. */
  resolutions: ReadonlyMap<string, ResolutionAttempt>;
  /** The orphans the harness knew of, and what the watchdog said; `found` is null when it could not be asked. */
  orphans: {
    expected: readonly string[];
    found: readonly string[] | null;
    /** The watchdog's other findings after the load, as `kind businessId`: none is expected once every run ended. */
    otherFindings: readonly string[];
    openAfterResolution: number | null;
  };
}

/** What the watchdog answered, or why it could not be asked. */
export type WatchdogView =
  | { available: false; detail: string }
  | { available: true; orphans: string[]; others: string[]; open: Record<string, number> };

/** The scenario's figures about the operators: what they did, and the orphans they left. */
export interface OperatorReport {
  /** Actions carried out, by kind (`terminate_at_bank`...), and by tool. */
  actions: Record<string, number>;
  byTool: Record<string, number>;
  /** Planned actions the run raced past. */
  skipped: number;
  orphans: {
    /** Terminated payments whose debit sat in clearing with neither settlement nor reversal. */
    expected: number;
    /** `orphaned_debit` findings the watchdog reported; null when it could not be asked. */
    found: number | null;
    /** Expected and not found. */
    missed: string[];
    /** Found and not an orphan, and any other finding (`kind businessId`): every run but the orphans has ended. */
    falseAlarms: string[];
    /** Ended by `resolve` through the CLI. */
    resolved: number;
    /** Resolved by outcome: settled, reversed. */
    resolvedAs: Record<string, number>;
    /** Refusals met on the way, by type (bank_pending is retried). */
    refusals: Record<string, number>;
    /** Orphans the CLI refused as bank_reference_unknown: a person must ask the bank by payment id. */
    needsPerson: string[];
    /** `orphaned_debit` findings still open after the resolutions and a second sweep; null when not asked. */
    openAfterResolution: number | null;
  };
  /** Open findings by kind after the first sweep and after the one that follows the resolutions. */
  watchdog: {
    available: boolean;
    detail?: string;
    openBefore?: Record<string, number>;
    openAfter?: Record<string, number>;
  };
}

const execFileAsync = promisify(execFile);
/** Longest the desk follows one payment after acting on it; a reset run that waits at the bank polls within ~20 s. */
const FOLLOW_DEADLINE_MS = 4 * 60_000;
/** Longest the desk waits for a run to reach the point where its action strikes. */
const REACH_DEADLINE_MS = 90_000;
/** How long the bank takes to decide the payment it is still deciding when the operator resolves it. */
const BANK_STILL_DECIDING_MS = 60_000;
/** Longest the desk retries `resolve` on a bank that has no final status yet. */
const RESOLVE_DEADLINE_MS = 90_000;

/**
 * Chooses the payments each action strikes and sets up the bank for them, before the load starts: the ones acted on
 * at the bank have their webhook held, so the run waits there (15 s, then it polls) while the operator acts.
 */
export function planOperatorActions(plan: LoadPlan, rng: Rng, mix: OperatorMix): void {
  const reviews = rng.shuffle(plan.payments.filter((p) => p.kind === 'review'));
  const bound = rng.shuffle(
    plan.payments.filter((p) => p.kind === 'settle' || p.kind === 'fail' || p.kind === 'return'),
  );
  const take = (from: PlannedPayment[], n: number, action: OperatorAction) => {
    const chosen = from.splice(0, n);
    if (chosen.length < n) throw new Error(`the load has too few payments for ${n} x ${action}`);
    // Every third one through the Temporal CLI, as an operator at a terminal would.
    chosen.forEach((p, i) => (p.operator = { action, tool: i % 3 === 1 ? 'temporal-cli' : 'client' }));
    return chosen;
  };
  take(reviews, mix.terminate_before_debit, OperatorAction.TerminateBeforeDebit);
  take(reviews, mix.cancel_awaiting_review, OperatorAction.CancelAwaitingReview);
  for (const [i, p] of take(bound, mix.terminate_at_bank, OperatorAction.TerminateAtBank).entries()) {
    // Half are terminated while the bank still works on them; the first one the bank decides only a minute after
    // it took it, about when the load is over, so `resolve` hears "bank_pending" and must ask again.
    const pending = i === 0 || rng.int(0, 1) === 1;
    const delayMs = i === 0 ? BANK_STILL_DECIDING_MS : rng.int(4_000, 8_000);
    p.bank = { ...p.bank, holdWebhook: true, ...(pending ? { delayMs } : {}) };
  }
  for (const action of [
    OperatorAction.TerminateAtSettlement,
    OperatorAction.ResetToFirstTask,
    OperatorAction.ResetAfterDebit,
    OperatorAction.CancelAtBank,
  ]) {
    for (const p of take(bound, mix[action], action)) p.bank = { ...p.bank, holdWebhook: true };
  }
  take(bound, mix.reset_to_first_task_after_end, OperatorAction.ResetAfterEnd);
  for (const p of take(bound, mix.cancel_while_submitting, OperatorAction.CancelWhileSubmitting)) {
    // The first submissions are answered 500: the run retries them (1, 2, 4 s...) while the cancel comes.
    p.bank = { ...p.bank, failSubmits: rng.int(3, 4) };
  }
}

/** Acts on the planned payments as each is accepted, and keeps what it did. */
export class OperatorDesk {
  private readonly records = new Map<string, OperatedPayment>();
  private readonly tasks: Promise<void>[] = [];

  constructor(
    private readonly stack: FaultStack,
    private readonly rng: Rng,
  ) {}

  /** Called as the load has a payment accepted: the operator's work on it starts. */
  accepted(payment: PlannedPayment): void {
    const { operator } = payment;
    if (operator === undefined) return;
    const record: OperatedPayment = {
      paymentId: payment.id,
      workflowId: payment.workflowId,
      action: operator.action,
      tool: operator.tool,
      done: false,
      resetRunIds: [],
    };
    this.records.set(payment.id, record);
    this.tasks.push(
      this.act(record).catch((err: unknown) => {
        record.skipped = `the operator failed: ${err instanceof Error ? err.message : String(err)}`;
        this.stack.log.write(`[operator] ${payment.id}: ${record.skipped}`);
      }),
    );
  }

  /** Resolves once every action is done and each payment acted on has ended (or the follow deadline passed). */
  async finished(): Promise<OperatedPayment[]> {
    await Promise.all(this.tasks);
    return [...this.records.values()];
  }

  /** The payments acted on so far, by payment id. */
  get operated(): ReadonlyMap<string, OperatedPayment> {
    return this.records;
  }

  private handle(workflowId: string): WorkflowHandle {
    return this.stack.client.workflow.getHandle(workflowId);
  }

  private async act(record: OperatedPayment): Promise<void> {
    const { stack, rng } = this;
    const { paymentId } = record;
    const log = (line: string) => stack.log.write(`[operator] ${paymentId} (${record.action}): ${line}`);
    let reached: PaymentState | undefined;
    switch (record.action) {
      case OperatorAction.TerminateBeforeDebit:
      case OperatorAction.CancelAwaitingReview:
        reached = await this.reach(record, (s) => s.status === PaymentStatus.AwaitingAmlReview);
        break;
      case OperatorAction.CancelWhileSubmitting:
        reached = await this.reach(
          record,
          (s) => s.status === PaymentStatus.Submitted && s.bank?.reference === undefined,
        );
        break;
      case OperatorAction.TerminateAtBank:
        // Those the bank decides slowly are struck while it is still pending; the others once it decided.
        reached = await this.reach(
          record,
          (s) =>
            s.bank?.reference !== undefined &&
            (stack.bank.heldWebhooks().includes(paymentId) ||
              stack.bank.payments().some((p) => p.paymentId === paymentId && p.status === 'pending')),
        );
        break;
      case OperatorAction.TerminateAtSettlement:
      case OperatorAction.ResetToFirstTask:
      case OperatorAction.ResetAfterDebit:
      case OperatorAction.CancelAtBank:
        reached = await this.reach(
          record,
          (s) => s.bank?.reference !== undefined && stack.bank.heldWebhooks().includes(paymentId),
        );
        break;
      case OperatorAction.ResetAfterEnd:
        reached = await this.ended(record);
        break;
    }
    if (reached === undefined) return;
    record.statusWhenActed = reached.status;
    // A random moment within the wait, well inside the 15 s the run waits for its webhook before it polls.
    await sleep(rng.int(0, 1_500));
    const reason = `fault suite: ${record.action}`;
    switch (record.action) {
      case OperatorAction.TerminateBeforeDebit:
      case OperatorAction.TerminateAtBank:
        await this.terminate(record, reason);
        break;
      case OperatorAction.TerminateAtSettlement:
        stack.bank.releaseWebhook(paymentId);
        await sleep(rng.int(0, 250));
        await this.terminate(record, reason);
        break;
      case OperatorAction.ResetToFirstTask:
      case OperatorAction.ResetAfterEnd:
        await this.reset(record, 'first', reason);
        break;
      case OperatorAction.ResetAfterDebit:
        await this.reset(record, 'after-debit', reason);
        break;
      case OperatorAction.CancelAwaitingReview:
      case OperatorAction.CancelWhileSubmitting:
      case OperatorAction.CancelAtBank:
        if (record.tool === 'temporal-cli') {
          await this.temporal('workflow', 'cancel', '--workflow-id', record.workflowId);
        } else {
          await this.handle(record.workflowId).cancel();
        }
        break;
    }
    record.done = true;
    log(`done at ${reached.status}`);
    // The runs that wait at the bank get their final status now, through the new run where there is one.
    if (record.action !== OperatorAction.TerminateAtBank && stack.bank.heldWebhooks().includes(paymentId)) {
      await sleep(rng.int(200, 1_200));
      stack.bank.releaseWebhook(paymentId);
    }
    record.end = await this.follow(record.workflowId);
    log(`ended ${JSON.stringify(record.end)}`);
  }

  /** Polls the payment's state until `there` holds; undefined (the action skipped) when the run ended first. */
  private async reach(
    record: OperatedPayment,
    there: (state: PaymentState) => boolean,
  ): Promise<PaymentState | undefined> {
    const deadline = Date.now() + REACH_DEADLINE_MS;
    const handle = this.handle(record.workflowId);
    while (Date.now() < deadline) {
      const state = await handle.query(paymentStatusQuery).catch(() => undefined);
      if (state !== undefined && there(state)) return state;
      const final: readonly string[] = [
        PaymentStatus.Settled,
        PaymentStatus.Failed,
        PaymentStatus.Rejected,
        PaymentStatus.Cancelled,
      ];
      if (state !== undefined && final.includes(state.status)) {
        record.skipped = `the run was ${state.status} before the operator could act`;
        return undefined;
      }
      await sleep(250);
    }
    record.skipped = 'the run never reached the point of the action';
    return undefined;
  }

  /** Waits until the run ended, and returns its last state. */
  private async ended(record: OperatedPayment): Promise<PaymentState | undefined> {
    const end = await this.follow(record.workflowId);
    if (end.kind !== 'completed') {
      record.skipped = `the run ended ${end.kind}, not completed`;
      return undefined;
    }
    return this.handle(record.workflowId)
      .query(paymentStatusQuery)
      .catch(() => undefined);
  }

  private async terminate(record: OperatedPayment, reason: string): Promise<void> {
    if (record.tool === 'temporal-cli') {
      await this.temporal('workflow', 'terminate', '--workflow-id', record.workflowId, '--reason', reason);
    } else {
      await this.handle(record.workflowId).terminate(reason);
    }
  }

  /**
   * Resets the run: to its first workflow task, or to the workflow task that completed right after its debit (the
   * new run keeps the debit's result and submits again; under the lean steps the debit's marker shares a task with
   * the submission, so the new run keeps that too and waits for the bank). The old run is terminated by the reset;
   * the new run has the same workflow id.
   */
  private async reset(record: OperatedPayment, to: 'first' | 'after-debit', reason: string): Promise<void> {
    const handle = this.handle(record.workflowId);
    const { runId } = await handle.describe();
    const history = await this.stack.client.workflow.getHandle(record.workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    const eventId = (e: (typeof events)[number]) => Number(e.eventId ?? 0);
    let after = 0;
    if (to === 'after-debit') {
      // A debit run as a local activity (the lean steps) is one marker, written once it completed.
      const debit = activitiesRun(history).find((activity) => activity.type === 'debitAccount');
      const completed = debit?.local
        ? events.find((e) => eventId(e) === debit.eventId)
        : events.find(
            (e) =>
              debit !== undefined &&
              Number(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === debit.eventId,
          );
      if (completed === undefined) throw new Error(`no completed debit in the history of ${runId}`);
      after = eventId(completed);
    }
    const task = events.find((e) => e.workflowTaskCompletedEventAttributes != null && eventId(e) > after);
    if (task === undefined) throw new Error(`no workflow task completed after event ${after} in ${runId}`);
    if (record.tool === 'temporal-cli') {
      const point = to === 'first' ? ['--type', 'FirstWorkflowTask'] : ['--event-id', String(eventId(task))];
      await this.temporal(
        'workflow',
        'reset',
        '--workflow-id',
        record.workflowId,
        '--run-id',
        runId,
        ...point,
        '--reason',
        reason,
      );
      record.resetRunIds.push((await handle.describe()).runId);
      return;
    }
    const answer = await this.stack.client.workflowService.resetWorkflowExecution({
      namespace: this.stack.temporalAddress.namespace,
      workflowExecution: { workflowId: record.workflowId, runId },
      reason,
      workflowTaskFinishEventId: task.eventId,
      requestId: randomUUID(),
    });
    record.resetRunIds.push(answer.runId ?? '');
  }

  /** Runs the Temporal CLI against the scenario's dev server; throws when it exits non-zero. */
  private temporal(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    const { address, namespace } = this.stack.temporalAddress;
    return execFileAsync(
      this.stack.temporalCliPath,
      [...args, '--address', address, '--namespace', namespace],
      { timeout: 60_000 },
    );
  }

  /** Follows the workflow id's latest run to its end. */
  private async follow(workflowId: string): Promise<OperatedEnd> {
    const deadline = Date.now() + FOLLOW_DEADLINE_MS;
    while (Date.now() < deadline) {
      try {
        const result: unknown = await this.handle(workflowId).result();
        const status =
          typeof result === 'object' && result !== null && 'status' in result ? String(result.status) : '?';
        return { kind: 'completed', status };
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          if (err.cause instanceof TerminatedFailure) return { kind: 'terminated' };
          if (err.cause instanceof CancelledFailure) return { kind: 'cancelled' };
          return { kind: 'failed', detail: err.cause?.message ?? err.message };
        }
        await sleep(1_000);
      }
    }
    return { kind: 'open' };
  }
}

const refusalSchema = z.object({ paymentId: z.string(), refused: z.string(), message: z.string() });
const resolutionSchema = z.object({ paymentId: z.string(), outcome: z.string() });
const findingSchema = z.object({ kind: z.string(), businessId: z.string() }).loose();

/** baton's CLI against the scenario's stack. */
function cli(stack: FaultStack, ...args: string[]): Promise<CliRun> {
  return runCli(stack.cliEnv, ...args);
}

/**
 * Runs one watchdog sweep now (`watchdog run --json`), then reads the open findings (`stuck --json`) and returns the
 * payment ids of the `orphaned_debit` ones. Unavailable while the CLI has no such commands.
 */
export async function askWatchdog(stack: FaultStack): Promise<WatchdogView> {
  const sweep = await cli(stack, 'watchdog', 'run', '--json');
  if (sweep.code === 2 && /unknown command/.test(sweep.stderr)) {
    return { available: false, detail: 'baton has no `watchdog run` command yet' };
  }
  if (sweep.code !== 0) throw new Error(`watchdog run exited ${sweep.code}: ${sweep.stderr}`);
  const stuck = await cli(stack, 'stuck', '--json');
  if (stuck.code !== 0) throw new Error(`stuck exited ${stuck.code}: ${stuck.stderr}`);
  const findings = z.array(findingSchema).parse(JSON.parse(stuck.stdout));
  const open: Record<string, number> = {};
  for (const f of findings) open[f.kind] = (open[f.kind] ?? 0) + 1;
  return {
    available: true,
    open,
    orphans: findings.filter((f) => f.kind === 'orphaned_debit').map((f) => f.businessId),
    others: findings.filter((f) => f.kind !== 'orphaned_debit').map((f) => `${f.kind} ${f.businessId}`),
  };
}

/**
 * Ends one orphan with `resolve <paymentId> --reviewer fault-suite --json`, as an operator would: a bank with no final
 * status yet (bank_pending) has its held webhook let go and is asked again until it decides; any other refusal is
 * final and kept.
 */
export async function resolveOrphan(stack: FaultStack, paymentId: string): Promise<ResolutionAttempt> {
  const attempt: ResolutionAttempt = { paymentId, refusals: [] };
  const deadline = Date.now() + RESOLVE_DEADLINE_MS;
  for (;;) {
    const run = await cli(stack, 'resolve', paymentId, '--reviewer', 'fault-suite', '--json');
    stack.log.write(
      `[operator] resolve ${paymentId} exited ${run.code}: ${run.stdout.trim()} ${run.stderr.trim()}`,
    );
    if (run.code === 0) {
      attempt.outcome = resolutionSchema.parse(JSON.parse(run.stdout)).outcome;
      return attempt;
    }
    const refused = refusalSchema.safeParse(safeJson(run.stdout));
    const refusal = refused.success ? refused.data.refused : `exit ${run.code}`;
    attempt.refusals.push(refusal);
    if (refusal !== 'bank_pending' || Date.now() > deadline) {
      attempt.outcome = `refused: ${refusal}`;
      return attempt;
    }
    stack.bank.releaseWebhook(paymentId);
    await sleep(2_000);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** At most this many CLI processes at once: each is a Node process with tsx, on a 2-core machine. */
const CLI_PARALLEL = 2;

/**
 * Once the load and the operators are done: finds the orphans (terminated runs whose debit sits in clearing with
 * neither settlement nor reversal) from the ledger, asks the watchdog for its own, resolves each through the CLI, and
 * asks the watchdog again.
 */
export async function endOrphans(
  stack: FaultStack,
  desk: OperatorDesk,
): Promise<{ truth: OperatorTruth; report: OperatorReport }> {
  const operated = await desk.finished();
  const keys = new Set((await stack.ledger.listTransfers()).map((t) => t.idempotencyKey));
  const expected = operated
    .filter(
      (op) =>
        op.done &&
        op.end?.kind === 'terminated' &&
        keys.has(`${op.paymentId}:debit`) &&
        !keys.has(`${op.paymentId}:settlement`) &&
        !keys.has(`${op.paymentId}:debit-reversal`),
    )
    .map((op) => op.paymentId)
    .sort();
  stack.log.write(`[operator] orphans the harness expects: ${expected.join(', ')}`);

  const first = await askWatchdog(stack);
  const found = first.available ? [...new Set(first.orphans)].sort() : null;
  stack.log.write(
    first.available
      ? `[operator] the watchdog found orphans: ${(found ?? []).join(', ')}`
      : `[operator] watchdog not asked: ${first.detail}`,
  );

  // Every orphan the watchdog reports is resolved as an operator would, and every one the harness knows of besides,
  // so a watchdog that misses one fails its own check, not every check after it.
  const queue = [...new Set([...(found ?? []), ...expected])];
  const resolutions = new Map<string, ResolutionAttempt>();
  await Promise.all(
    Array.from({ length: CLI_PARALLEL }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        resolutions.set(id, await resolveOrphan(stack, id));
      }
    }),
  );

  let openAfterResolution: number | null = null;
  let openAfter: Record<string, number> | undefined;
  if (first.available) {
    const second = await askWatchdog(stack);
    if (second.available) {
      openAfterResolution = second.orphans.length;
      openAfter = second.open;
    }
  }

  const truth: OperatorTruth = {
    operated: new Map(operated.map((op) => [op.paymentId, op])),
    resolutions: new Map(
      [...resolutions].filter(([, r]) => r.outcome === 'settled' || r.outcome === 'reversed'),
    ),
    orphans: { expected, found, otherFindings: first.available ? first.others : [], openAfterResolution },
  };
  const count = (items: string[]) =>
    items.reduce<Record<string, number>>((acc, item) => ({ ...acc, [item]: (acc[item] ?? 0) + 1 }), {});
  const done = operated.filter((op) => op.done);
  const attempts = [...resolutions.values()];
  const resolved = attempts.filter((r) => r.outcome === 'settled' || r.outcome === 'reversed');
  const report: OperatorReport = {
    actions: count(done.map((op) => op.action)),
    byTool: count(done.map((op) => op.tool)),
    skipped: operated.length - done.length,
    orphans: {
      expected: expected.length,
      found: found === null ? null : found.length,
      missed: found === null ? [] : expected.filter((id) => !found.includes(id)),
      falseAlarms:
        found === null
          ? []
          : [...found.filter((id) => !expected.includes(id)), ...(first.available ? first.others : [])],
      resolved: resolved.length,
      resolvedAs: count(resolved.map((r) => r.outcome ?? '?')),
      refusals: count(attempts.flatMap((r) => r.refusals)),
      needsPerson: attempts
        .filter((r) => r.refusals.includes('bank_reference_unknown'))
        .map((r) => r.paymentId),
      openAfterResolution,
    },
    watchdog: first.available
      ? { available: true, openBefore: first.open, ...(openAfter === undefined ? {} : { openAfter }) }
      : { available: false, detail: first.detail },
  };
  return { truth, report };
}
