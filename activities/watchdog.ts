/**
 * Activities of the watchdog's sweep: each reads one source (Temporal's open runs, the ledger's clearing against the
 * runs, ended payments against the bank, the message bus) and reports what it found; then the findings are kept in
 * baton's database, counted as metrics, and each new one is mailed once to the operator address.
 */
import { activityInfo, heartbeat, metricMeter } from '@temporalio/activity';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import type { BankClient } from '../services/bank';
import { BankRejectedError } from '../services/bank';
import type { MessageBus } from '../services/bus';
import { COMMAND_CONSUMER, STREAMS } from '../services/bus';
import type { Ledger, Transfer } from '../services/ledger';
import type { Mailer } from '../services/mail';
import type { FindingRecord, FindingStore } from '../services/watchdog/findings';
import { formatMoney } from '../domain/money';
import { stepKey } from './payment';
import {
  PaymentStatus,
  paymentIdFromWorkflowId,
  paymentSearchAttributes,
  paymentWorkflowId,
} from '../workflows/payment-contract';
import type { PaymentState } from '../workflows/payment-contract';
import { paymentStatusQuery } from '../workflows/payment-contract';
import { paymentResolutionWorkflowId } from '../workflows/payment-resolution-contract';
import type { Resolution } from '../workflows/payment-resolution-contract';
import { RegistrationStatus, registrationSearchAttributes } from '../workflows/registration-contract';
import { FINDING_ACTIONS, FINDING_SOURCE, FindingKind, SweepSource } from '../workflows/watchdog-contract';
import type { Finding, SourceReport, StoredFinding, SweepSummary } from '../workflows/watchdog-contract';

/** How long each stage may take before the watchdog calls it stuck, and the other thresholds of a sweep. */
export interface WatchdogSettings {
  /** A payment at the bank, or a registration, running longer than this is stuck. */
  stuckAfterMs: number;
  /** An AML review waiting longer than this is overdue. */
  reviewOverdueMs: number;
  /** A workflow task or an activity on this attempt or later keeps failing. */
  maxAttempts: number;
  /** Ended payments are checked against the bank for this long after they ended. */
  bankWindowMs: number;
  /** Commands waiting for the consumer beyond this many are a backlog. */
  commandBacklog: number;
  /** Dead letters younger than this are open findings. */
  deadLetterWindowMs: number;
  /** Where each new finding is mailed; no mail when unset. */
  opsEmail?: string;
  /** The Temporal UI, for links in the alert mail. */
  uiUrl?: string;
}

/** The thresholds a sweep uses when nothing else is configured. */
export const DEFAULT_WATCHDOG_SETTINGS: WatchdogSettings = {
  stuckAfterMs: 2 * 60 * 60_000,
  reviewOverdueMs: 24 * 60 * 60_000,
  maxAttempts: 5,
  bankWindowMs: 24 * 60 * 60_000,
  commandBacklog: 100,
  deadLetterWindowMs: 24 * 60 * 60_000,
};

/** The services the sweep reads and writes, injected by the worker (or a test). */
export interface WatchdogServices {
  client: Client;
  ledger: Ledger;
  bank: BankClient;
  findings: FindingStore;
  mailer: Mailer;
  bus?: MessageBus;
  settings: WatchdogSettings;
}

/** Input of the recording activity: what each source reported. */
export interface RecordInput {
  reports: SourceReport[];
}

/** Describes and bank calls at once: enough to sweep thousands of runs in seconds, few enough to stay polite. */
const CONCURRENCY = 8;

