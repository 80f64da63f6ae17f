/**
 * The public contract of the payment process: ids, messages, input and result types, status values. The client,
 * the webhook receiver and the workflow all import this module, so it stays free of I/O.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { isCurrency } from './money';
import {
  controlCharacterProblems,
  isRecord,
  quoted,
  stringTypeProblems,
  unknownFieldProblems,
} from './input-checks';
import type { JsonRecord } from './input-checks';
import type { Currency } from './money';
import type { DeliveryOutcome } from './registration-contract';
import { searchAttributeKeys } from './search-attributes';

/**
 * Revision of the payment workflow's code, as replay fixture files are named (`payment-settled.v1.json`). Bump it
 * with every change made behind a patch, and record the new revision's fixtures beside the old ones.
 */
export const PAYMENT_REVISION = 'v3';

/** Task queue the payment and registration workflows and their activities are served on. */
export const TASK_QUEUE = 'baton';

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

/** Outcome of AML screening. */
export const AmlDecision = {
  /** No match worth a look: continue. */
  Clear: 'clear',
  /** A possible match: a person must decide. */
  Review: 'review',
  /** A confident match: reject. */
  Hit: 'hit',
} as const;
/** One of {@link AmlDecision}. */
export type AmlDecision = (typeof AmlDecision)[keyof typeof AmlDecision];

/** Final statuses the bank reports. */
export const BankOutcome = {
  /** Paid to the beneficiary. */
  Settled: 'settled',
  /** Refused by the bank. */
  Failed: 'failed',
  /** Paid, then sent back by the beneficiary's bank. */
  Returned: 'returned',
} as const;
/** One of {@link BankOutcome}. */
export type BankOutcome = (typeof BankOutcome)[keyof typeof BankOutcome];

/** Who is paid. Never put any of this in ids, search attributes or logs. */
export interface Beneficiary {
  name: string;
  /** ISO 3166-1 alpha-2 country code. */
  country: string;
  /** IBAN, or else a plain account number. */
  iban?: string;
  accountNumber?: string;
}

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

export { SEARCH_ATTRIBUTES } from './search-attributes';

const PAYMENT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const COUNTRY = /^[A-Z]{2}$/;
const IBAN = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/;
const ACCOUNT_NUMBER = /^[0-9]{4,20}$/;

/** True when the IBAN's check digits are right (ISO 13616, mod 97). */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

/** Fields a payment request may carry; anything else is refused by name. */
const PAYMENT_REQUEST_FIELDS = [
  'paymentId',
  'fromAccountId',
  'amountMinor',
  'currency',
  'beneficiary',
  'timings',
] as const satisfies readonly (keyof PaymentRequest)[];
const BENEFICIARY_FIELDS = [
  'name',
  'country',
  'iban',
  'accountNumber',
] as const satisfies readonly (keyof Beneficiary)[];
const TIMING_FIELDS = Object.keys(DEFAULT_PAYMENT_TIMINGS) as (keyof PaymentTimings)[];
/** The longest wait a payment may be given: a year. */
const MAX_WAIT_MS = 366 * 24 * 60 * 60 * 1000;
const MAX_POLL_ATTEMPTS = 100;

/**
 * Every problem with a payment request, in words, each naming its field; empty when it is valid. What a client
 * checks before starting a payment: {@link paymentRuleProblems} and {@link paymentShapeProblems} together.
 */
export function paymentRequestProblems(request: unknown): string[] {
  if (!isRecord(request)) return [NOT_A_PAYMENT_REQUEST];
  return [...new Set([...paymentRuleProblems(request), ...paymentShapeProblems(request)])];
}

/** Why a payment input that is not even an object is refused. */
export const NOT_A_PAYMENT_REQUEST = 'the payment request must be an object';

/**
 * The business rules every revision of the payment workflow has applied: a well-formed id, an account, a positive
 * whole amount in a known currency, and a beneficiary with a name, a country and an IBAN or account number.
 * Deterministic; it never throws, whatever it is given.
 */
export function paymentRuleProblems(input: JsonRecord): string[] {
  try {
    return firstRevisionRuleProblems(input);
  } catch {
    // Only a value that cannot even be read as text gets here (it used to fail the workflow task over and over);
    // the shape checks name the field.
    const shape = paymentShapeProblems(input);
    return shape.length > 0 ? shape : ['the payment request holds a value that cannot be read'];
  }
}

