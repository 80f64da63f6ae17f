/**
 * The payment process: validate, screen the beneficiary for AML, debit the ledger, submit to the bank, await
 * the bank's final status, settle or reverse, then notify the customer. (The first order, debit then AML, still
 * runs for payments started before screening moved ahead of the debit; see AML_BEFORE_DEBIT.) Orchestration only:
 * every side effect is an activity, every wait a durable timer or condition.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PaymentActivities } from '../activities/payment';
import {
  AmlDecision,
  BankOutcome,
  bankStatusSignal,
  cancelUpdate,
  DEFAULT_PAYMENT_TIMINGS,
  FINAL_PAYMENT_STATUSES,
  NOT_A_PAYMENT_REQUEST,
  PaymentFailureType,
  paymentRuleProblems,
  paymentSearchAttributes,
  paymentShapeProblems,
  PaymentStatus,
  paymentStatusQuery,
  RejectionReason,
  reviewUpdate,
} from './payment-contract';
import type {
  BankStatusSignal,
  PaymentRequest,
  PaymentState,
  PaymentTimings,
  ReviewDecision,
} from './payment-contract';
import { MESSAGES_AFTER_OTHER_JOBS } from './message-order';
import { contactForAccount, deliver } from './notify';
import { proxySummarizedActivities } from './activity-summary';
import { isRecord } from './input-checks';
import { formatMoney, isCurrency } from './money';
import { currentDetails } from './payment-details';
import { retryForever, retryThenAsk } from './retry-presets';

// Ledger and AML steps retry until they succeed: an outage must delay a payment, never lose it. Business
// refusals are non-retryable failures and end the retries at once.
// Submitting retries the same way; the payment id is the bank's idempotency key, so a retry never pays twice.
const { debitAccount, reverseDebit, screenBeneficiary, submitToBank, settlePayment } =
  proxySummarizedActivities<PaymentActivities>({ startToCloseTimeout: '30 seconds', retry: retryForever });
// A poll is a question, not a commitment: a few tries, then the workflow decides what to do.
const { fetchBankStatus } = proxySummarizedActivities<PaymentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryThenAsk,
});

/**
 * Screening before the debit: the beneficiary is screened before any money moves. Payments started before this
 * change replay and finish in the first order (debit, then AML); new ones screen first. Deprecate the patch once no run from before it is open.
 */
const AML_BEFORE_DEBIT = 'aml-before-debit';

/**
 * The shape checks (field types, unknown fields, control characters, bounded waits) came after the first revision.
 * A run started before them replays past them; the patch is asked only when they find a problem, so the history
 * of a valid payment is exactly what it always was.
 */
const STRICT_INPUT_SHAPE = 'strict-input-shape';

