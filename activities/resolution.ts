/**
 * Activities of resolving a payment whose run ended without a final status: what Temporal, the ledger and the bank
 * know of it. They only read; the money moves through the payment's own activities, under the payment's own keys.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { BankClient } from '../services/bank';
import { BankRejectedError } from '../services/bank';
import type { Ledger } from '../services/ledger';
import type { BankOutcome } from '../domain/payment-terms';
import { paymentStatusQuery, paymentWorkflowId } from '../workflows/payment-contract';
import type { PaymentStatus } from '../workflows/payment-contract';
import { stepKey } from './payment';

/** The services the resolution activities read, injected by the worker (or a test). */
export interface ResolutionServices {
  ledger: Ledger;
  bank: BankClient;
  /** Describes and queries the payment's run. */
  client: Client;
}

/** Where a payment's run stands in Temporal: still open, ended (how), or never started. */
export type PaymentRunState =
  | { kind: 'open' }
  | {
      kind: 'closed';
      /** How the run ended, as Temporal says it (`TERMINATED`, `COMPLETED`...). */
      execution: string;
      /** Where the payment stood when its run ended; absent when its state could not be read back. */
      status?: PaymentStatus;
      bankReference?: string;
    }
  | { kind: 'none' };

/** The payment's money as the ledger books it, by the payment's idempotency keys. */
export interface PaymentLedgerState {
  debit?: { transferId: string; fromAccountId: string; amountMinor: number; currency: string };
  settlementTransferId?: string;
  reversalTransferId?: string;
}

/** Answer of {@link ResolutionActivities.inspectPayment}. */
export interface PaymentInspection {
  run: PaymentRunState;
  ledger: PaymentLedgerState;
}

/** Input of {@link ResolutionActivities.askBankForResolution}. */
export interface ResolutionBankInput {
  paymentId: string;
  bankReference: string;
}

/** What the bank says of a reference: its status, or `unknown` when it has no such payment. */
export interface ResolutionBankAnswer {
  status: BankOutcome | 'pending' | 'unknown';
}

/** Builds the resolution activities over the given services. */
export function createResolutionActivities({ ledger, bank, client }: ResolutionServices) {
  async function runState(paymentId: string): Promise<PaymentRunState> {
    const handle = client.workflow.getHandle(paymentWorkflowId(paymentId));
    let execution: string;
    try {
      execution = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { kind: 'none' };
      throw err;
    }
    if (execution === 'RUNNING') return { kind: 'open' };
    try {
      // A closed run still answers queries: a worker replays its history to the point where it ended.
      const state = await handle.query(paymentStatusQuery);
      return {
        kind: 'closed',
        execution,
        status: state.status,
        ...(state.bank?.reference === undefined ? {} : { bankReference: state.bank.reference }),
      };
    } catch {
      // A run that failed at its first task (not a payment request at all) has no state to give.
      return { kind: 'closed', execution };
    }
  }

  async function ledgerState(paymentId: string): Promise<PaymentLedgerState> {
    const [debit, settlement, reversal] = await Promise.all([
      ledger.getTransferByKey(stepKey(paymentId, 'debit')),
      ledger.getTransferByKey(stepKey(paymentId, 'settlement')),
      ledger.getTransferByKey(stepKey(paymentId, 'debit-reversal')),
    ]);
    return {
      ...(debit === undefined
        ? {}
        : {
            debit: {
              transferId: debit.id,
              fromAccountId: debit.fromAccountId,
              amountMinor: debit.amountMinor,
              currency: debit.currency,
            },
          }),
      ...(settlement === undefined ? {} : { settlementTransferId: settlement.id }),
      ...(reversal === undefined ? {} : { reversalTransferId: reversal.id }),
    };
  }

  return {
    /** Whether the payment's run is open, how it ended, and what the ledger holds under the payment's keys. */
    async inspectPayment({ paymentId }: { paymentId: string }): Promise<PaymentInspection> {
      const [run, booked] = await Promise.all([runState(paymentId), ledgerState(paymentId)]);
      return { run, ledger: booked };
    },

    /** Asks the bank where the payment stands; a reference it does not know is `unknown`, not an error. */
    async askBankForResolution({ bankReference }: ResolutionBankInput): Promise<ResolutionBankAnswer> {
      try {
        return { status: (await bank.getPaymentStatus(bankReference)).status };
      } catch (err) {
        if (err instanceof BankRejectedError && err.httpStatus === 404) return { status: 'unknown' };
        throw err;
      }
    },
  };
}

/** The resolution activities, as the workflow sees their types. */
export type ResolutionActivities = ReturnType<typeof createResolutionActivities>;
