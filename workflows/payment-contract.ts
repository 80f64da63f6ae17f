/**
 * The public contract of the payment process: ids, messages, input and result types, status values. The client,
 * the webhook receiver and the workflow all import this module, so it stays free of I/O.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Currency } from '../domain/money';
import type { AmlDecision, BankOutcome, Beneficiary } from '../domain/payment-terms';
import type { DeliveryOutcome } from '../domain/customer-terms';
import { searchAttributeKeys } from '../temporal/search-attributes';

/**
 * Revision of the payment workflow's code, as replay fixture files are named (`payment-settled.v1.json`). Bump it
 * with every change made behind a patch, and record the new revision's fixtures beside the old ones.
 */
export const PAYMENT_REVISION = 'v6';

/** Workflow id of a payment: a business key, so starting the same payment twice finds the same run. */
export function paymentWorkflowId(paymentId: string): string {
  return `payment:${paymentId}`;
}

/** The payment id inside a payment workflow id, or undefined when the id is not one. */
export function paymentIdFromWorkflowId(workflowId: string): string | undefined {
  return workflowId.startsWith('payment:') ? workflowId.slice('payment:'.length) : undefined;
}

/** Where a payment stands. */
export const PaymentStatus = {
  /** Accepted by the workflow; nothing has moved yet. */
  Received: 'received',
  /** The amount left the customer's account for the in-flight clearing account. */
  Debited: 'debited',
  /** AML screening asked for a compliance officer's decision. */
  AwaitingAmlReview: 'awaiting_aml_review',
  /** Handed to the bank; its final answer is awaited. */
  Submitted: 'submitted',
  /** The bank paid the beneficiary; clearing moved to settlement. */
  Settled: 'settled',
  /** The bank failed or returned the payment; the debit was reversed. */
  Failed: 'failed',
  /** Refused by baton before reaching the bank; see the reason. Any debit was reversed. */
  Rejected: 'rejected',
  /** Cancelled on request before submission; any debit was reversed. */
  Cancelled: 'cancelled',
  /** The bank's answer never came, even when asked; an operator must look. */
  NeedsAttention: 'needs_attention',
} as const;
/** One of {@link PaymentStatus}. */
export type PaymentStatus = (typeof PaymentStatus)[keyof typeof PaymentStatus];

/** Statuses after which nothing more happens to a payment. */
export const FINAL_PAYMENT_STATUSES: readonly PaymentStatus[] = [
  PaymentStatus.Settled,
  PaymentStatus.Failed,
  PaymentStatus.Rejected,
  PaymentStatus.Cancelled,
];

/** Why a payment was rejected. */
export const RejectionReason = {
  /** The request itself was malformed (also: unknown or closed account, currency not the account's). */
  Invalid: 'invalid',
  /** The customer's balance does not cover the amount. */
  InsufficientFunds: 'insufficient_funds',
  /** The beneficiary matched a watchlist entry. */
  AmlHit: 'aml_hit',
  /** A compliance officer rejected the payment in review. */
  AmlReviewRejected: 'aml_review_rejected',
  /** Nobody decided the review before its deadline. */
  AmlReviewExpired: 'aml_review_expired',
} as const;
/** One of {@link RejectionReason}. */
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];

/** Timings of the waits inside a payment, in milliseconds; each has a production default. */
export interface PaymentTimings {
  /** How long a compliance officer has to decide an AML review. */
  amlReviewTimeoutMs: number;
  /** How long to wait for the bank's webhook before asking the bank. */
  bankStatusTimeoutMs: number;
  /** How many times to ask the bank before parking the payment. */
  bankPollAttempts: number;
  /** Pause between two questions to the bank. */
  bankPollIntervalMs: number;
  /** While parked, how often to ask the bank again. */
  needsAttentionRecheckMs: number;
}

/** Production defaults of {@link PaymentTimings}. */
export const DEFAULT_PAYMENT_TIMINGS: PaymentTimings = {
  amlReviewTimeoutMs: 2 * 24 * 60 * 60 * 1000,
  bankStatusTimeoutMs: 60 * 60 * 1000,
  bankPollAttempts: 3,
  bankPollIntervalMs: 5 * 60 * 1000,
  needsAttentionRecheckMs: 6 * 60 * 60 * 1000,
};

