/**
 * Payment requests for tests that park a payment at the bank: only its held webhook can end it, since no status
 * poll and no review timeout comes due while a test runs.
 */
import { AML_DEMO_NAMES } from '../../local/demo-names';
import type { PaymentRequest } from '../../workflows/payment-contract';

const HALF_AN_HOUR_MS = 30 * 60_000;

/** A clear-screening payment from the demo's rich EUR account that waits for the bank's webhook. */
export function webhookDecidedPayment(paymentId: string, amountMinor: number): PaymentRequest {
  return {
    paymentId,
    fromAccountId: 'A-1001-EUR',
    amountMinor,
    currency: 'EUR',
    beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
    timings: {
      amlReviewTimeoutMs: HALF_AN_HOUR_MS,
      bankStatusTimeoutMs: HALF_AN_HOUR_MS,
      bankPollAttempts: 1,
      bankPollIntervalMs: HALF_AN_HOUR_MS,
      needsAttentionRecheckMs: HALF_AN_HOUR_MS,
    },
  };
}