/** A business outcome that ends the payment early: rejected with a reason, or cancelled on request. */
class PaymentStop extends Error {
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

/** Pays a beneficiary from a customer's ledger account. Returns where the payment ended. */
export async function paymentWorkflow(request: PaymentRequest): Promise<PaymentState> {
  // Asked once, in the first activation, as the interceptor asks it: both hold the same answer for the whole run.
  const messagesAfterOtherJobs = patched(MESSAGES_AFTER_OTHER_JOBS);
  if (!isRecord(request)) {
    // Nothing to build a state from: the run fails at once, with a failure no retry would change.
    throw ApplicationFailure.create({
      type: PaymentFailureType.InvalidRequest,
      message: NOT_A_PAYMENT_REQUEST,
      nonRetryable: true,
    });
  }
  const timings: PaymentTimings = { ...DEFAULT_PAYMENT_TIMINGS, ...request.timings };
  const state: PaymentState = {
    paymentId: request.paymentId,
    status: PaymentStatus.Received,
    amountMinor: request.amountMinor,
    currency: request.currency,
    fromAccountId: request.fromAccountId,
    steps: [],
    ledger: {},
    cancelRequested: false,
  };
  const compensations: Compensation[] = [];
  const bankSignals: BankStatusSignal[] = [];
  let reviewDecision: ReviewDecision | undefined;

  const isFinal = () => FINAL_PAYMENT_STATUSES.includes(state.status);
  const record = (name: string, detail?: string) =>
    state.steps.push({ name, at: new Date().toISOString(), ...(detail === undefined ? {} : { detail }) });
  // Refused requests are still described, so the amount is only formatted when it can be.
  const amount =
    Number.isSafeInteger(request.amountMinor) && typeof request.currency === 'string'
      ? formatMoney(request.amountMinor, request.currency)
      : 'an invalid amount';
  const country = request.beneficiary?.country ?? '??';
  const moveTo = (status: PaymentStatus, detail?: string) => {
    state.status = status;
    record(status, detail);
    upsertSearchAttributes([{ key: paymentSearchAttributes.status, value: status }]);
    setCurrentDetails(currentDetails(state, timings));
  };

  // --- Handlers: registered before any await so no message finds the workflow without them.
  setHandler(paymentStatusQuery, () => state);

  setHandler(bankStatusSignal, (signal) => {
    // Anyone with access to the namespace can signal, not only the webhook receiver: an event that is not a
    // well-formed final status is dropped rather than trusted.
    if (!isWellFormedBankSignal(signal)) return;
    // The bank may deliver the same event twice, or a stale one; only the first of each event counts.
    if (bankSignals.some((s) => s.eventId === signal.eventId)) return;
    bankSignals.push(signal);
  });

  if (messagesAfterOtherJobs) acceptReviews();

  setHandler(
    cancelUpdate,
    async () => {
      state.cancelRequested = true;
      await condition(isFinal);
      return { status: state.status };
    },
    {
      // Once the bank has the payment, money may already be on its way: cancelling is no longer ours to do.
      validator: () => {
        const cancellable: PaymentStatus[] = [
          PaymentStatus.Received,
          PaymentStatus.Debited,
          PaymentStatus.AwaitingAmlReview,
        ];
        if (!cancellable.includes(state.status)) {
          throw new Error(`payment ${state.paymentId} is ${state.status}; it can no longer be cancelled`);
        }
      },
    },
  );

  // --- Steps, in the order the run takes them when screening comes before the debit.
  const stopIfCancelRequested = () => {
    if (state.cancelRequested) throw new PaymentStop(PaymentStatus.Cancelled);
  };

  async function debit(): Promise<void> {
    compensations.push({
      name: 'reverse the debit',
      run: async () => {
        const { transferId } = await reverseDebit(`reverse the debit of ${amount}`, {
          paymentId: request.paymentId,
        });
        if (transferId !== null) state.ledger.reversalTransferId = transferId;
      },
    });
    try {
      const result = await debitAccount(`debit ${amount} from ${request.fromAccountId}`, {
        paymentId: request.paymentId,
        fromAccountId: request.fromAccountId,
        amountMinor: request.amountMinor,
        currency: request.currency,
      });
      state.ledger.debitTransferId = result.transferId;
      if (result.customerId !== null) {
        state.customerId = result.customerId;
        upsertSearchAttributes([{ key: paymentSearchAttributes.customerId, value: result.customerId }]);
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
    moveTo(PaymentStatus.Debited);
  }

  async function screen(): Promise<void> {
    const result = await screenBeneficiary(`AML screening of the beneficiary (${country})`, {
      paymentId: request.paymentId,
      beneficiary: request.beneficiary,
      amountMinor: request.amountMinor,
      currency: request.currency,
    });
    state.aml = {
      decision: result.decision,
      score: result.score,
      ...(result.matchedEntryId === undefined ? {} : { matchedEntryId: result.matchedEntryId }),
    };
    upsertSearchAttributes([{ key: paymentSearchAttributes.amlDecision, value: result.decision }]);
    record('aml_screened', `${result.decision} (score ${result.score})`);
    if (result.decision === AmlDecision.Hit) {
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlHit, result.reasons.join('; '));
    }
    if (result.decision === AmlDecision.Review) await awaitReview();
  }

  function acceptReviews(): void {
    setHandler(
      reviewUpdate,
      async (decision) => {
        reviewDecision = decision;
        await condition(() => state.status !== PaymentStatus.AwaitingAmlReview);
        return state;
      },
      {
        validator: (decision: ReviewDecision) => {
          if (state.status !== PaymentStatus.AwaitingAmlReview || reviewDecision !== undefined) {
            throw new Error(`payment ${state.paymentId} is ${state.status}, not awaiting AML review`);
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

  async function awaitReview(): Promise<void> {
    moveTo(PaymentStatus.AwaitingAmlReview);
    const waiting = condition(
      () => reviewDecision !== undefined || state.cancelRequested,
      timings.amlReviewTimeoutMs,
    );
    // A run from before the message ordering registers the handler only here, after the deadline's timer: it may
    // have accepted its review live in the workflow task that also carried the screening result, after the
    // commands that result led to, and replay hands both in one activation, review first (see message-order.ts).
    // With no handler yet, the SDK holds the update until this registration, after those same commands, as live.
    // Before it, a review finds no handler and is refused.
    if (!messagesAfterOtherJobs) acceptReviews();
    const decided = await waiting;
    const at = new Date().toISOString();
    if (!decided || reviewDecision === undefined) {
      if (state.cancelRequested) throw new PaymentStop(PaymentStatus.Cancelled);
      if (state.aml) state.aml.review = { outcome: 'expired', at };
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlReviewExpired);
    }
    const { decision, reviewer, note } = reviewDecision;
    const outcome = decision === 'approve' ? 'approved' : 'rejected';
    if (state.aml) state.aml.review = { outcome, reviewer, ...(note === undefined ? {} : { note }), at };
    record(`aml_review_${outcome}`);
    if (decision === 'reject') {
      throw new PaymentStop(PaymentStatus.Rejected, RejectionReason.AmlReviewRejected, note);
    }
    // Back to where the money is: debited, or (screening first) not yet.
    moveTo(
      state.ledger.debitTransferId === undefined ? PaymentStatus.Received : PaymentStatus.Debited,
      'AML review approved',
    );
  }

  async function execute(): Promise<void> {
    stopIfCancelRequested();
    // Set before the call, in the same activation: from here on the cancel validator refuses.
    moveTo(PaymentStatus.Submitted);
    try {
      const { bankReference } = await submitToBank(`submit ${amount} to the bank`, {
        paymentId: request.paymentId,
        amountMinor: request.amountMinor,
        currency: request.currency,
        beneficiary: request.beneficiary,
      });
      state.bank = { reference: bankReference };
    } catch (err) {
      if (failureType(err) !== PaymentFailureType.BankRejected) throw err;
      await compensate();
      state.reasonDetail = failureMessage(err);
      moveTo(PaymentStatus.Failed, 'the bank refused the payment');
    }
  }

  async function awaitSettlement(): Promise<BankOutcome> {
    const reference = state.bank?.reference ?? '';
    const signalled = () => bankSignals.find((s) => s.bankReference === reference);
    // The money is with the bank: a cancellation of the workflow must not abandon it half way.
    return CancellationScope.nonCancellable(async () => {
      if (await condition(() => signalled() !== undefined, timings.bankStatusTimeoutMs)) {
        return fromWebhook();
      }
      for (let attempt = 1; attempt <= timings.bankPollAttempts; attempt++) {
        const polled = await pollBank(reference);
        if (polled !== undefined) return polled;
        if (await condition(() => signalled() !== undefined, timings.bankPollIntervalMs))
          return fromWebhook();
      }
      moveTo(PaymentStatus.NeedsAttention, 'no final status from the bank, even when asked');
      for (;;) {
        if (await condition(() => signalled() !== undefined, timings.needsAttentionRecheckMs))
          return fromWebhook();
        const polled = await pollBank(reference);
        if (polled !== undefined) return polled;
      }
    });

    function fromWebhook(): BankOutcome {
      const signal = signalled();
      if (signal === undefined) throw ApplicationFailure.nonRetryable('bank signal vanished');
      state.bank = { reference, outcome: signal.outcome, source: 'webhook' };
      return signal.outcome;
    }
  }

  async function pollBank(reference: string): Promise<BankOutcome | undefined> {
    try {
      const { outcome } = await fetchBankStatus(`ask the bank about ${reference}`, {
        paymentId: request.paymentId,
        bankReference: reference,
      });
      if (outcome === 'pending') return undefined;
      state.bank = { reference, outcome, source: 'poll' };
      return outcome;
    } catch (err) {
      // The bank not answering a poll is why we poll again later, not a reason to fail the payment.
      log.warn('bank status poll failed', { paymentId: request.paymentId, error: failureMessage(err) });
      return undefined;
    }
  }

  async function finish(outcome: BankOutcome): Promise<void> {
    if (outcome === 'settled') {
      const { transferId } = await settlePayment(`settle ${amount}: clearing to settlement`, {
        paymentId: request.paymentId,
      });
      if (transferId !== null) state.ledger.settlementTransferId = transferId;
      compensations.length = 0;
      moveTo(PaymentStatus.Settled);
      return;
    }
    await compensate();
    state.reasonDetail = `the bank reported the payment ${outcome}`;
    moveTo(PaymentStatus.Failed, state.reasonDetail);
  }

  async function compensate(): Promise<void> {
    // Compensations run even when the workflow itself is being cancelled, newest first.
    await CancellationScope.nonCancellable(async () => {
      while (compensations.length > 0) {
        const compensation = compensations.pop();
        if (compensation === undefined) break;
        try {
          await compensation.run();
          record('compensated', compensation.name);
        } catch (err) {
          log.error('compensation failed', {
            paymentId: request.paymentId,
            compensation: compensation.name,
            error: failureMessage(err),
          });
          throw err;
        }
      }
    });
  }

  async function notifyCustomer(): Promise<void> {
    // Telling the customer is a courtesy: whatever happens here, the payment's outcome and money stand.
    try {
      const contact = await contactForAccount(request.fromAccountId);
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
          amount,
          ...(state.reason === undefined ? {} : { reason: state.reason }),
        },
      });
      state.notification = delivery;
      record('customer_notified', delivery.outcome);
    } catch (err) {
      state.notification = { outcome: 'undeliverable', detail: failureMessage(err) };
      log.warn('payment notification failed', { paymentId: request.paymentId, error: failureMessage(err) });
    }
  }

  // --- Run.
  // Search attributes are indexed in clear and typed: only an amount and a currency that passed as such go in, so
  // a refused request can neither wedge the run with a value the server rejects nor put arbitrary text in the index.
  const currency =
    typeof request.currency === 'string' && isCurrency(request.currency) ? request.currency : undefined;
  upsertSearchAttributes([
    { key: paymentSearchAttributes.status, value: PaymentStatus.Received },
    ...(Number.isSafeInteger(request.amountMinor)
      ? [{ key: paymentSearchAttributes.amount, value: request.amountMinor }]
      : []),
    ...(currency === undefined ? [] : [{ key: paymentSearchAttributes.currency, value: currency }]),
  ]);
  record(PaymentStatus.Received);
  setCurrentDetails(currentDetails(state, timings));
  const problems = paymentRuleProblems(request);
  const shape = paymentShapeProblems(request);
  // Refused by the rules anyway, the shape problems only make the reason more precise; otherwise they decide,
  // which is the patched change.
  if (problems.length > 0 || (shape.length > 0 && patched(STRICT_INPUT_SHAPE))) {
    problems.push(...shape.filter((problem) => !problems.includes(problem)));
  }
  if (problems.length > 0) {
    state.reason = RejectionReason.Invalid;
    state.reasonDetail = problems.join('; ');
    moveTo(PaymentStatus.Rejected, state.reasonDetail);
    return state;
  }

  try {
    if (patched(AML_BEFORE_DEBIT)) {
      await screen();
      stopIfCancelRequested();
      await debit();
    } else {
      await debit();
      stopIfCancelRequested();
      await screen();
    }
    await execute();
    if (state.status === PaymentStatus.Submitted) await finish(await awaitSettlement());
  } catch (err) {
    if (err instanceof PaymentStop) {
      await compensate();
      if (err.reason !== undefined) state.reason = err.reason;
      if (err.detail !== undefined) state.reasonDetail = err.detail;
      moveTo(err.status, err.reason);
    } else if (isCancellation(err)) {
      await compensate();
      moveTo(PaymentStatus.Cancelled, 'the workflow was cancelled');
      await CancellationScope.nonCancellable(notifyCustomer);
      throw err;
    } else {
      await compensate();
      throw err;
    }
  }
  await notifyCustomer();
  return state;
}

function isWellFormedBankSignal(signal: unknown): signal is BankStatusSignal {
  if (!isRecord(signal)) return false;
  const { bankReference, outcome, eventId } = signal;
  return (
    typeof bankReference === 'string' &&
    typeof eventId === 'string' &&
    (Object.values(BankOutcome) as unknown[]).includes(outcome)
  );
}

function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure)
    return err.cause.type ?? undefined;
  return undefined;
}

function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