/** What the client asks for: pay `amountMinor` of `currency` from `fromAccountId` to the beneficiary. */
export interface PaymentRequest {
  paymentId: string;
  fromAccountId: string;
  amountMinor: number;
  currency: Currency;
  beneficiary: Beneficiary;
  /** Overrides of the default timings (demos and tests use short ones). */
  timings?: Partial<PaymentTimings>;
}

/** One step the payment went through, with the workflow time it happened. */
export interface PaymentStep {
  name: string;
  at: string;
  detail?: string;
}

/** AML outcome as the payment records it: the decision, and for a review who decided and how. */
export interface PaymentAmlRecord {
  decision: AmlDecision;
  score: number;
  /** Watchlist entry id that matched, if any. */
  matchedEntryId?: string;
  review?: { outcome: 'approved' | 'rejected' | 'expired'; reviewer?: string; note?: string; at: string };
}

/** Answer of the `status` query and the workflow's result. */
export interface PaymentState {
  paymentId: string;
  status: PaymentStatus;
  reason?: RejectionReason;
  /** Human-readable detail of a rejection or a failure. */
  reasonDetail?: string;
  amountMinor: number;
  currency: string;
  fromAccountId: string;
  customerId?: string;
  steps: PaymentStep[];
  ledger: { debitTransferId?: string; reversalTransferId?: string; settlementTransferId?: string };
  aml?: PaymentAmlRecord;
  bank?: { reference?: string; outcome?: BankOutcome; source?: 'webhook' | 'poll' };
  cancelRequested: boolean;
  /**
   * A cancellation of the workflow itself (Temporal's cancel, from the UI or CLI) that came once the payment was at
   * the bank, and was refused: the run goes on to the bank's final status.
   */
  cancellationRefused?: { at: string; reason: string };
  /** How the customer was told the outcome; `no_contact` when the account has no customer to tell. */
  notification?: { outcome: DeliveryOutcome | 'no_contact'; detail?: string };
}

/** What the bank said, delivered to the workflow by the webhook receiver. */
export interface BankStatusSignal {
  bankReference: string;
  outcome: BankOutcome;
  /** The bank's own event id; the same event delivered twice changes nothing. */
  eventId: string;
}

/** A compliance officer's decision on a payment awaiting AML review. */
export interface ReviewDecision {
  decision: 'approve' | 'reject';
  reviewer: string;
  note?: string;
}

/** Answer to a cancel request. */
export interface CancelResult {
  status: PaymentStatus;
}

/** Where the payment stands. */
export const paymentStatusQuery = defineQuery<PaymentState>('status');
/** The bank's final status. */
export const bankStatusSignal = defineSignal<[BankStatusSignal]>('bankStatus');
/** Approve or reject a payment that awaits AML review; refused otherwise. */
export const reviewUpdate = defineUpdate<PaymentState, [ReviewDecision]>('review');
/** Cancel the payment; accepted until it is submitted to the bank. */
export const cancelUpdate = defineUpdate<CancelResult, []>('cancel');

/** `type` of the non-retryable failures payment activities raise; the workflow branches on them. */
export const PaymentFailureType = {
  /** The customer's balance does not cover the amount. */
  InsufficientFunds: 'InsufficientFunds',
  /** The paying account does not exist or is not a customer account. */
  AccountNotFound: 'AccountNotFound',
  /** The payment's currency is not the paying account's. */
  CurrencyMismatch: 'CurrencyMismatch',
  /** The paying account is closed: no money leaves it any more. */
  AccountClosed: 'AccountClosed',
  /** The workflow was given something that is not a payment request at all; the run fails with it. */
  InvalidRequest: 'InvalidPaymentRequest',
  /** The bank refused the payment outright (a 4xx answer). */
  BankRejected: 'BankRejected',
  /** Settlement found no debit to settle: the ledger and the run disagree, and a person must look. */
  DebitMissing: 'DebitMissing',
} as const;
/** One of {@link PaymentFailureType}. */
export type PaymentFailureType = (typeof PaymentFailureType)[keyof typeof PaymentFailureType];

/** Typed keys of the payment search attributes; none of them ever carries personal data. */
export const paymentSearchAttributes = {
  status: searchAttributeKeys.paymentStatus,
  customerId: searchAttributeKeys.customerId,
  amlDecision: searchAttributeKeys.amlDecision,
  amount: searchAttributeKeys.paymentAmount,
  currency: searchAttributeKeys.paymentCurrency,
};
