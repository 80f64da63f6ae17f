/**
 * The payment process: validate, screen the beneficiary for AML, debit the ledger, submit to the bank, await
 * the bank's final status, settle or reverse, then notify the customer. (The first order, debit then AML, still
 * runs for payments started before screening moved ahead of the debit; see AML_BEFORE_DEBIT.) This file is the
 * order; the steps themselves are in payment-run.ts. Orchestration only: every side effect is an activity, every
 * wait a durable timer or condition.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  setHandler,
} from '@temporalio/workflow';
import {
  bankStatusSignal,
  cancelUpdate,
  PaymentFailureType,
  PaymentStatus,
  paymentStatusQuery,
} from './payment-contract';
import { NOT_A_PAYMENT_REQUEST } from './payment-checks';
import type { PaymentRequest, PaymentState } from './payment-contract';
import { MESSAGES_AFTER_OTHER_JOBS } from './message-order';
import { PaymentRun, PaymentStop } from './payment-run';
import { isRecord } from '../domain/input-checks';

/**
 * Screening before the debit: the beneficiary is screened before any money moves. Payments started before this
 * change replay and finish in the first order (debit, then AML); new ones screen first. Deprecate the patch once
 * no run from before it is open.
 */
const AML_BEFORE_DEBIT = 'aml-before-debit';

/**
 * A cancellation of the workflow (Temporal's cancel, from the UI or CLI) is refused once the payment goes to the bank,
 * as the `cancel` update is: the submission, the wait, the settlement or reversal and the messages run to their end.
 * Before it, a cancellation that came during the submission dropped the call and reversed a debit the bank might pay,
 * and one that came while the run awaited the bank's answer reversed a payment the bank had settled. The patch is
 * asked as the payment reaches the bank; runs that got there before it keep the old behaviour when they replay.
 */
const CANCEL_REFUSED_AT_BANK = 'cancel-refused-at-bank';

/**
 * Lean steps: screening, the debit, the settlement, the contact look-up and the outcome event run as local
 * activities (in the worker that runs the workflow task, one marker each in the history, no task to dispatch), and a
 * workflow task's search attributes go out in one upsert, none for what the start already set. A settled payment
 * then makes two round trips through the task queues instead of seven. Asked in the first activation: a run from
 * before it replays with its regular activities and upserts, and finishes so. A run under it started after every
 * earlier payment patch shipped, so it takes their new branches without asking them: each patch asked costs the run
 * a marker and an upsert of `TemporalChangeVersion`.
 */
const LEAN_STEPS = 'lean-steps';

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
  const lean = patched(LEAN_STEPS);
  const payment = new PaymentRun(request, messagesAfterOtherJobs, lean);

  // --- Handlers: registered before any await so no message finds the workflow without them.
  setHandler(paymentStatusQuery, () => payment.state);
  setHandler(bankStatusSignal, (signal) => payment.receiveBankStatus(signal));
  // A run from before the message ordering registers the review handler later, while it awaits the review (see
  // PaymentRun.awaitReview for why that place, and why it must stay).
  if (messagesAfterOtherJobs) payment.acceptReviews();
  setHandler(cancelUpdate, () => payment.cancel(), { validator: () => payment.assertCancellable() });

  // --- Run.
  /** True once the payment went to the bank under {@link CANCEL_REFUSED_AT_BANK}: cancellations are refused. */
  let atBank = false;
  payment.receive();
  if (!payment.validate()) {
    await payment.announceOutcome();
    return payment.state;
  }
  try {
    if (lean || patched(AML_BEFORE_DEBIT)) {
      await payment.screen();
      payment.stopIfCancelRequested();
      await payment.debit();
    } else {
      await payment.debit();
      payment.stopIfCancelRequested();
      await payment.screen();
    }
    if (lean || patched(CANCEL_REFUSED_AT_BANK)) {
      // A cancellation that came before this point still ends the payment here, before the bank has it.
      if (CancellationScope.current().consideredCancelled) {
        throw new CancelledFailure('the workflow was cancelled before the payment went to the bank');
      }
      atBank = true;
      // Only the state changes, so runs recorded before this note replay as they were.
      CancellationScope.current().cancelRequested.catch(() => payment.refuseWorkflowCancellation());
      await CancellationScope.nonCancellable(() => toTheBank(payment));
    } else {
      await toTheBank(payment);
    }
  } catch (err) {
    // However the run ended early, what it did is undone first, even when the workflow itself is being cancelled.
    await payment.compensate();
    if (err instanceof PaymentStop) {
      payment.rejectOrCancel(err);
    } else if (isCancellation(err)) {
      payment.moveTo(PaymentStatus.Cancelled, 'the workflow was cancelled');
      // The workflow is being cancelled, but the customer and the other domains are still told.
      await CancellationScope.nonCancellable(async () => {
        await payment.notifyCustomer();
        await payment.announceOutcome();
      });
      throw err;
    } else {
      throw err;
    }
  }
  if (atBank) {
    // Refused at the bank: a cancellation that came since must not keep the customer and the domains from hearing.
    await CancellationScope.nonCancellable(async () => {
      await payment.notifyCustomer();
      await payment.announceOutcome();
    });
  } else {
    await payment.notifyCustomer();
    await payment.announceOutcome();
  }
  return payment.state;
}

/** Submits, awaits the final status, settles or reverses; a bank that refuses the payment fails it there and then. */
async function toTheBank(payment: PaymentRun): Promise<void> {
  if (await payment.submit()) await payment.settleOrReverse(await payment.awaitFinalStatus());
}