/** Builds the watchdog's activities over the given services. */
export function createWatchdogActivities(services: WatchdogServices) {
  const { client, ledger, bank, findings, mailer, bus, settings } = services;
  const kindsOf = (source: SweepSource) =>
    Object.values(FindingKind).filter((kind) => FINDING_SOURCE[kind] === source);

  async function runFindings(run: WorkflowExecutionInfo, now: number): Promise<Finding[]> {
    const found: Finding[] = [];
    const businessId = businessIdOf(run.workflowId);
    const money = moneyOf(run);
    const description = await client.workflow.getHandle(run.workflowId, run.runId).describe();
    const task = description.raw.pendingWorkflowTask;
    if (task !== null && task !== undefined && (task.attempt ?? 0) >= settings.maxAttempts) {
      found.push({
        kind: FindingKind.WorkflowTaskFailing,
        businessId,
        since: timestampIso(task.originalScheduledTime) ?? run.startTime.toISOString(),
        summary: `${run.workflowId}: its workflow task failed ${task.attempt ?? 0} times in a row`,
        workflowId: run.workflowId,
        ...money,
      });
    }
    const retrying = (description.raw.pendingActivities ?? []).find(
      (activity) => (activity.attempt ?? 0) >= settings.maxAttempts,
    );
    if (retrying) {
      // Failure messages are encrypted with the payloads: the client's converter reads them back.
      const failure =
        (
          await decodeOptionalFailureToOptionalError(
            client.workflow.options.loadedDataConverter,
            retrying.lastFailure,
          )
        )?.message ?? 'no failure recorded';
      found.push({
        kind: FindingKind.ActivityRetrying,
        businessId,
        since: timestampIso(retrying.scheduledTime) ?? run.startTime.toISOString(),
        summary:
          `${run.workflowId}: activity ${retrying.activityType?.name ?? '?'} on attempt ${retrying.attempt ?? 0}` +
          ` (last failure: ${oneLine(failure)})`,
        workflowId: run.workflowId,
        ...money,
      });
    }
    const age = now - run.startTime.getTime();
    if (run.type === 'registrationWorkflow' && age >= settings.stuckAfterMs) {
      found.push({
        kind: FindingKind.RegistrationStuck,
        businessId,
        since: run.startTime.toISOString(),
        summary: `${run.workflowId} has been running since ${run.startTime.toISOString()}`,
        workflowId: run.workflowId,
      });
    }
    if (run.type === 'paymentWorkflow') found.push(...(await paymentStageFindings(run, now, money)));
    return found;
  }

  async function paymentStageFindings(
    run: WorkflowExecutionInfo,
    now: number,
    money: Pick<Finding, 'amountMinor' | 'currency'>,
  ): Promise<Finding[]> {
    const status = run.typedSearchAttributes.get(paymentSearchAttributes.status);
    const threshold =
      status === PaymentStatus.Submitted
        ? settings.stuckAfterMs
        : status === PaymentStatus.AwaitingAmlReview
          ? settings.reviewOverdueMs
          : status === PaymentStatus.NeedsAttention
            ? 0
            : undefined;
    // A run cannot have been in a stage longer than it has run: young runs are not even asked.
    if (threshold === undefined || now - run.startTime.getTime() < threshold) return [];
    const since = await stageEnteredAt(run, status ?? '');
    if (now - Date.parse(since) < threshold) return [];
    const paymentId = businessIdOf(run.workflowId);
    const amount =
      money.amountMinor !== undefined && money.currency !== undefined
        ? ` (${formatMoney(money.amountMinor, money.currency)})`
        : '';
    const kind =
      status === PaymentStatus.Submitted
        ? FindingKind.PaymentStuck
        : status === PaymentStatus.AwaitingAmlReview
          ? FindingKind.ReviewOverdue
          : FindingKind.PaymentNeedsAttention;
    return [
      {
        kind,
        businessId: paymentId,
        since,
        summary: `payment ${paymentId}${amount} has been ${status ?? '?'} since ${since}`,
        workflowId: run.workflowId,
        ...money,
      },
    ];
  }

  /** When the run's payment entered `status`, from its own record of steps; its start when that cannot be read. */
  async function stageEnteredAt(run: WorkflowExecutionInfo, status: string): Promise<string> {
    try {
      const state = await client.workflow.getHandle(run.workflowId, run.runId).query(paymentStatusQuery);
      const step = [...state.steps].reverse().find((s) => s.name === status);
      if (step !== undefined) return step.at;
    } catch {
      // No worker answered the query: the start is the earliest the stage could have begun.
    }
    return run.startTime.toISOString();
  }

  /** Whether the payment's run is still open: only a run that ended (or is gone) leaves its money for nobody. */
  async function runOf(paymentId: string): Promise<{ open: true } | { open: false; how: string }> {
    try {
      const { status } = await client.workflow.getHandle(paymentWorkflowId(paymentId)).describe();
      return status.name === 'RUNNING' ? { open: true } : { open: false, how: status.name };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { open: false, how: 'MISSING' };
      throw err;
    }
  }

  async function resolutionRunning(paymentId: string): Promise<boolean> {
    try {
      const { status } = await client.workflow.getHandle(paymentResolutionWorkflowId(paymentId)).describe();
      return status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  const heldDebits = () =>
    ledger.heldInClearing({ keySuffix: stepKey('', 'debit'), closedBySuffix: stepKey('', 'settlement') });

  /** What the bank says of a reference now; `unknown` when it has no such payment. */
  async function bankStatusOf(reference: string): Promise<string> {
    try {
      return (await bank.getPaymentStatus(reference)).status;
    } catch (err) {
      if (err instanceof BankRejectedError && err.httpStatus === 404) return 'unknown';
      throw err;
    }
  }

  /** How the ledger ended a payment's debit: settled, reversed, or not at all (no debit, or still held). */
  async function ledgerOutcome(paymentId: string): Promise<'settled' | 'reversed' | undefined> {
    const [settlement, reversal] = await Promise.all([
      ledger.getTransferByKey(stepKey(paymentId, 'settlement')),
      ledger.getTransferByKey(stepKey(paymentId, 'debit-reversal')),
    ]);
    if (settlement !== undefined) return 'settled';
    return reversal !== undefined ? 'reversed' : undefined;
  }

  /** Ended payments of the window and the bank reference each one held, from their runs' results. */
  async function endedPayments(
    now: number,
  ): Promise<Map<string, { reference?: string; workflowId: string }>> {
    const after = new Date(now - settings.bankWindowMs).toISOString();
    const ended = new Map<string, { reference?: string; workflowId: string }>();
    const query = (type: string) =>
      `WorkflowType = '${type}' AND ExecutionStatus = 'Completed' AND CloseTime > '${after}'`;
    for await (const run of client.workflow.list({ query: query('paymentWorkflow') })) {
      const paymentId = paymentIdFromWorkflowId(run.workflowId);
      if (paymentId !== undefined) ended.set(paymentId, { workflowId: run.workflowId });
    }
    for await (const run of client.workflow.list({ query: query('paymentResolutionWorkflow') })) {
      const paymentId = run.workflowId.replace(/^payment-resolution:/, '');
      ended.set(paymentId, { workflowId: run.workflowId });
    }
    return ended;
  }

  async function referenceOf(workflowId: string): Promise<string | undefined> {
    const result: unknown = await client.workflow.getHandle(workflowId).result();
    if (workflowId.startsWith('payment-resolution:')) return (result as Resolution).bankReference;
    return (result as PaymentState).bank?.reference;
  }

  return {
    /** Open runs against their stage's expected time, and runs whose task or activity keeps failing. */
    async sweepRuns(): Promise<SourceReport> {
      const now = Date.now();
      // Every open run on baton's task queue, whatever its type: a run whose type no worker knows fails its task too.
      const query = `ExecutionStatus = 'Running' AND TaskQueue = '${activityInfo().taskQueue}'`;
      const runs: WorkflowExecutionInfo[] = [];
      for await (const run of client.workflow.list({ query })) runs.push(run);
      gaugeOpenRuns(runs);
      const found = await inBatches(runs, (run) => runFindings(run, now).catch(ignoreGone));
      return { source: SweepSource.Runs, read: true, findings: found.flat(), examined: runs.length };
    },

    /** Money held in clearing whose payment run ended or is gone: nothing but an operator will end it. */
    async sweepOrphans(): Promise<SourceReport> {
      const held = await heldDebits();
      const closed = new Map<string, { how: string; debit: Transfer }>();
      await inBatches(held, async (debit) => {
        const paymentId = debit.idempotencyKey.slice(0, -stepKey('', 'debit').length);
        const run = await runOf(paymentId);
        if (!run.open) closed.set(paymentId, { how: run.how, debit });
      });
      // Read again after the runs: a run that ended normally between the two reads had settled or reversed first.
      const stillHeld = new Set((await heldDebits()).map((t) => t.id));
      const found: Finding[] = [];
      for (const [paymentId, { how, debit }] of closed) {
        if (!stillHeld.has(debit.id)) continue;
        const resolving = await resolutionRunning(paymentId);
        found.push({
          kind: FindingKind.OrphanedDebit,
          businessId: paymentId,
          since: debit.createdAt,
          summary:
            `payment ${paymentId}: ${formatMoney(debit.amountMinor, debit.currency)} held in ${debit.toAccountId} ` +
            `and its run is ${how === 'MISSING' ? 'gone' : how.toLowerCase().replace(/_/g, ' ')}` +
            (resolving ? '; a resolution is running' : ''),
          workflowId: paymentWorkflowId(paymentId),
          amountMinor: debit.amountMinor,
          currency: debit.currency,
        });
      }
      return { source: SweepSource.Orphans, read: true, findings: found, examined: held.length };
    },

    /** Payments that ended in the window, their bank's status now against how the ledger ended them. */
    async sweepBank(): Promise<SourceReport> {
      const ended = await endedPayments(Date.now());
      const agreed = await findings.reconciledPayments([...ended.keys()]);
      const toCheck = [...ended].filter(([paymentId]) => !agreed.has(paymentId));
      const found = await inBatches(toCheck, async ([paymentId, { workflowId }]): Promise<Finding[]> => {
        heartbeat();
        const booked = await ledgerOutcome(paymentId);
        const reference = booked === undefined ? undefined : await referenceOf(workflowId);
        // Nothing booked, or never at the bank (rejected, cancelled): there is no bank status to hold it against.
        if (booked === undefined || reference === undefined) return [];
        const bankStatus = await bankStatusOf(reference);
        if (bankStatus === 'pending') return [];
        const bankPaid = bankStatus === 'settled';
        if (bankPaid === (booked === 'settled')) {
          await findings.recordReconciled({ paymentId, bankStatus, ledger: booked });
          return [];
        }
        const debit = await ledger.getTransferByKey(stepKey(paymentId, 'debit'));
        return [
          {
            kind: FindingKind.BankDisagreement,
            businessId: paymentId,
            since: new Date().toISOString(),
            summary:
              `payment ${paymentId}${debit === undefined ? '' : ` (${formatMoney(debit.amountMinor, debit.currency)})`}` +
              `: the bank says ${bankStatus} (${reference}) but the ledger ${booked === 'settled' ? 'settled' : 'reversed'} it`,
            workflowId,
            ...(debit === undefined ? {} : { amountMinor: debit.amountMinor, currency: debit.currency }),
          },
        ];
      });
      return { source: SweepSource.Bank, read: true, findings: found.flat(), examined: toCheck.length };
    },

    /** Commands waiting for the consumer, and dead letters of the window. */
    async sweepBus(): Promise<SourceReport> {
      if (bus === undefined)
        return { source: SweepSource.Bus, read: false, error: 'no message bus configured' };
      const found: Finding[] = [];
      const backlog = await bus.commandBacklog();
      const waiting = backlog.pending + backlog.unacknowledged;
      metricMeter
        .createGauge(
          'baton_commands_waiting',
          'int',
          '',
          'Commands on the bus the consumer has not acknowledged',
        )
        .set(waiting);
      if (waiting > settings.commandBacklog) {
        found.push({
          kind: FindingKind.CommandBacklog,
          businessId: COMMAND_CONSUMER,
          since: new Date().toISOString(),
          summary: `${waiting} commands wait for ${COMMAND_CONSUMER} (${backlog.unacknowledged} taken, not yet acknowledged)`,
        });
      }
      const after = Date.now() - settings.deadLetterWindowMs;
      let examined = 0;
      for await (const message of bus.read(STREAMS.deadLetters)) {
        examined += 1;
        if (message.time.getTime() < after) continue;
        const letter = deadLetterSchema.safeParse(parseJson(message.body));
        const id = letter.success ? letter.data.id : `${STREAMS.deadLetters}:${message.sequence}`;
        found.push({
          kind: FindingKind.DeadLetter,
          businessId: id,
          since: message.time.toISOString(),
          summary: letter.success
            ? `a command on ${letter.data.data.commandSubject} was dead-lettered: ${oneLine(letter.data.data.reason)}`
            : `dead letter #${message.sequence} on ${message.subject}`,
        });
      }
      return { source: SweepSource.Bus, read: true, findings: found, examined };
    },

    /** Keeps the sweep's findings: opens new ones, closes those whose cause is gone, counts what is open. */
    async recordFindings({ reports }: RecordInput): Promise<SweepSummary> {
      const read = reports.filter((r): r is Extract<SourceReport, { read: true }> => r.read);
      const kinds = read.flatMap((r) => kindsOf(r.source));
      const result = await findings.reconcile(
        kinds,
        read.flatMap((r) => r.findings.map((f) => ({ ...f, severity: FINDING_ACTIONS[f.kind].severity }))),
      );
      const open = await findings.listOpen();
      const counts: Partial<Record<FindingKind, number>> = {};
      for (const finding of open) {
        const kind = finding.kind as FindingKind;
        counts[kind] = (counts[kind] ?? 0) + 1;
      }
      // One gauge per kind, zero included, so an alert rule sees a kind go back to nothing.
      const gauge = metricMeter.createGauge(
        'baton_watchdog_open_findings',
        'int',
        '',
        'open watchdog findings by kind',
      );
      for (const kind of Object.values(FindingKind)) gauge.set(counts[kind] ?? 0, { kind });
      return {
        sweptAt: new Date().toISOString(),
        open: counts,
        opened: result.opened.length,
        closed: result.closed.length,
        alerted: 0,
        unreadable: reports.flatMap((r) => (r.read ? [] : [{ source: r.source, error: r.error }])),
      };
    },

    /** Mails each open finding the operator address has not been told of, once: its Message-ID is the finding's. */
    async alertOperators(): Promise<{ alerted: number }> {
      const to = settings.opsEmail;
      if (to === undefined) return { alerted: 0 };
      let alerted = 0;
      for (const finding of await findings.listUnalerted()) {
        heartbeat();
        await mailer.send({
          to,
          message: alertMessage(toStoredFinding(finding), settings.uiUrl),
          idempotencyKey: `watchdog-finding:${finding.id}`,
        });
        await findings.markAlerted(finding.id);
        alerted += 1;
      }
      return { alerted };
    },
  };
}

/** The watchdog activities, as the workflow sees their types. */
export type WatchdogActivities = ReturnType<typeof createWatchdogActivities>;

/** A stored finding with its kind's severity and action, as `stuck` shows it. */
export function toStoredFinding(record: FindingRecord): StoredFinding {
  const kind = record.kind as FindingKind;
  return {
    ...record,
    kind,
    severity: record.severity,
    action: FINDING_ACTIONS[kind]?.action ?? 'look at it',
  };
}

function alertMessage(finding: StoredFinding, uiUrl: string | undefined) {
  return {
    kind: 'ops_alert' as const,
    name: 'operator',
    findingId: finding.id,
    findingKind: finding.kind,
    severity: finding.severity,
    businessId: finding.businessId,
    since: finding.since,
    summary: finding.summary,
    action: finding.action,
    ...(finding.workflowId === undefined || uiUrl === undefined
      ? {}
      : {
          link: `${uiUrl.replace(/\/+$/, '')}/namespaces/default/workflows/${encodeURIComponent(finding.workflowId)}`,
        }),
  };
}

const deadLetterSchema = z.object({
  id: z.string(),
  data: z.object({ reason: z.string(), commandSubject: z.string() }),
});

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

/** The business id in a workflow id (`payment:p-1` => `p-1`); the workflow id itself when it has none. */
function businessIdOf(workflowId: string): string {
  const colon = workflowId.indexOf(':');
  return colon < 0 ? workflowId : workflowId.slice(colon + 1);
}

function moneyOf(run: WorkflowExecutionInfo): Pick<Finding, 'amountMinor' | 'currency'> {
  const amountMinor = run.typedSearchAttributes.get(paymentSearchAttributes.amount);
  const currency = run.typedSearchAttributes.get(paymentSearchAttributes.currency);
  return amountMinor === undefined || currency === undefined ? {} : { amountMinor, currency };
}

function timestampIso(
  value: { seconds?: unknown; nanos?: number | null } | null | undefined,
): string | undefined {
  if (value === null || value === undefined || value.seconds === undefined || value.seconds === null)
    return undefined;
  return new Date(Number(value.seconds) * 1000 + Math.floor((value.nanos ?? 0) / 1e6)).toISOString();
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= 160 ? flat : `${flat.slice(0, 159)}…`;
}

/** A run that ended (or vanished) while it was being looked at has nothing to report. */
function ignoreGone(err: unknown): Finding[] {
  if (err instanceof WorkflowNotFoundError) return [];
  throw err;
}

/** Maps `items` through `fn`, {@link CONCURRENCY} at a time, in order. */
async function inBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    heartbeat();
    results.push(...(await Promise.all(items.slice(i, i + CONCURRENCY).map(fn))));
  }
  return results;
}

