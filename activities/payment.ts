/**
 * Payment activities: the only bridge between the payment workflow and the services. Each one derives its
 * idempotency key from the payment id and the step, so a retry (activities run at least once) never moves money
 * twice, and turns business refusals into non-retryable failures with a `type` the workflow branches on.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { AmlScreener } from '../services/aml';
import { BankRejectedError } from '../services/bank';
import type { BankClient } from '../services/bank';
import { Ledger, LedgerError } from '../services/ledger';
import type { AmlDecision, BankOutcome, Beneficiary } from '../domain/payment-terms';
import { PaymentFailureType } from '../workflows/payment-contract';
import { currentCorrelationId } from './correlation';

/** The services the payment activities drive, injected by the worker (or a test). */
export interface PaymentServices {
  ledger: Ledger;
  aml: AmlScreener;
  bank: BankClient;
}

/** Input of {@link PaymentActivities.debitAccount}. */
export interface DebitInput {
  paymentId: string;
  fromAccountId: string;
  amountMinor: number;
  currency: string;
}

/** The debit as booked: the ledger transfer and whose account paid. */
export interface DebitResult {
  transferId: string;
  customerId: string | null;
}

/** Input of the steps that only need the payment id. */
export interface PaymentRef {
  paymentId: string;
}

/** A ledger transfer made by a step, or null when there was nothing to do. */
export interface TransferResult {
  transferId: string | null;
}

/** Input of {@link PaymentActivities.screenBeneficiary}. */
export interface ScreeningInput {
  paymentId: string;
  beneficiary: Beneficiary;
  amountMinor: number;
  currency: string;
}

/** AML screening as the workflow records it: no names, only the decision, the score and the entry id. */
export interface ScreeningResult {
  decision: AmlDecision;
  score: number;
  matchedEntryId?: string;
  reasons: string[];
}

/** Input of {@link PaymentActivities.submitToBank}. */
export interface SubmitInput {
  paymentId: string;
  amountMinor: number;
  currency: string;
  beneficiary: Beneficiary;
}

/** The bank's acknowledgement of a submission. */
export interface SubmitResult {
  bankReference: string;
}

/** Input of {@link PaymentActivities.fetchBankStatus}. */
export interface BankStatusInput {
  paymentId: string;
  bankReference: string;
}

/** What the bank says when asked. */
export interface BankStatusResult {
  outcome: BankOutcome | 'pending';
}

/** Idempotency key of a payment step: the same payment and step always give the same key. */
export function stepKey(paymentId: string, step: 'debit' | 'debit-reversal' | 'settlement'): string {
  return `${paymentId}:${step}`;
}

// A business refusal is an expected outcome, not a fault: BENIGN keeps it out of the worker's warning logs.
function businessFailure(type: string, message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, category: 'BENIGN', cause });
}

