/**
 * The steps of one payment run, named after the process in the README's diagram: validate, screen, debit, submit,
 * await the final status, settle or reverse, notify. `paymentWorkflow` (payment.ts) decides their order; a
 * `PaymentRun` holds what they share: the state the query returns, the undo steps, the bank's signals and the
 * review decision. Every side effect is an activity, every wait a durable timer or condition.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { PaymentActivities } from '../activities/payment';
import type { PaymentOutcome } from '../activities/events';
import { DOMAIN_EVENTS, publishPaymentOutcome, publishPaymentOutcomeLocally } from './domain-events';
import {
  DEFAULT_PAYMENT_TIMINGS,
  FINAL_PAYMENT_STATUSES,
  PaymentFailureType,
  paymentIdFromWorkflowId,
  paymentSearchAttributes,
  PaymentStatus,
  RejectionReason,
  reviewUpdate,
} from './payment-contract';
import { AmlDecision, BankOutcome } from '../domain/payment-terms';
import { paymentRuleProblems, paymentShapeProblems } from './payment-checks';
import type {
  BankStatusSignal,
  CancelResult,
  PaymentRequest,
  PaymentState,
  PaymentTimings,
  ReviewDecision,
} from './payment-contract';
import { proxySummarizedActivities, proxySummarizedLocalActivities } from './activity-summary';
import { isRecord } from '../domain/input-checks';
import type { JsonRecord } from '../domain/input-checks';
import { formatMoney, isCurrency } from '../domain/money';
import { contactForAccount, deliver } from './notify';
import { currentDetails } from './payment-details';
import {
  countAmlDecision,
  countNotification,
  countPaymentStarted,
  countPaymentStatus,
  countReviewStarted,
} from './metrics';
import { retryForever, retryThenAsk } from './retry-presets';

// Ledger and AML steps retry until they succeed: an outage must delay a payment, never lose it. Business
// refusals are non-retryable failures and end the retries at once.
// Submitting retries the same way; the payment id is the bank's idempotency key, so a retry never pays twice.
const regular = proxySummarizedActivities<PaymentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForever,
});
const { reverseDebit, submitToBank } = regular;
// The lean steps' local activities: the same retries, run by the worker that runs the workflow task. Screening is
// in memory, the debit and the settlement are one ledger call each under the payment's idempotency keys, so a
// worker that dies mid-step and a new one that runs it again move the money once.
const local = proxySummarizedLocalActivities<PaymentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForever,
});
// A poll is a question, not a commitment: a few tries, then the workflow decides what to do.
const { fetchBankStatus } = proxySummarizedActivities<PaymentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryThenAsk,
});

/**
 * The shape checks (field types, unknown fields, control characters, bounded waits) came after the first revision.
 * A run started before them replays past them; the patch is asked only when they find a problem, so the history
 * of a valid payment is exactly what it always was.
 */
const STRICT_INPUT_SHAPE = 'strict-input-shape';

/** A business outcome that ends the payment early: rejected with a reason, or cancelled on request. */
export class PaymentStop extends Error {
  constructor(
    readonly status: typeof PaymentStatus.Rejected | typeof PaymentStatus.Cancelled,
    readonly reason?: RejectionReason,
    readonly detail?: string,
  ) {
    super(reason ?? status);
  }
}

/** An undo step, registered before the step it undoes runs. */
interface Compensation {
  name: string;
  run: () => Promise<unknown>;
}

/** One payment on its way: its state, and the steps that move it, in the order the process takes them. */
export class PaymentRun {
  /** What the status query returns; one object for the whole run, changed in place. */
  readonly state: PaymentState;
  private readonly timings: PaymentTimings;
  private readonly compensations: Compensation[] = [];
  private readonly bankSignals: BankStatusSignal[] = [];
  private reviewDecision: ReviewDecision | undefined;
  /** Search attributes set since the last upsert (lean steps only; otherwise each change is upserted at once). */
  private readonly pendingAttributes = new Map<string, SearchAttributeUpdatePair>();
  /** The activities of screening, the debit and the settlement: local under the lean steps, regular before. */
  private readonly ledgerSteps: Pick<typeof regular, 'screenBeneficiary' | 'debitAccount' | 'settlePayment'>;
  /** The amount as the summaries and the customer's message show it. */
  private readonly amount: string;
  private readonly country: string;

