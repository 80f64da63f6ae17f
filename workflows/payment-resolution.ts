/**
 * Resolving a payment whose run ended while its money was in flight (an operator terminated it at the bank): check
 * that nothing else will end it, ask the bank, then settle or reverse under the payment's own idempotency keys, tell
 * the customer and the other domains as the payment would have, and keep who decided it and why. Orchestration only.
 */
import { ApplicationFailure, log, setHandler, upsertMemo } from '@temporalio/workflow';
import type { PaymentActivities } from '../activities/payment';
import type { PaymentInspection, ResolutionActivities } from '../activities/resolution';
import { formatMoney } from '../domain/money';
import { isRecord } from '../domain/input-checks';
import { proxySummarizedActivities } from './activity-summary';
import { publishPaymentOutcome } from './domain-events';
import { contactForAccount, deliver } from './notify';
import { PaymentStatus, paymentWorkflowId } from './payment-contract';
import { resolutionQuery, ResolutionOutcome, ResolutionRefusal } from './payment-resolution-contract';
import type { Resolution, ResolutionBankStatus, ResolutionRequest } from './payment-resolution-contract';
import { retryForever, retryThenAsk } from './retry-presets';

// Reading and moving money must happen in the end: an outage delays a resolution, never half-does it.
const { inspectPayment } = proxySummarizedActivities<ResolutionActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForever,
});
// A question to the bank: a few tries, then the resolution is refused and the operator tries again later.
const { askBankForResolution } = proxySummarizedActivities<ResolutionActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryThenAsk,
});
const { settlePayment, reverseDebit } = proxySummarizedActivities<PaymentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForever,
});

/** Statuses of a run that never handed the payment to the bank (the status moves to `submitted` before the call). */
const NEVER_SUBMITTED: readonly PaymentStatus[] = [
  PaymentStatus.Received,
  PaymentStatus.Debited,
  PaymentStatus.AwaitingAmlReview,
];

// Refusals end the run as failed, nothing moved; the client's reuse policy then lets the operator try again.
function refuse(type: ResolutionRefusal, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, category: 'BENIGN' });
}

/** Ends a payment whose run is gone by what the bank says; refuses, moving nothing, when that is not safe. */
export async function paymentResolutionWorkflow(request: ResolutionRequest): Promise<Resolution> {
  // Undefined until the money has moved: the query then answers what was done.
  let resolution: Resolution | undefined = undefined;
  setHandler(resolutionQuery, () => resolution);
  const { paymentId, reviewer, note } = checked(request);

  const inspection = await inspectPayment(`look up payment ${paymentId} in Temporal and the ledger`, {
    paymentId,
  });
  const debit = refuseUnlessResolvable(paymentId, inspection);
  const { bankReference, bankStatus } = await askTheBank(paymentId, inspection);
  const amount = formatMoney(debit.amountMinor, debit.currency);

  // The payment's own keys: if its run is ever reset and gets this far, the ledger hands it these same transfers.
  let ledger: Resolution['ledger'];
  let outcome: ResolutionOutcome;
  if (bankStatus === 'settled') {
    const { transferId } = await settlePayment(`settle ${amount}: clearing to settlement`, { paymentId });
    ledger = {
      debitTransferId: debit.transferId,
      ...(transferId === null ? {} : { settlementTransferId: transferId }),
    };
    outcome = ResolutionOutcome.Settled;
  } else {
    const { transferId } = await reverseDebit(`reverse the debit of ${amount}`, { paymentId });
    ledger = {
      debitTransferId: debit.transferId,
      ...(transferId === null ? {} : { reversalTransferId: transferId }),
    };
    outcome = ResolutionOutcome.Reversed;
  }

  resolution = {
    paymentId,
    outcome,
    bankStatus,
    ...(bankReference === undefined ? {} : { bankReference }),
    amountMinor: debit.amountMinor,
    currency: debit.currency,
    fromAccountId: debit.fromAccountId,
    reviewer,
    ...(note === undefined ? {} : { note }),
    resolvedAt: new Date().toISOString(),
    ledger,
  };
  upsertMemo({ resolution: { outcome, bankStatus, reviewer, ...(note === undefined ? {} : { note }) } });
  // The reviewer is an operator on record, not a customer; the free-text note stays out of the log.
  log.info('payment resolved', { paymentId, outcome, bankStatus, reviewer });

  resolution.notification = await notifyCustomer(paymentId, debit.fromAccountId, outcome, amount);
  await announce(resolution);
  return resolution;
}

