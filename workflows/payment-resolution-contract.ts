/**
 * The public contract of resolving a payment whose run ended without a final status (an operator terminated it while
 * it waited for the bank): the id, the input and result types, the outcomes and the refusals. The CLI, the activities
 * and the workflow import it, so it stays free of I/O.
 */
import { defineQuery } from '@temporalio/workflow';
import type { BankOutcome } from '../domain/payment-terms';
import type { DeliveryOutcome } from '../domain/customer-terms';

/** Revision of the resolution workflow's code, as its replay fixtures are named (`payment-resolution-settled.v1.json`). */
export const RESOLUTION_REVISION = 'v1';

/** Workflow id of the resolution of a payment: one per payment, so a payment is resolved at most once. */
export function paymentResolutionWorkflowId(paymentId: string): string {
  return `payment-resolution:${paymentId}`;
}

/** What an operator asks: end `paymentId` by what the bank says, on record as `reviewer`'s decision. */
export interface ResolutionRequest {
  paymentId: string;
  /** Who resolves it; kept in the result and the memo. */
  reviewer: string;
  /** Why, in the reviewer's words. */
  note?: string;
}

/** How a resolution moved the money. */
export const ResolutionOutcome = {
  /** The bank paid the beneficiary: clearing moved to settlement under the payment's settlement key. */
  Settled: 'settled',
  /** The bank failed, returned or never knew the payment: the debit was reversed under the payment's reversal key. */
  Reversed: 'reversed',
} as const;
/** One of {@link ResolutionOutcome}. */
export type ResolutionOutcome = (typeof ResolutionOutcome)[keyof typeof ResolutionOutcome];

/** What the bank said when the resolution asked; `unknown` when it has no payment under the run's reference. */
export type ResolutionBankStatus = BankOutcome | 'unknown';

/** Answer of the resolution's `resolution` query and its result: what was done, by whom and why. */
export interface Resolution {
  paymentId: string;
  outcome: ResolutionOutcome;
  bankStatus: ResolutionBankStatus;
  /** The bank reference the payment's run held, when it had one. */
  bankReference?: string;
  amountMinor: number;
  currency: string;
  fromAccountId: string;
  reviewer: string;
  note?: string;
  /** Workflow time of the resolution. */
  resolvedAt: string;
  ledger: { debitTransferId: string; settlementTransferId?: string; reversalTransferId?: string };
  /** How the customer was told; `no_contact` when the account has no customer. */
  notification?: { outcome: DeliveryOutcome | 'no_contact'; detail?: string };
}

/** The resolution of a payment, once it is decided. */
export const resolutionQuery = defineQuery<Resolution | undefined>('resolution');

/** `type` of the non-retryable failures a refused resolution ends with; nothing has moved when they are raised. */
export const ResolutionRefusal = {
  /** The request is not a resolution request (no payment id, no reviewer). */
  InvalidRequest: 'invalid_resolution_request',
  /** The payment's own run is still open: it will end the payment itself. */
  PaymentRunOpen: 'payment_run_open',
  /** The ledger holds no debit for the payment: no money is in flight. */
  NothingToResolve: 'nothing_to_resolve',
  /** The debit was already settled or reversed. */
  AlreadyResolved: 'already_resolved',
  /** The bank has no final status yet; try again later. */
  BankPending: 'bank_pending',
  /** The run was ended while its submission was in flight: whether the bank has it cannot be told from baton. */
  BankReferenceUnknown: 'bank_reference_unknown',
} as const;
/** One of {@link ResolutionRefusal}. */
export type ResolutionRefusal = (typeof ResolutionRefusal)[keyof typeof ResolutionRefusal];
