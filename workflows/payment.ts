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
  const payment = new PaymentRun(request, messagesAfterOtherJobs);

  // --- Handlers: registered before any await so no message finds the workflow without them.
  setHandler(paymentStatusQuery, () => payment.state);
  setHandler(bankStatusSignal, (signal) => payment.receiveBankStatus(signal));
  // A run from before the message ordering registers the review handler later, while it awaits the review (see
  // PaymentRun.awaitReview for why that place, and why it must stay).
  if (messagesAfterOtherJobs) payment.acceptReviews();
  setHandler(cancelUpdate, () => payment.cancel(), { validator: () => payment.assertCancellable() });

  // --- Run.
  payment.receive();
  if (!payment.validate()) {
    await payment.announceOutcome();
    return payment.state;
  }
  try {
    if (patched(AML_BEFORE_DEBIT)) {
      await payment.screen();
      payment.stopIfCancelRequested();
      await payment.debit();
    } else {
      await payment.debit();
      payment.stopIfCancelRequested();
      await payment.screen();
    }
    // A bank that refuses the payment fails it there and then: there is no final status to wait for.
    if (await payment.submit()) await payment.settleOrReverse(await payment.awaitFinalStatus());
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
  await payment.notifyCustomer();
  await payment.announceOutcome();
  return payment.state;
}
