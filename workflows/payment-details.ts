/**
 * The texts the Temporal UI shows for a payment run: what it waits for, since when, and what ends the wait.
 * Workflow time, so deterministic; no personal data.
 */
import { PaymentStatus } from './payment-contract';
import type { PaymentState, PaymentTimings } from './payment-contract';

/** The line the Temporal UI shows as the run's current details, for the status the payment is in now. */
export function currentDetails(state: PaymentState, timings: PaymentTimings): string {
  const now = new Date();
  // A deadline on another day carries its date, so a two-day review window does not read as "now".
  const at = (ms: number) => {
    const deadline = new Date(now.getTime() + ms);
    const sameDay = deadline.toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
    return sameDay ? clock(deadline) : `${deadline.toISOString().slice(0, 10)} ${clock(deadline)}`;
  };
  switch (state.status) {
    case PaymentStatus.Received:
      return `Screening and debiting since ${clock(now)}.`;
    case PaymentStatus.Debited:
      return `Debited at ${clock(now)}; on to the next step.`;
    case PaymentStatus.AwaitingAmlReview:
      return (
        `**Waiting for AML review** since ${clock(now)}. A compliance officer decides with the \`review\` ` +
        `update; without a decision the payment is rejected at ${at(timings.amlReviewTimeoutMs)}.`
      );
    case PaymentStatus.Submitted:
      return (
        `**Waiting for the bank's final status** since ${clock(now)}; if no webhook comes by ` +
        `${at(timings.bankStatusTimeoutMs)}, baton asks the bank.`
      );
    case PaymentStatus.NeedsAttention:
      return (
        `**Needs attention** since ${clock(now)}: the bank gave no final status, even when asked. ` +
        `Still listening, and asking again at ${at(timings.needsAttentionRecheckMs)}.`
      );
    default:
      return (
        `${state.status[0]?.toUpperCase() ?? ''}${state.status.slice(1)} at ${clock(now)}` +
        `${state.reason ? ` (${state.reason})` : ''}.`
      );
  }
}

/** A time of day as the UI texts show it: `14:03:27 UTC`. */
function clock(at: Date): string {
  return `${at.toISOString().slice(11, 19)} UTC`;
}