/**
 * Open runs by workflow type and the status their search attribute shows, every known status set (zero included),
 * so a dashboard sees reviews waiting or payments at the bank, and an alert sees them go back to none.
 */
function gaugeOpenRuns(runs: readonly WorkflowExecutionInfo[]): void {
  const counts = new Map<string, number>();
  const key = (type: string, status: string) => `${type}\u0000${status}`;
  for (const run of runs) {
    const status =
      run.type === 'paymentWorkflow'
        ? run.typedSearchAttributes.get(paymentSearchAttributes.status)
        : run.type === 'registrationWorkflow'
          ? run.typedSearchAttributes.get(registrationSearchAttributes.status)
          : undefined;
    if (status === undefined) continue;
    counts.set(key(run.type, status), (counts.get(key(run.type, status)) ?? 0) + 1);
  }
  const gauge = metricMeter.createGauge(
    'baton_runs_open',
    'int',
    '',
    'Open payment and registration runs by the status they are in',
  );
  const known: [string, readonly string[]][] = [
    ['paymentWorkflow', Object.values(PaymentStatus)],
    ['registrationWorkflow', Object.values(RegistrationStatus)],
  ];
  for (const [type, statuses] of known) {
    for (const status of statuses) {
      gauge.set(counts.get(key(type, status)) ?? 0, { workflow_type: type, status });
    }
  }
}
