/**
 * The mixed load a fault scenario drives: payers seeded in the ledger, a plan of payments (settled, failed,
 * returned, AML hit, AML review approved, insufficient funds, and a race for a balance that covers only some) and
 * registrations (welcome by email, by SMS, and by SMS to an unsubscribed number that falls back to email), then
 * every run started (through the client, or by a command event on the bus that the command consumer turns into the
 * run) and followed until it ends.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { startPayment } from '../../../client/payments';
import { startRegistration } from '../../../client/registrations';
import { AML_DEMO_NAMES } from '../../../local/demo-names';
import type { SimulatorScenario } from '../../../services/bank';
import { customerIdFor } from '../../../services/customers';
import { Ledger } from '../../../services/ledger';
import type { Currency } from '../../../domain/money';
import { paymentStatusQuery, reviewUpdate } from '../../../workflows/payment-contract';
import type { PaymentRequest, PaymentTimings } from '../../../workflows/payment-contract';
import type { RegistrationRequest } from '../../../workflows/registration-contract';
import type { Rng } from './random';
import { sleep } from './random';
import type { FaultStack } from './stack';

/** What a payment is meant to meet; the expected outcome follows from it and from the bank's own record. */
export type PaymentKind = 'settle' | 'fail' | 'return' | 'review' | 'aml_hit' | 'insufficient' | 'tight';

/**
 * What an operator does to a payment's run under load, as from the Temporal UI or CLI; each names the point in the
 * run where it strikes.
 */
export const OperatorAction = {
  /** Terminated while it waits for an AML review (screening comes first): no money has moved. */
  TerminateBeforeDebit: 'terminate_before_debit',
  /** Terminated at the bank (submitted, the bank reference known, the webhook held): its debit is orphaned. */
  TerminateAtBank: 'terminate_at_bank',
  /** Terminated just after its held webhook was let go: as it settles or reverses, or just before or after. */
  TerminateAtSettlement: 'terminate_at_settlement',
  /** Reset to its first workflow task while it waits at the bank. */
  ResetToFirstTask: 'reset_to_first_task',
  /** Reset to its first workflow task after it ended. */
  ResetAfterEnd: 'reset_to_first_task_after_end',
  /** Reset to the workflow task that completed right after its debit, while it waits at the bank. */
  ResetAfterDebit: 'reset_after_debit',
  /** Temporal-cancelled while it waits for an AML review: nothing moved, it ends cancelled. */
  CancelAwaitingReview: 'cancel_awaiting_review',
  /**
   * Temporal-cancelled while its submission retries on the bank's 500s: the bank may take it on any try, so the cancel
   * must change nothing.
   */
  CancelWhileSubmitting: 'cancel_while_submitting',
  /** Temporal-cancelled at the bank: the bank has the money, so the cancel must change nothing. */
  CancelAtBank: 'cancel_at_bank',
} as const;
/** One of {@link OperatorAction}. */
export type OperatorAction = (typeof OperatorAction)[keyof typeof OperatorAction];

/** How a run is asked for: a client call to Temporal, or a command event on the bus. */
export type Via = 'client' | 'bus';

/** A customer who pays, seeded before the load. */
export interface Payer {
  customerId: string;
  accountId: string;
  currency: Currency;
  channel: 'email' | 'sms';
  phone: string | null;
  fundedMinor: number;
}

/** One payment of the plan. */
export interface PlannedPayment {
  type: 'payment';
  kind: PaymentKind;
  via: Via;
  id: string;
  workflowId: string;
  /** A command's request has no timings (a command may not set them): the production defaults apply. */
  request: PaymentRequest;
  payer: Payer;
  /** How the bank simulator treats it; set before the payment starts. */
  bank?: SimulatorScenario;
  /** Forged webhooks to throw at it while the bank works on it. */
  forge: boolean;
  /** Its webhook is held and released out of order with others. */
  outOfOrder: boolean;
  /** What an operator does to its run, and with which tool; its AML review is then left to the operator. */
  operator?: { action: OperatorAction; tool: 'client' | 'temporal-cli' };
}

/** How a registration's welcome is expected to travel. */
export type WelcomeRoute = 'email' | 'sms' | 'sms_fallback';

/** One registration of the plan. */
export interface PlannedRegistration {
  type: 'registration';
  via: Via;
  id: string;
  workflowId: string;
  request: RegistrationRequest;
  route: WelcomeRoute;
  customerId: string;
}

/** Everything a scenario drives. */
export interface LoadPlan {
  payers: Payer[];
  payments: PlannedPayment[];
  registrations: PlannedRegistration[];
  /** The payments that race for the tight account, and how many of them its balance covers. */
  tight: { accountId: string; covers: number };
}