  /**
   * `request` is what the caller sent, known to be an object and nothing more; `messagesAfterOtherJobs` is the
   * run's answer to the message-ordering patch, which decides where the review handler is registered (see
   * {@link PaymentRun.acceptReviews}); `lean` is its answer to the lean-steps patch (see payment.ts).
   */
  constructor(
    private readonly request: PaymentRequest & JsonRecord,
    private readonly messagesAfterOtherJobs: boolean,
    private readonly lean: boolean = false,
  ) {
    this.ledgerSteps = lean ? local : regular;
    this.timings = { ...DEFAULT_PAYMENT_TIMINGS, ...request.timings };
    this.state = {
      paymentId: request.paymentId,
      status: PaymentStatus.Received,
      amountMinor: request.amountMinor,
      currency: request.currency,
      fromAccountId: request.fromAccountId,
      steps: [],
      ledger: {},
      cancelRequested: false,
    };
    // Refused requests are still described, so the amount is only formatted when it can be.
    this.amount =
      Number.isSafeInteger(request.amountMinor) && typeof request.currency === 'string'
        ? formatMoney(request.amountMinor, request.currency)
        : 'an invalid amount';
    this.country = request.beneficiary?.country ?? '??';
  }

  // --- Messages.

  /** The `bankStatus` signal: keeps each well-formed final status the bank sends, once. */
  receiveBankStatus(signal: unknown): void {
    // Anyone with access to the namespace can signal, not only the webhook receiver: an event that is not a
    // well-formed final status is dropped rather than trusted.
    if (!isWellFormedBankSignal(signal)) return;
    // The bank may deliver the same event twice, or a stale one; only the first of each event counts.
    if (this.bankSignals.some((s) => s.eventId === signal.eventId)) return;
    this.bankSignals.push(signal);
  }

  /**
   * Registers the `review` update. A new run does it with the other handlers, before any await; a run from
   * before the message ordering does it in {@link PaymentRun.awaitReview}, where it always has.
   */
  acceptReviews(): void {
    setHandler(
      reviewUpdate,
      async (decision) => {
        this.reviewDecision = decision;
        await condition(() => this.state.status !== PaymentStatus.AwaitingAmlReview);
        return this.state;
      },
      {
        validator: (decision: ReviewDecision) => {
          if (this.state.status !== PaymentStatus.AwaitingAmlReview || this.reviewDecision !== undefined) {
            throw new Error(
              `payment ${this.state.paymentId} is ${this.state.status}, not awaiting AML review`,
            );
          }
          if (decision.decision !== 'approve' && decision.decision !== 'reject') {
            throw new Error('decision must be "approve" or "reject"');
          }
          if (typeof decision.reviewer !== 'string' || decision.reviewer.trim() === '') {
            throw new Error('a review needs the reviewer');
          }
        },
      },
    );
  }

  /** The `cancel` update: asks the run to stop at its next step, and answers once the payment has ended. */
  async cancel(): Promise<CancelResult> {
    this.state.cancelRequested = true;
    await condition(() => this.isFinal());
    return { status: this.state.status };
  }

  /** Notes a cancellation of the workflow that came while the payment was at the bank: the run does not stop. */
  refuseWorkflowCancellation(): void {
    this.state.cancellationRefused = {
      at: new Date().toISOString(),
      reason: `the payment was ${this.state.status}; the bank decides it now`,
    };
  }

  /** The `cancel` update's validator: refuses once the payment is with the bank. */
  assertCancellable(): void {
    // Once the bank has the payment, money may already be on its way: cancelling is no longer ours to do.
    const cancellable: PaymentStatus[] = [
      PaymentStatus.Received,
      PaymentStatus.Debited,
      PaymentStatus.AwaitingAmlReview,
    ];
    if (!cancellable.includes(this.state.status)) {
      throw new Error(
        `payment ${this.state.paymentId} is ${this.state.status}; it can no longer be cancelled`,
      );
    }
  }

  // --- Steps, in the order the run takes them when screening comes before the debit.

