/**
 * baton's business metrics, recorded from workflow code through the SDK's metric meter. The meter records nothing
 * while a run replays, so a payment is counted when it happens, not again each time a worker rebuilds its run; a
 * workflow task that failed and is retried may count its part twice, which an alert on a rate does not notice. The
 * worker exports them beside the SDK's own metrics (see temporal/runtime.ts); the SDK adds the namespace, task queue
 * and workflow type to each. Labels hold statuses, reasons, currencies and channels only: never an id or a person.
 */
import { metricMeter, workflowInfo } from '@temporalio/workflow';
import type { Currency } from '../domain/money';
import { FINAL_PAYMENT_STATUSES } from './payment-contract';
import type { PaymentStatus, RejectionReason } from './payment-contract';
import type { RegistrationStatus } from './registration-contract';

/** The metric names as Prometheus shows them, for the alert rules and the tests that look for them. */
export const BUSINESS_METRICS = {
  paymentsStarted: 'baton_payments_started_total',
  paymentsEnded: 'baton_payments_ended_total',
  paymentAmountMinor: 'baton_payment_amount_minor_total',
  paymentDuration: 'baton_payment_duration_seconds',
  amlDecisions: 'baton_aml_decisions_total',
  reviewsStarted: 'baton_aml_reviews_started_total',
  notifications: 'baton_notifications_total',
  registrationsEnded: 'baton_registrations_ended_total',
} as const;

// The SDK's exporter appends `_total` to counters and the unit to histograms; these are the names before it does.
const counterName = (name: string) => name.replace(/_total$/, '');

/** A payment was received: counted by currency (or `invalid` when the request names none baton knows). */
export function countPaymentStarted(currency: Currency | undefined): void {
  metricMeter
    .createCounter(counterName(BUSINESS_METRICS.paymentsStarted), undefined, 'Payments received, by currency')
    .add(1, { currency: currency ?? 'invalid' });
}

/** What a payment's end is counted under. */
export interface PaymentEnd {
  status: PaymentStatus;
  reason?: RejectionReason;
  amountMinor: number;
  currency: Currency | undefined;
}

/**
 * A payment reached `status`: when that is an end, it is counted by outcome and reason, its amount is added under
 * its currency and outcome, and the time since the run started goes to the duration histogram. `needs_attention`
 * counts too (an operator's queue grows by one), though the run goes on.
 */
export function countPaymentStatus(end: PaymentEnd): void {
  const ending = FINAL_PAYMENT_STATUSES.includes(end.status);
  if (!ending && end.status !== 'needs_attention') return;
  const outcome = { outcome: end.status, reason: end.reason ?? 'none' };
  metricMeter
    .createCounter(
      counterName(BUSINESS_METRICS.paymentsEnded),
      undefined,
      'Payments that reached an end (or needs_attention), by outcome and reason',
    )
    .add(1, outcome);
  if (!ending) return;
  const currency = end.currency ?? 'invalid';
  if (Number.isSafeInteger(end.amountMinor) && end.amountMinor > 0) {
    metricMeter
      .createCounter(
        counterName(BUSINESS_METRICS.paymentAmountMinor),
        undefined,
        'Amounts of ended payments in minor units, by currency and outcome',
      )
      .add(end.amountMinor, { currency, outcome: end.status });
  }
  // Workflow time: the start of the run's first task, and now as the workflow sees it (both deterministic).
  const seconds = Math.max(0, Date.now() - workflowInfo().startTime.getTime()) / 1000;
  metricMeter
    .createHistogram(
      'baton_payment_duration',
      'float',
      'seconds',
      'Time from a payment run starting to its end, by outcome',
    )
    .record(seconds, { outcome: end.status });
}

/** An AML screening decided `decision` (clear, review or hit). */
export function countAmlDecision(decision: string): void {
  metricMeter
    .createCounter(counterName(BUSINESS_METRICS.amlDecisions), undefined, 'AML screening decisions')
    .add(1, { decision });
}

/** A payment started waiting for a compliance officer's review. */
export function countReviewStarted(): void {
  metricMeter
    .createCounter(
      counterName(BUSINESS_METRICS.reviewsStarted),
      undefined,
      'Payments parked for a compliance review',
    )
    .add(1);
}

/** A message to a customer ended as `outcome` (sent_email, sent_sms, fell_back_to_email, undeliverable, …). */
export function countNotification(
  purpose: 'welcome' | 'payment_outcome',
  channel: string,
  outcome: string,
): void {
  metricMeter
    .createCounter(
      counterName(BUSINESS_METRICS.notifications),
      undefined,
      'Messages to customers, by purpose, chosen channel and outcome',
    )
    .add(1, { purpose, channel, outcome });
}

/** A registration ended as `status` (completed or rejected), with its rejection reason when it has one. */
export function countRegistrationEnded(status: RegistrationStatus, reason: string | undefined): void {
  metricMeter
    .createCounter(
      counterName(BUSINESS_METRICS.registrationsEnded),
      undefined,
      'Registrations that ended, by outcome and reason',
    )
    .add(1, { outcome: status, reason: reason ?? 'none' });
}