/** Builds the payment activities over the given services. */
export function createPaymentActivities({ ledger, aml, bank }: PaymentServices) {
  return {
    /** Moves the amount from the customer's account to the in-flight clearing account. */
    async debitAccount(input: DebitInput): Promise<DebitResult> {
      const account = await ledger.getAccount(input.fromAccountId);
      if (account === undefined) {
        throw businessFailure(
          PaymentFailureType.AccountNotFound,
          `fromAccountId: account ${input.fromAccountId} does not exist`,
        );
      }
      // Payments leave customer accounts only; a system account paying would also be, for clearing, an account
      // paying itself.
      if (account.kind !== 'customer') {
        throw businessFailure(
          PaymentFailureType.AccountNotFound,
          `fromAccountId: account ${account.id} is a ${account.kind} account, not a customer account`,
        );
      }
      if (account.closedAt !== null) {
        throw businessFailure(
          PaymentFailureType.AccountClosed,
          `fromAccountId: account ${account.id} is closed`,
        );
      }
      if (account.currency !== input.currency) {
        throw businessFailure(
          PaymentFailureType.CurrencyMismatch,
          `currency: account ${account.id} holds ${account.currency}, not ${input.currency}`,
        );
      }
      await ledger.ensureSystemAccounts(input.currency);
      try {
        const transfer = await ledger.transfer({
          idempotencyKey: stepKey(input.paymentId, 'debit'),
          fromAccountId: account.id,
          toAccountId: Ledger.systemAccountId('clearing', input.currency),
          amountMinor: input.amountMinor,
          currency: input.currency,
          correlationId: currentCorrelationId(),
        });
        return { transferId: transfer.id, customerId: account.customerId };
      } catch (err) {
        if (err instanceof LedgerError && err.code === 'insufficient_funds') {
          throw businessFailure(
            PaymentFailureType.InsufficientFunds,
            `account ${account.id} cannot cover the payment`,
            err,
          );
        }
        // Closed between the look-up above and the transfer.
        if (err instanceof LedgerError && err.code === 'account_closed') {
          throw businessFailure(
            PaymentFailureType.AccountClosed,
            `fromAccountId: account ${account.id} is closed`,
            err,
          );
        }
        throw err;
      }
    },

    /** Puts a debited amount back on the customer's account; a no-op when the debit never happened. */
    async reverseDebit({ paymentId }: PaymentRef): Promise<TransferResult> {
      const reversal = await ledger.reverse({
        idempotencyKey: stepKey(paymentId, 'debit-reversal'),
        originalIdempotencyKey: stepKey(paymentId, 'debit'),
        correlationId: currentCorrelationId(),
      });
      return { transferId: reversal?.id ?? null };
    },

    /** Screens the beneficiary against the watchlist and the country and amount rules. */
    // Async to match the activity contract even though screening itself is in memory.
    // eslint-disable-next-line @typescript-eslint/require-await
    async screenBeneficiary(input: ScreeningInput): Promise<ScreeningResult> {
      const result = aml.screen({
        name: input.beneficiary.name,
        country: input.beneficiary.country,
        amountMinor: input.amountMinor,
        currency: input.currency,
      });
      return {
        decision: result.decision,
        score: Math.round(result.score * 1000) / 1000,
        ...(result.matchedEntry ? { matchedEntryId: result.matchedEntry.id } : {}),
        reasons: result.reasons,
      };
    },

    /** Hands the payment to the bank, with the payment id as the bank's idempotency key. */
    async submitToBank(input: SubmitInput): Promise<SubmitResult> {
      try {
        const answer = await bank.submitPayment({
          paymentId: input.paymentId,
          amountMinor: input.amountMinor,
          currency: input.currency,
          beneficiary: input.beneficiary,
          correlationId: currentCorrelationId(),
        });
        return { bankReference: answer.reference };
      } catch (err) {
        if (err instanceof BankRejectedError) {
          throw businessFailure(
            PaymentFailureType.BankRejected,
            `the bank refused the payment (${err.code})`,
            err,
          );
        }
        throw err;
      }
    },

    /** Asks the bank where a submitted payment stands. */
    async fetchBankStatus({ bankReference }: BankStatusInput): Promise<BankStatusResult> {
      const answer = await bank.getPaymentStatus(bankReference);
      return { outcome: answer.status };
    },

    /** Moves the settled amount from in-flight clearing to the settlement account. */
    async settlePayment({ paymentId }: PaymentRef): Promise<TransferResult> {
      const debit = await ledger.getTransferByKey(stepKey(paymentId, 'debit'));
      if (debit === undefined) {
        throw businessFailure(PaymentFailureType.DebitMissing, `payment ${paymentId} has no debit to settle`);
      }
      const transfer = await ledger.transfer({
        idempotencyKey: stepKey(paymentId, 'settlement'),
        fromAccountId: debit.toAccountId,
        toAccountId: Ledger.systemAccountId('settlement', debit.currency),
        amountMinor: debit.amountMinor,
        currency: debit.currency,
        correlationId: currentCorrelationId(),
      });
      return { transferId: transfer.id };
    },
  };
}

/** The payment activities, as the workflow sees their types. */
export type PaymentActivities = ReturnType<typeof createPaymentActivities>;