  /** Records the payment as received: its status, and its amount and currency when they are what they claim. */
  receive(): void {
    const { request } = this;
    // Search attributes are indexed in clear and typed: only an amount and a currency that passed as such go in,
    // so a refused request can neither wedge the run with a value the server rejects nor put arbitrary text in
    // the index.
    const currency =
      typeof request.currency === 'string' && isCurrency(request.currency) ? request.currency : undefined;
    const received: SearchAttributeUpdatePair[] = [
      { key: paymentSearchAttributes.status, value: PaymentStatus.Received },
      ...(Number.isSafeInteger(request.amountMinor)
        ? [{ key: paymentSearchAttributes.amount, value: request.amountMinor }]
        : []),
      ...(currency === undefined ? [] : [{ key: paymentSearchAttributes.currency, value: currency }]),
    ];
    if (this.lean) {
      // The client's start sets these already (they are in the run's first event): only a starter that did not, or
      // set them otherwise, costs an upsert, made with the next state change's.
      const atStart = workflowInfo().typedSearchAttributes;
      this.setAttributes(received.filter(({ key, value }) => atStart.get(key) !== value));
    } else {
      upsertSearchAttributes(received);
    }
    this.record(PaymentStatus.Received);
    setCurrentDetails(currentDetails(this.state, this.timings));
    countPaymentStarted(currency);
  }

  /** Checks the request; rejects the payment as invalid when it fails. Returns whether it passed. */
  validate(): boolean {
    const problems = paymentRuleProblems(this.request);
    const shape = paymentShapeProblems(this.request);
    // Refused by the rules anyway, the shape problems only make the reason more precise; otherwise they decide,
    // which is the patched change. The order of the test matters: patched() is asked (and marks the history)
    // only when the shape checks alone would refuse the payment.
    if (problems.length > 0 || (shape.length > 0 && patched(STRICT_INPUT_SHAPE))) {
      problems.push(...shape.filter((problem) => !problems.includes(problem)));
    }
    if (problems.length === 0) return true;
    this.state.reason = RejectionReason.Invalid;
    this.state.reasonDetail = problems.join('; ');
    this.moveTo(PaymentStatus.Rejected, this.state.reasonDetail);
    return false;
  }

