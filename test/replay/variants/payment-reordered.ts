/**
 * Screening before the debit made the naive way, with no patch, so the replay tests can prove they catch it: every
 * payment history recorded before the change must fail to replay with this code.
 * Never served by a worker; bundled only by the negative replay test.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { PaymentActivities } from '../../../activities/payment';
import { paymentSearchAttributes, PaymentStatus } from '../../../workflows/payment-contract';
import type { PaymentRequest } from '../../../workflows/payment-contract';

const activities = proxyActivities<PaymentActivities>({ startToCloseTimeout: '30 seconds' });

/** The payment workflow with its first two steps swapped. */
export async function paymentWorkflow(request: PaymentRequest): Promise<void> {
  upsertSearchAttributes([
    { key: paymentSearchAttributes.status, value: PaymentStatus.Received },
    { key: paymentSearchAttributes.amount, value: request.amountMinor },
    { key: paymentSearchAttributes.currency, value: String(request.currency) },
  ]);
  await activities.screenBeneficiary({
    paymentId: request.paymentId,
    beneficiary: request.beneficiary,
    amountMinor: request.amountMinor,
    currency: request.currency,
  });
  await activities.debitAccount({
    paymentId: request.paymentId,
    fromAccountId: request.fromAccountId,
    amountMinor: request.amountMinor,
    currency: request.currency,
  });
}
