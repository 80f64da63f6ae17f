/**
 * The public contract of the watchdog: the schedule and workflow ids, the kinds of finding with what an operator
 * should do about each, and the shapes the workflow, its activities, the CLI and the tests share. Free of I/O.
 */

/** Revision of the watchdog workflow's code, as its replay fixtures are named (`watchdog-sweep.v1.json`). */
export const WATCHDOG_REVISION = 'v1';

/** Id of the Temporal Schedule that starts a sweep every interval; each sweep's workflow id starts with it. */
export const WATCHDOG_SCHEDULE_ID = 'baton-watchdog';

/** Workflow id of a sweep started by hand (`watchdog run`), apart from the schedule's own. */
export function manualSweepWorkflowId(startedAt: Date): string {
  return `${WATCHDOG_SCHEDULE_ID}-manual-${startedAt.toISOString()}`;
}

/** What the watchdog can find. Each kind's action, in {@link FINDING_ACTIONS}, says what an operator should do. */
export const FindingKind = {
  /** A payment at the bank for longer than the bank should take, with its run still waiting. */
  PaymentStuck: 'payment_stuck',
  /** A payment whose bank never answered, even when asked: its run waits for an operator. */
  PaymentNeedsAttention: 'payment_needs_attention',
  /** A payment waiting for a compliance officer's AML review for longer than the review threshold. */
  ReviewOverdue: 'review_overdue',
  /** A registration still running past the time one takes. */
  RegistrationStuck: 'registration_stuck',
  /** A run whose workflow task keeps failing (a bug or a nondeterminism): it makes no progress at all. */
  WorkflowTaskFailing: 'workflow_task_failing',
  /** An activity retrying past the attempt threshold: the service behind it keeps failing. */
  ActivityRetrying: 'activity_retrying',
  /** Money in clearing whose payment run is closed (terminated, timed out, failed) or missing: nothing will end it. */
  OrphanedDebit: 'orphaned_debit',
  /** The bank's status of a payment contradicts the ledger (settled at one, reversed at the other). */
  BankDisagreement: 'bank_disagreement',
  /** Commands waiting on the bus for the command consumer past the backlog threshold. */
  CommandBacklog: 'command_backlog',
  /** A command that was refused or could not be handled, kept on the dead-letter stream. */
  DeadLetter: 'dead_letter',
} as const;
/** One of {@link FindingKind}. */
export type FindingKind = (typeof FindingKind)[keyof typeof FindingKind];

/** How urgent a finding is: `critical` when money is wrong or stranded, `warning` when a process is slow. */
export type FindingSeverity = 'critical' | 'warning';

/** Each kind's severity and the action an operator should take, as `stuck` prints it and the alert email says it. */
export const FINDING_ACTIONS: Readonly<Record<FindingKind, { severity: FindingSeverity; action: string }>> = {
  payment_stuck: {
    severity: 'warning',
    action: 'ask the bank for the final status; the run takes it as a webhook, or polls on its own deadline',
  },
  payment_needs_attention: {
    severity: 'warning',
    action: 'find the final status with the bank; the run re-asks it on its own, then settles or reverses',
  },
  review_overdue: {
    severity: 'warning',
    action:
      'a compliance officer decides: npm run client -- review <paymentId> approve|reject --reviewer <name>',
  },
  registration_stuck: {
    severity: 'warning',
    action: 'look at the run in the UI: its pending activity says which service it waits for',
  },
  workflow_task_failing: {
    severity: 'critical',
    action:
      'read the task failure in the UI; fix the code and deploy (or reset the run past the failing task)',
  },
  activity_retrying: {
    severity: 'warning',
    action: 'fix the service the activity calls (its last failure names it); the run goes on by itself',
  },
  orphaned_debit: {
    severity: 'critical',
    action: 'end it by what the bank says: npm run client -- resolve <paymentId> --reviewer <name>',
  },
  bank_disagreement: {
    severity: 'critical',
    action: 'the bank and the ledger disagree about money: escalate to finance and correct the books by hand',
  },
  command_backlog: {
    severity: 'warning',
    action: 'check that the command consumer runs and reaches Temporal; scale it out if it only lags',
  },
  dead_letter: {
    severity: 'warning',
    action: 'read the reason (npm run client -- events); fix the publisher and publish the command again',
  },
};

/** What starts a sweep: its schedule, or a person (`watchdog run`). */
export interface SweepRequest {
  trigger?: 'schedule' | 'manual';
}

/** One thing the watchdog found: what, about which business id, since when, and what to do. */
export interface Finding {
  kind: FindingKind;
  /** The payment id, registration id, event id or consumer the finding is about. */
  businessId: string;
  /** When the cause began, as far as it can be told (ISO time). */
  since: string;
  /** One line about it: ids, statuses and amounts only, never personal data. */
  summary: string;
  /** The run it concerns, when there is one. */
  workflowId?: string;
  amountMinor?: number;
  currency?: string;
}

/** A finding as baton's database keeps it: opened, seen again on each sweep, closed when its cause is gone. */
export interface StoredFinding extends Finding {
  /** The finding's number in baton's database; a finding that comes back after closing gets a new one. */
  id: number;
  severity: FindingSeverity;
  action: string;
  openedAt: string;
  lastSeenAt: string;
  closedAt?: string;
  /** When the operator address was told of it; absent when no OPS_EMAIL is set or the email is still owed. */
  alertedAt?: string;
}

/** The sources one sweep looks at; a source that could not be read keeps its earlier findings open. */
export const SweepSource = {
  /** Open runs: stages, reviews, task failures, retrying activities. */
  Runs: 'runs',
  /** Clearing debits against their runs. */
  Orphans: 'orphans',
  /** Ended payments against the bank's status. */
  Bank: 'bank',
  /** The message bus: backlog and dead letters. */
  Bus: 'bus',
} as const;
/** One of {@link SweepSource}. */
export type SweepSource = (typeof SweepSource)[keyof typeof SweepSource];

/** Which source each kind comes from: a sweep closes a kind's findings only when it read that source. */
export const FINDING_SOURCE: Readonly<Record<FindingKind, SweepSource>> = {
  payment_stuck: 'runs',
  payment_needs_attention: 'runs',
  review_overdue: 'runs',
  registration_stuck: 'runs',
  workflow_task_failing: 'runs',
  activity_retrying: 'runs',
  orphaned_debit: 'orphans',
  bank_disagreement: 'bank',
  command_backlog: 'bus',
  dead_letter: 'bus',
};

/** What one source gave a sweep: its findings, or why it could not be read. */
export type SourceReport =
  | { source: SweepSource; read: true; findings: Finding[]; examined: number }
  | { source: SweepSource; read: false; error: string };

/** Result of one sweep: how many findings are open by kind, and what changed. */
export interface SweepSummary {
  sweptAt: string;
  open: Partial<Record<FindingKind, number>>;
  opened: number;
  closed: number;
  /** Emails sent to the operator address for new findings. */
  alerted: number;
  /** Sources that could not be read, with the reason. */
  unreadable: { source: SweepSource; error: string }[];
}