  /** AML-screens the beneficiary: a hit rejects the payment, a possible match waits for a compliance officer. */
  async screen(): Promise<void> {
    const { request } = this;
    const result = await this.ledgerSteps.screenBeneficiary(
      `AML screening of the beneficiary (${this.country})`,
      {
        paymentId: request.paymentId,
        beneficiary: request.beneficiary,
        amountMinor: request.amountMinor,
        currency: request.currency,
      },
    );
    this.state.aml = {
      decision: result.decision,
      score: result.score,
      ...(result.matchedEntryId === undefined ? {} : { matchedEntryId: result.matchedEntryId }),
    };
    this.setAttributes([{ key: paymentSearchAttributes.amlDecision, value: result.decision }]);
    countAmlDecision(result.decision);
    this.record('aml_screened', `${result.decision} (score ${result.score})`);
    if (result.decision === AmlDecision.Hit) {
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlHit, result.reasons.join('; '));
    }
    if (result.decision === AmlDecision.Review) await this.awaitReview();
  }

  /** Waits for the `review` update until the review deadline; approval lets the payment go on. */
  private async awaitReview(): Promise<void> {
    const { state } = this;
    this.moveTo(PaymentStatus.AwaitingAmlReview);
    countReviewStarted();
    const waiting = condition(
      () => this.reviewDecision !== undefined || state.cancelRequested,
      this.timings.amlReviewTimeoutMs,
    );
    // A run from before the message ordering registers the handler only here, after the deadline's timer: it may
    // have accepted its review live in the workflow task that also carried the screening result, after the
    // commands that result led to, and replay hands both in one activation, review first (see message-order.ts).
    // With no handler yet, the SDK holds the update until this registration, after those same commands, as live.
    // Before it, a review finds no handler and is refused.
    if (!this.messagesAfterOtherJobs) this.acceptReviews();
    const decided = await waiting;
    const at = new Date().toISOString();
    if (!decided || this.reviewDecision === undefined) {
      if (state.cancelRequested) throw new PaymentStop(PaymentStatus.Cancelled);
      if (state.aml) state.aml.review = { outcome: 'expired', at };
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlReviewExpired);
    }
    const { decision, reviewer, note } = this.reviewDecision;
    const outcome = decision === 'approve' ? 'approved' : 'rejected';
    if (state.aml) state.aml.review = { outcome, reviewer, ...(note === undefined ? {} : { note }), at };
    this.record(`aml_review_${outcome}`);
    if (decision === 'reject') {
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlReviewRejected, note);
    }
    // Back to where the money is: debited, or (screening first) not yet.
    this.moveTo(
      state.ledger.debitTransferId === undefined ? PaymentStatus.Received : PaymentStatus.Debited,
      'AML review approved',
    );
  }

  /** Ends the payment as cancelled if a `cancel` update asked for it. */
  stopIfCancelRequested(): void {
    if (this.state.cancelRequested) throw new PaymentStop(PaymentStatus.Cancelled);
  }

  /** Moves the amount from the customer's account to clearing; a refusal by the ledger rejects the payment. */
  async debit(): Promise<void> {
    const { request, state } = this;
    // Registered before the debit runs: a run that ends while the debit is in flight cannot know whether the
    // money moved, so the reversal (which finds nothing to reverse when it did not) runs either way.
    this.compensations.push({
      name: 'reverse the debit',
      run: async () => {
        const { transferId } = await reverseDebit(`reverse the debit of ${this.amount}`, {
          paymentId: request.paymentId,
        });
        if (transferId !== null) state.ledger.reversalTransferId = transferId;
      },
    });
    try {
      const result = await this.ledgerSteps.debitAccount(
        `debit ${this.amount} from ${request.fromAccountId}`,
        {
          paymentId: request.paymentId,
          fromAccountId: request.fromAccountId,
          amountMinor: request.amountMinor,
          currency: request.currency,
        },
      );
      state.ledger.debitTransferId = result.transferId;
      if (result.customerId !== null) {
        state.customerId = result.customerId;
        this.setAttributes([{ key: paymentSearchAttributes.customerId, value: result.customerId }]);
      }
    } catch (err) {
      switch (failureType(err)) {
        case PaymentFailureType.InsufficientFunds:
          throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.InsufficientFunds);
        case PaymentFailureType.AccountNotFound:
        case PaymentFailureType.AccountClosed:
        case PaymentFailureType.CurrencyMismatch:
          throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.Invalid, failureMessage(err));
        default:
          throw err;
      }
    }
    this.moveTo(PaymentStatus.Debited);
  }

  /**
   * Submits the payment to the bank, unless a cancel came first. Returns whether the bank took it; a bank that
   * refuses fails the payment here, debit reversed.
   */
  async submit(): Promise<boolean> {
    const { request } = this;
    this.stopIfCancelRequested();
    // Set before the call, in the same activation: from here on the cancel validator refuses.
    this.moveTo(PaymentStatus.Submitted);
    try {
      const { bankReference } = await submitToBank(`submit ${this.amount} to the bank`, {
        paymentId: request.paymentId,
        amountMinor: request.amountMinor,
        currency: request.currency,
        beneficiary: request.beneficiary,
      });
      this.state.bank = { reference: bankReference };
      return true;
    } catch (err) {
      if (failureType(err) !== PaymentFailureType.BankRejected) throw err;
      await this.compensate();
      this.state.reasonDetail = failureMessage(err);
      this.moveTo(PaymentStatus.Failed, 'the bank refused the payment');
      return false;
    }
  }

  /**
   * Waits for the bank's final status: its webhook until the deadline, then polls, then, marked as needing
   * attention, listens and asks again for as long as it takes.
   */
  async awaitFinalStatus(): Promise<BankOutcome> {
    const { timings } = this;
    const reference = this.state.bank?.reference ?? '';
    const signalled = () => this.bankSignals.find((s) => s.bankReference === reference);
    const fromWebhook = (): BankOutcome => {
      const signal = signalled();
      if (signal === undefined) throw ApplicationFailure.nonRetryable('bank signal vanished');
      this.state.bank = { reference, outcome: signal.outcome, source: 'webhook' };
      return signal.outcome;
    };
    // The money is with the bank: a cancellation of the workflow must not abandon it half way.
    return CancellationScope.nonCancellable(async () => {
      if (await condition(() => signalled() !== undefined, timings.bankStatusTimeoutMs)) {
        return fromWebhook();
      }
      for (let attempt = 1; attempt <= timings.bankPollAttempts; attempt++) {
        const polled = await this.pollBank(reference);
        if (polled !== undefined) return polled;
        if (await condition(() => signalled() !== undefined, timings.bankPollIntervalMs))
          return fromWebhook();
      }
      this.moveTo(PaymentStatus.NeedsAttention, 'no final status from the bank, even when asked');
      for (;;) {
        if (await condition(() => signalled() !== undefined, timings.needsAttentionRecheckMs))
          return fromWebhook();
        const polled = await this.pollBank(reference);
        if (polled !== undefined) return polled;
      }
    });
  }

  /** Asks the bank once; `undefined` while the payment is pending or the bank does not answer. */
  private async pollBank(reference: string): Promise<BankOutcome | undefined> {
    try {
      const { outcome } = await fetchBankStatus(`ask the bank about ${reference}`, {
        paymentId: this.request.paymentId,
        bankReference: reference,
      });
      if (outcome === 'pending') return undefined;
      this.state.bank = { reference, outcome, source: 'poll' };
      return outcome;
    } catch (err) {
      // The bank not answering a poll is why we poll again later, not a reason to fail the payment.
      log.warn('bank status poll failed', { paymentId: this.request.paymentId, error: failureMessage(err) });
      return undefined;
    }
  }

  /** Settled: clearing to settlement, and nothing left to undo. Failed or returned: the debit is reversed. */
  async settleOrReverse(outcome: BankOutcome): Promise<void> {
    if (outcome === 'settled') {
      const { transferId } = await this.ledgerSteps.settlePayment(
        `settle ${this.amount}: clearing to settlement`,
        {
          paymentId: this.request.paymentId,
        },
      );
      if (transferId !== null) this.state.ledger.settlementTransferId = transferId;
      this.compensations.length = 0;
      this.moveTo(PaymentStatus.Settled);
      return;
    }
    await this.compensate();
    this.state.reasonDetail = `the bank reported the payment ${outcome}`;
    this.moveTo(PaymentStatus.Failed, this.state.reasonDetail);
  }

  /** Runs the registered undo steps, newest first; a failing one fails the run. */
  async compensate(): Promise<void> {
    // What the index should say about the run so far goes out before the undo steps are waited on.
    if (this.compensations.length > 0) this.flushAttributes();
    // Compensations run even when the workflow itself is being cancelled, newest first.
    await CancellationScope.nonCancellable(async () => {
      while (this.compensations.length > 0) {
        const compensation = this.compensations.pop();
        if (compensation === undefined) break;
        try {
          await compensation.run();
          this.record('compensated', compensation.name);
        } catch (err) {
          log.error('compensation failed', {
            paymentId: this.request.paymentId,
            compensation: compensation.name,
            error: failureMessage(err),
          });
          throw err;
        }
      }
    });
  }

  /** Ends the payment where a {@link PaymentStop} says: rejected with its reason, or cancelled. */
  rejectOrCancel(stop: PaymentStop): void {
    if (stop.reason !== undefined) this.state.reason = stop.reason;
    if (stop.detail !== undefined) this.state.reasonDetail = stop.detail;
    this.moveTo(stop.status, stop.reason);
  }

  /** Tells the customer how the payment ended, on their channel; records what became of the message. */
  async notifyCustomer(): Promise<void> {
    const { request, state } = this;
    // Telling the customer is a courtesy: whatever happens here, the payment's outcome and money stand.
    try {
      const contact = await contactForAccount(request.fromAccountId, { local: this.lean });
      if (contact === null) {
        state.notification = { outcome: 'no_contact' };
        return;
      }
      const outcome = state.status as 'settled' | 'failed' | 'rejected' | 'cancelled';
      const delivery = await deliver({
        customerId: contact.customerId,
        channel: contact.channel,
        key: `${workflowInfo().workflowId}:outcome`,
        content: {
          kind: 'payment_outcome',
          paymentId: request.paymentId,
          outcome,
          amount: this.amount,
          ...(state.reason === undefined ? {} : { reason: state.reason }),
        },
      });
      state.notification = delivery;
      this.record('customer_notified', delivery.outcome);
      countNotification('payment_outcome', contact.channel, delivery.outcome);
    } catch (err) {
      state.notification = { outcome: 'undeliverable', detail: failureMessage(err) };
      countNotification('payment_outcome', 'unknown', 'undeliverable');
      log.warn('payment notification failed', { paymentId: request.paymentId, error: failureMessage(err) });
    }
  }

  /**
   * Tells the other domains how the payment ended: one `payment.<status>` event, published after the ledger
   * effect committed. Ids, status and amounts only; a request refused as invalid reports only what was valid.
   */
  async announceOutcome(): Promise<void> {
    // The lean steps came after the events: a run under them publishes without asking (see payment.ts).
    if (!this.isFinal() || !(this.lean || patched(DOMAIN_EVENTS))) return;
    const { state } = this;
    const { workflowId } = workflowInfo();
    const outcome = state.status as PaymentOutcome;
    const paymentId = paymentIdFromWorkflowId(workflowId) ?? workflowId;
    // A request refused as invalid may hold anything: only text goes out as text, only a whole number as an amount.
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    const publish = this.lean ? publishPaymentOutcomeLocally : publishPaymentOutcome;
    const result = await publish(`announce payment.${outcome}`, {
      workflowId,
      occurredAt: new Date().toISOString(),
      outcome,
      data: {
        paymentId,
        status: outcome,
        ...(state.reason === undefined ? {} : { reason: state.reason }),
        fromAccountId: text(state.fromAccountId),
        ...(state.customerId === undefined ? {} : { customerId: state.customerId }),
        amountMinor: Number.isSafeInteger(state.amountMinor) ? state.amountMinor : 0,
        currency: text(state.currency),
        ...(state.bank?.reference === undefined ? {} : { bankReference: state.bank.reference }),
        ledger: { ...state.ledger },
      },
    });
    this.record('outcome_announced', result.published ? result.eventId : 'no bus configured');
  }

  // --- Bookkeeping.

  /** Puts the payment in `status`: its step list, its search attribute and the UI's current details follow. */
  moveTo(status: PaymentStatus, detail?: string): void {
    this.state.status = status;
    this.record(status, detail);
    this.setAttributes([{ key: paymentSearchAttributes.status, value: status }]);
    // Under the lean steps, `debited` is never what the run waits in: the submission (or a stop) follows in the
    // same workflow task, and its status goes out with the debit's attributes in one upsert.
    if (status !== PaymentStatus.Debited) this.flushAttributes();
    setCurrentDetails(currentDetails(this.state, this.timings));
    const { reason, amountMinor, currency } = this.state;
    countPaymentStatus({
      status,
      ...(reason === undefined ? {} : { reason }),
      amountMinor,
      currency: typeof currency === 'string' && isCurrency(currency) ? currency : undefined,
    });
  }

  /**
   * Sets search attributes: at once in a run from before the lean steps, as it always did; under them, kept until
   * the next state change the run may wait in, so one workflow task makes one upsert.
   */
  private setAttributes(pairs: SearchAttributeUpdatePair[]): void {
    if (!this.lean) {
      if (pairs.length > 0) upsertSearchAttributes(pairs);
      return;
    }
    for (const pair of pairs) this.pendingAttributes.set(pair.key.name, pair);
  }

  /** Upserts the attributes kept since the last upsert, in one command. */
  private flushAttributes(): void {
    if (this.pendingAttributes.size === 0) return;
    upsertSearchAttributes([...this.pendingAttributes.values()]);
    this.pendingAttributes.clear();
  }

  private record(name: string, detail?: string): void {
    this.state.steps.push({
      name,
      at: new Date().toISOString(),
      ...(detail === undefined ? {} : { detail }),
    });
  }

  private isFinal(): boolean {
    return FINAL_PAYMENT_STATUSES.includes(this.state.status);
  }
}

/** True when `signal` is a final status the bank could have sent: a reference, an event id and a known outcome. */
function isWellFormedBankSignal(signal: unknown): signal is BankStatusSignal {
  if (!isRecord(signal)) return false;
  const { bankReference, outcome, eventId } = signal;
  return (
    typeof bankReference === 'string' &&
    typeof eventId === 'string' &&
    (Object.values(BankOutcome) as unknown[]).includes(outcome)
  );
}

/**
 * The business failure an activity raised, if it raised one: wrapped in an `ActivityFailure` when the activity was a
 * regular one, as it was raised when it was local (the lean steps).
 */
function businessFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure) return err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return err instanceof ApplicationFailure ? err : undefined;
}

/** The `type` of the business failure an activity raised, if it raised one. */
function failureType(err: unknown): string | undefined {
  return businessFailure(err)?.type ?? undefined;
}

/** What went wrong, as the activity's own failure says it when there is one. */
function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