/** Short waits, so a payment whose webhook never comes is polled within seconds. */
export const FAULT_TIMINGS: PaymentTimings = {
  amlReviewTimeoutMs: 30 * 60_000,
  bankStatusTimeoutMs: 15_000,
  bankPollAttempts: 3,
  bankPollIntervalMs: 3_000,
  needsAttentionRecheckMs: 8_000,
};

const IBAN = 'DE89370400440532013000';
/** Twilio's test number for a recipient who unsubscribed: SMS is refused for good, so the welcome goes by email. */
const UNSUBSCRIBED = '+15005550004';
const TIGHT_AMOUNT = 9_000;
const TIGHT_FUNDS = 30_000;
const POOR_FUNDS = 100;
const RICH_FUNDS = 10_000_000;

/** How many runs of each kind a scenario drives, and which share of them arrives as commands on the bus. */
export interface LoadShape {
  payments: Record<PaymentKind, number>;
  registrations: Record<WelcomeRoute, number>;
  /** Share of the runs (0 to 1) asked for by a command event instead of a client call. */
  viaBus: number;
}

/** The shape most scenarios drive: at least 200 payments and 50 registrations, all through the client. */
export const DEFAULT_LOAD: LoadShape = {
  payments: { settle: 130, fail: 24, return: 14, review: 6, aml_hit: 10, insufficient: 10, tight: 6 },
  registrations: { email: 28, sms: 18, sms_fallback: 4 },
  viaBus: 0,
};

function payer(tag: string, n: number, currency: Currency, channel: 'email' | 'sms', funded: number): Payer {
  return {
    customerId: `C-${tag.toUpperCase()}${n}`,
    accountId: `A-${tag.toUpperCase()}${n}-${currency}`,
    currency,
    channel,
    phone:
      channel === 'sms'
        ? `+4917${String(Math.abs(hash(tag)) % 1000).padStart(3, '0')}${String(n).padStart(5, '0')}`
        : null,
    fundedMinor: funded,
  };
}