function firstRevisionRuleProblems(request: Partial<PaymentRequest>): string[] {
  // The first revision's expressions, kept as they were (coercions included) so that every input it decided
  // decides the same way on replay.
  const problems: string[] = [];
  if (!PAYMENT_ID.test(request.paymentId ?? '')) {
    problems.push('paymentId must be 1-64 letters, digits, "-", "_" or "." and start with a letter or digit');
  }
  if (!request.fromAccountId || request.fromAccountId.length > 64) {
    problems.push('fromAccountId is required, at most 64 characters');
  }
  if (!Number.isSafeInteger(request.amountMinor) || (request.amountMinor ?? 0) <= 0) {
    problems.push(
      `amountMinor must be a positive whole number of minor units, at most ${Number.MAX_SAFE_INTEGER}` +
        ` (got ${quoted(request.amountMinor)})`,
    );
  }
  if (!isCurrency(request.currency ?? ''))
    problems.push(`currency ${quoted(request.currency)} is not supported`);
  const b = request.beneficiary;
  if (!b || typeof b !== 'object') {
    problems.push('beneficiary is required');
    return problems;
  }
  // `typeof` is new: a name that was not text used to throw here.
  if (!b.name || typeof b.name !== 'string' || b.name.trim().length < 2 || b.name.length > 140) {
    problems.push('beneficiary name must be 2-140 characters');
  }
  if (!COUNTRY.test(b.country ?? '')) problems.push('beneficiary country must be a two-letter ISO code');
  if (b.iban === undefined && b.accountNumber === undefined) {
    problems.push('beneficiary needs an IBAN or an account number');
  }
  if (b.iban !== undefined && (!IBAN.test(b.iban) || !ibanChecksumValid(b.iban))) {
    problems.push('beneficiary IBAN is not valid');
  }
  if (b.accountNumber !== undefined && !ACCOUNT_NUMBER.test(b.accountNumber)) {
    problems.push('beneficiary account number must be 4-20 digits');
  }
  return problems;
}

/**
 * The shape checks added after the first revision: every field of the right type, no field nobody defined, no
 * control characters in ids and names, and waits within bounds. Kept apart from the rules because the workflow
 * applies them behind a patch: a run started before them must replay as it ran.
 */
export function paymentShapeProblems(request: JsonRecord): string[] {
  const problems = [
    ...unknownFieldProblems(request, PAYMENT_REQUEST_FIELDS),
    ...stringTypeProblems(request.paymentId, 'paymentId'),
    ...stringTypeProblems(request.fromAccountId, 'fromAccountId'),
    ...controlCharacterProblems(request.fromAccountId, 'fromAccountId'),
    ...stringTypeProblems(request.currency, 'currency'),
  ];
  const b = request.beneficiary;
  if (b !== undefined && b !== null && !isRecord(b)) problems.push('beneficiary must be an object');
  if (isRecord(b)) {
    problems.push(
      ...unknownFieldProblems(b, BENEFICIARY_FIELDS, 'beneficiary.'),
      ...stringTypeProblems(b.name, 'beneficiary name'),
      ...controlCharacterProblems(b.name, 'beneficiary name'),
      ...stringTypeProblems(b.country, 'beneficiary country'),
      ...stringTypeProblems(b.iban, 'beneficiary IBAN', true),
      ...stringTypeProblems(b.accountNumber, 'beneficiary account number', true),
    );
  }
  const timings = request.timings;
  if (timings !== undefined) {
    if (!isRecord(timings)) {
      problems.push('timings must be an object');
    } else {
      problems.push(...unknownFieldProblems(timings, TIMING_FIELDS, 'timings.'));
      for (const field of TIMING_FIELDS) {
        const value = timings[field];
        if (value === undefined) continue;
        const [min, max] = field === 'bankPollAttempts' ? [0, MAX_POLL_ATTEMPTS] : [1, MAX_WAIT_MS];
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
          problems.push(`timings.${field} must be a whole number from ${min} to ${max}`);
        }
      }
    }
  }
  return problems;
}