/** The request, checked: a resolution without a payment id or a reviewer is refused before anything is read. */
function checked(request: unknown): ResolutionRequest {
  const problems: string[] = [];
  const field = (name: string) => (isRecord(request) ? request[name] : undefined);
  const paymentId = field('paymentId');
  const reviewer = field('reviewer');
  const note = field('note');
  if (typeof paymentId !== 'string' || paymentId.trim() === '') problems.push('paymentId is required');
  if (typeof reviewer !== 'string' || reviewer.trim() === '') problems.push('reviewer is required');
  if (note !== undefined && typeof note !== 'string') problems.push('note must be text');
  if (problems.length > 0 || typeof paymentId !== 'string' || typeof reviewer !== 'string') {
    throw refuse(ResolutionRefusal.InvalidRequest, problems.join('; '));
  }
  return { paymentId, reviewer: reviewer.trim(), ...(typeof note === 'string' ? { note } : {}) };
}

/** The debit to resolve; refuses while the run is open, when there is none, or when it was already ended. */
function refuseUnlessResolvable(paymentId: string, { run, ledger }: PaymentInspection) {
  if (run.kind === 'open') {
    throw refuse(
      ResolutionRefusal.PaymentRunOpen,
      `payment ${paymentId} is still running (${paymentWorkflowId(paymentId)}); it will end itself`,
    );
  }
  if (ledger.debit === undefined) {
    throw refuse(
      ResolutionRefusal.NothingToResolve,
      run.kind === 'none'
        ? `no payment ${paymentId}: no run and no debit`
        : `payment ${paymentId} has no debit in the ledger: no money is in flight`,
    );
  }
  if (ledger.settlementTransferId !== undefined || ledger.reversalTransferId !== undefined) {
    const how = ledger.settlementTransferId !== undefined ? 'settled' : 'reversed';
    throw refuse(ResolutionRefusal.AlreadyResolved, `payment ${paymentId} is already ${how}; nothing moved`);
  }
  return ledger.debit;
}

/** The bank's final word on the payment; refuses while it has none. */
async function askTheBank(
  paymentId: string,
  { run }: PaymentInspection,
): Promise<{ bankReference?: string; bankStatus: ResolutionBankStatus }> {
  const bankReference = run.kind === 'closed' ? run.bankReference : undefined;
  if (bankReference === undefined) {
    // Ended before the submission was made: the bank never had the payment.
    if (run.kind === 'closed' && run.status !== undefined && NEVER_SUBMITTED.includes(run.status)) {
      return { bankStatus: 'unknown' };
    }
    throw refuse(
      ResolutionRefusal.BankReferenceUnknown,
      `payment ${paymentId} was ended while its submission to the bank was in flight; ask the bank by payment id`,
    );
  }
  let status;
  try {
    ({ status } = await askBankForResolution(`ask the bank about ${bankReference}`, {
      paymentId,
      bankReference,
    }));
  } catch {
    throw refuse(
      ResolutionRefusal.BankPending,
      `the bank did not answer about payment ${paymentId}; try again later`,
    );
  }
  if (status === 'pending') {
    throw refuse(
      ResolutionRefusal.BankPending,
      `the bank has no final status for payment ${paymentId} yet; try again later`,
    );
  }
  return { bankReference, bankStatus: status };
}

/** Tells the customer as the payment would have: the same message key, so they hear it once at most. */
async function notifyCustomer(
  paymentId: string,
  fromAccountId: string,
  outcome: ResolutionOutcome,
  amount: string,
): Promise<Resolution['notification']> {
  try {
    const contact = await contactForAccount(fromAccountId);
    if (contact === null) return { outcome: 'no_contact' };
    return await deliver({
      customerId: contact.customerId,
      channel: contact.channel,
      key: `${paymentWorkflowId(paymentId)}:outcome`,
      content: {
        kind: 'payment_outcome',
        paymentId,
        outcome: outcome === ResolutionOutcome.Settled ? 'settled' : 'failed',
        amount,
      },
    });
  } catch (err) {
    // A message is a courtesy: the money has moved and stays moved.
    log.warn('resolution notification failed', { paymentId, error: String(err) });
    return { outcome: 'undeliverable', detail: err instanceof Error ? err.message : String(err) };
  }
}

/** Publishes the payment's outcome event under the payment's own workflow id, the event id its run would use. */
async function announce(resolution: Resolution): Promise<void> {
  const status = resolution.outcome === ResolutionOutcome.Settled ? 'settled' : 'failed';
  await publishPaymentOutcome(`announce payment.${status}`, {
    workflowId: paymentWorkflowId(resolution.paymentId),
    occurredAt: resolution.resolvedAt,
    outcome: status,
    data: {
      paymentId: resolution.paymentId,
      status,
      fromAccountId: resolution.fromAccountId,
      amountMinor: resolution.amountMinor,
      currency: resolution.currency,
      ...(resolution.bankReference === undefined ? {} : { bankReference: resolution.bankReference }),
      ledger: { ...resolution.ledger },
    },
  });
}