function hash(text: string): number {
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

/** Builds the plan of one scenario; `tag` keeps its ids, emails and phones its own. */
export function planLoad(tag: string, rng: Rng, shape: LoadShape = DEFAULT_LOAD): LoadPlan {
  // Drawn only when some runs go by the bus, so a scenario without commands keeps the plan its seed always gave.
  const via = (): Via => (shape.viaBus > 0 && rng.int(0, 999) < shape.viaBus * 1000 ? 'bus' : 'client');
  const rich = [
    ...[1, 2, 3, 4, 5, 6].map((n) => payer(tag, n, 'EUR', 'email', RICH_FUNDS)),
    ...[7, 8, 9].map((n) => payer(tag, n, 'EUR', 'sms', RICH_FUNDS)),
    payer(tag, 10, 'USD', 'email', RICH_FUNDS),
  ];
  const poor = [payer(tag, 11, 'EUR', 'email', POOR_FUNDS), payer(tag, 12, 'EUR', 'sms', POOR_FUNDS)];
  const tight = payer(tag, 13, 'EUR', 'email', TIGHT_FUNDS);

  const payments: PlannedPayment[] = [];
  let seq = 0;
  for (const [kind, count] of Object.entries(shape.payments) as [PaymentKind, number][]) {
    for (let i = 0; i < count; i++) {
      seq += 1;
      const id = `${tag}-p${String(seq).padStart(3, '0')}`;
      const from = kind === 'insufficient' ? rng.pick(poor) : kind === 'tight' ? tight : rng.pick(rich);
      const amountMinor =
        kind === 'insufficient'
          ? rng.int(10_000, 50_000)
          : kind === 'tight'
            ? TIGHT_AMOUNT
            : rng.int(100, 20_000);
      const name =
        kind === 'aml_hit'
          ? AML_DEMO_NAMES.hit
          : kind === 'review'
            ? AML_DEMO_NAMES.review
            : AML_DEMO_NAMES.clear;
      const outcome = kind === 'fail' ? 'failed' : kind === 'return' ? 'returned' : 'settled';
      const route = via();
      payments.push({
        type: 'payment',
        kind,
        via: route,
        id,
        workflowId: `payment:${id}`,
        payer: from,
        request: {
          paymentId: id,
          fromAccountId: from.accountId,
          amountMinor,
          currency: from.currency,
          beneficiary: { name, country: 'DE', iban: IBAN },
          ...(route === 'client' ? { timings: FAULT_TIMINGS } : {}),
        },
        ...(kind === 'aml_hit' || kind === 'insufficient'
          ? {}
          : { bank: { outcome, delayMs: rng.int(200, 1_200) } }),
        forge: false,
        outOfOrder: false,
      });
    }
  }

  const registrations: PlannedRegistration[] = [];
  seq = 0;
  for (const [route, count] of Object.entries(shape.registrations) as [WelcomeRoute, number][]) {
    for (let i = 0; i < count; i++) {
      seq += 1;
      const id = `${tag}-r${String(seq).padStart(3, '0')}`;
      const phone =
        route === 'email'
          ? undefined
          : route === 'sms_fallback'
            ? UNSUBSCRIBED
            : `+4916${String(Math.abs(hash(tag)) % 1000).padStart(3, '0')}${String(seq).padStart(5, '0')}`;
      registrations.push({
        type: 'registration',
        via: via(),
        id,
        workflowId: `registration:${id}`,
        route,
        customerId: customerIdFor(id),
        request: {
          registrationId: id,
          name: `Fault Tester ${seq}`,
          email: `${id}@faults.example.com`,
          ...(phone === undefined ? {} : { phone }),
          channel: route === 'email' ? 'email' : 'sms',
          currency: rng.pick(['EUR', 'EUR', 'USD'] as const),
        },
      });
    }
  }
  return {
    payers: [...rich, ...poor, tight],
    payments,
    registrations,
    tight: { accountId: tight.accountId, covers: Math.floor(TIGHT_FUNDS / TIGHT_AMOUNT) },
  };
}

/** Creates and funds the payers, as a bank's back office would before the day's payments. */
export async function seedPayers(
  stack: Pick<FaultStack, 'customers' | 'ledger'>,
  payers: readonly Payer[],
): Promise<void> {
  for (const p of payers) {
    await stack.customers.create({
      id: p.customerId,
      registrationId: `seed-${p.customerId}`,
      name: `Payer ${p.customerId}`,
      email: `${p.customerId.toLowerCase()}@payers.example.com`,
      phone: p.phone,
      channel: p.channel,
    });
    await stack.ledger.ensureSystemAccounts(p.currency);
    await stack.ledger.openAccount({
      id: p.accountId,
      kind: 'customer',
      customerId: p.customerId,
      currency: p.currency,
    });
    await stack.ledger.transfer({
      idempotencyKey: `seed:${p.accountId}`,
      fromAccountId: Ledger.systemAccountId('funding', p.currency),
      toAccountId: p.accountId,
      amountMinor: p.fundedMinor,
      currency: p.currency,
    });
  }
}

/** How one run ended, as the client saw it. */
export interface RunEnd {
  at: number;
  /** The status the workflow returned, when it completed. */
  status?: string;
  /** Why it did not complete (failed, terminated, timed out). */
  failure?: string;
}

/** Runs started and ended so far, with the moment of each end, for fault triggers and recovery times. */
export class Progress {
  readonly accepted = new Map<string, number>();
  readonly ended = new Map<string, RunEnd>();
  readonly startFailures = new Map<string, string>();
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(readonly planned: number) {}

  markEnded(workflowId: string, end: RunEnd): void {
    if (this.ended.has(workflowId)) return;
    this.ended.set(workflowId, end);
    this.waiters = this.waiters.filter((w) => {
      if (this.ended.size < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `fraction` of the planned runs have ended. */
  whenEnded(fraction: number): Promise<void> {
    const count = Math.ceil(this.planned * fraction);
    if (this.ended.size >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Runs accepted and not ended yet. */
  get inFlight(): number {
    return this.accepted.size - this.ended.size;
  }

  /** The first end at or after `at`, if any. */
  firstEndAfter(at: number): number | undefined {
    let first: number | undefined;
    for (const end of this.ended.values()) {
      if (end.at >= at && (first === undefined || end.at < first)) first = end.at;
    }
    return first;
  }

  get done(): boolean {
    return (
      this.ended.size >= this.accepted.size && this.accepted.size + this.startFailures.size >= this.planned
    );
  }
}

/** How the load sends a run's command over the bus and learns that the run exists. */
export interface CommandRoute {
  /** Publishes the command (and any resend planned for it); resolves once the bus holds it. */
  send(item: PlannedPayment | PlannedRegistration): Promise<void>;
  /** Resolves with the run once Temporal has it; rejects when it never appears. */
  whenStarted(item: PlannedPayment | PlannedRegistration): Promise<WorkflowHandle>;
  /** Called once the run ended: a resend planned for after the end goes out now. */
  ended(item: PlannedPayment | PlannedRegistration): Promise<void>;
}

/** Options of {@link driveLoad}. */
export interface DriveOptions {
  /** Starts in flight at once. */
  concurrency: number;
  /**
   * Most runs accepted and not ended at any moment: starts wait below it, so they spread over the whole load and a
   * fault meets new commands arriving, not only runs in progress. Unlimited when omitted.
   */
  maxInFlight?: number;
  /** Where the runs planned `via: 'bus'` are sent; required when the plan has any. */
  commands?: CommandRoute;
  /** How long a start may keep failing before it is given up. */
  startRetryMs: number;
  /** Called once a payment is accepted (scenarios hook forged webhooks on it). */
  onPaymentAccepted?: (payment: PlannedPayment) => void;
  /** True once the scenario stops following runs (at its deadline). */
  stopped: () => boolean;
  /** Resolves when the scenario stops following runs. */
  stop: Promise<void>;
}

async function startWithRetry<T>(
  start: () => Promise<T>,
  retryMs: number,
  stopped: () => boolean,
): Promise<T> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await start();
    } catch (err) {
      // Same business key each time: a start that did go through is found again, never started twice.
      if (Date.now() > deadline || stopped()) throw err;
      await sleep(1_000);
    }
  }
}

async function followToEnd(handle: WorkflowHandle, options: DriveOptions): Promise<RunEnd | undefined> {
  const stop = options.stop.then(() => STOP);
  for (;;) {
    if (options.stopped()) return undefined;
    try {
      const result: unknown = await Promise.race([handle.result(), stop]);
      if (result === STOP) return undefined;
      const status =
        typeof result === 'object' &&
        result !== null &&
        'status' in result &&
        typeof result.status === 'string'
          ? result.status
          : 'unknown';
      return { at: Date.now(), status };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        return { at: Date.now(), failure: err.cause?.message ?? err.message };
      }
      // The server or the connection went away: ask again once it is back.
      await sleep(1_000);
    }
  }
}

const STOP = Symbol('stop');

/** Approves a payment that waits for AML review, retrying through outages until the review is recorded. */
async function approveReview(
  handle: WorkflowHandle,
  progress: Progress,
  options: DriveOptions,
): Promise<void> {
  while (!options.stopped() && !progress.ended.has(handle.workflowId)) {
    const state = await handle.query(paymentStatusQuery).catch(() => undefined);
    if (state?.aml?.review !== undefined) return;
    if (state?.status === 'awaiting_aml_review') {
      try {
        await Promise.race([
          handle.executeUpdate(reviewUpdate, {
            args: [{ decision: 'approve', reviewer: 'fault-suite', note: 'synthetic beneficiary' }],
          }),
          options.stop,
        ]);
        return;
      } catch {
        // Refused (already decided) or the worker is away: look at the payment again.
      }
    }
    await sleep(1_000);
  }
}

/** Starts every planned run (payments and registrations interleaved) and follows each to its end. */
export async function driveLoad(
  stack: FaultStack,
  plan: LoadPlan,
  progress: Progress,
  rng: Rng,
  options: DriveOptions,
): Promise<void> {
  const items = rng.shuffle<PlannedPayment | PlannedRegistration>([...plan.payments, ...plan.registrations]);
  const followers: Promise<void>[] = [];
  let next = 0;
  const startOne = async (item: PlannedPayment | PlannedRegistration): Promise<void> => {
    try {
      let handle: WorkflowHandle;
      if (item.type === 'payment' && item.bank) stack.bank.setScenario(item.id, item.bank);
      if (item.via === 'bus') {
        const { commands } = options;
        if (commands === undefined)
          throw new Error(`${item.workflowId} goes by the bus, and no bus was given`);
        await commands.send(item);
        handle = await commands.whenStarted(item);
      } else if (item.type === 'payment') {
        handle = (
          await startWithRetry(
            () => startPayment(stack.client, item.request),
            options.startRetryMs,
            options.stopped,
          )
        ).handle;
      } else {
        handle = (
          await startWithRetry(
            () => startRegistration(stack.client, item.request),
            options.startRetryMs,
            options.stopped,
          )
        ).handle;
      }
      progress.accepted.set(item.workflowId, Date.now());
      if (item.type === 'payment') {
        options.onPaymentAccepted?.(item);
        if (item.kind === 'review' && item.operator === undefined)
          followers.push(approveReview(handle, progress, options));
      }
      followers.push(
        followToEnd(handle, options).then(async (end) => {
          if (end === undefined) return;
          progress.markEnded(item.workflowId, end);
          if (item.via === 'bus') await options.commands?.ended(item);
        }),
      );
    } catch (err) {
      progress.startFailures.set(item.workflowId, err instanceof Error ? err.message : String(err));
      stack.log.write(`[harness] gave up starting ${item.workflowId}: ${String(err)}`);
    }
  };
  const maxInFlight = options.maxInFlight ?? Infinity;
  const lanes = Array.from({ length: options.concurrency }, async () => {
    while (next < items.length) {
      while (progress.inFlight >= maxInFlight && !options.stopped()) await sleep(100);
      const item = items[next];
      next += 1;
      if (item !== undefined) await startOne(item);
    }
  });
  await Promise.all(lanes);
  await Promise.all(followers);
}
