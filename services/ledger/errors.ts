/** Why the ledger refused a request. Callers branch on `code`; none of these is worth retrying unchanged. */
export type LedgerErrorCode =
  /** The debit would take a customer account below zero. */
  | 'insufficient_funds'
  /** An account named by the request does not exist. */
  | 'account_not_found'
  /** An account's currency differs from the transfer's currency. */
  | 'currency_mismatch'
  /** An account named by a new transfer is closed. */
  | 'account_closed'
  /** The idempotency key was already used for a request with other parameters. */
  | 'idempotency_conflict'
  /** The transfer was already reversed under another idempotency key. */
  | 'already_reversed'
  /** The amount is not a positive safe integer of minor units. */
  | 'invalid_amount'
  /** The transfer would take a balance past ±(2^53 - 1) minor units, beyond what an amount can hold exactly. */
  | 'balance_out_of_range'
  /** An account with this id exists with another kind, currency or customer. */
  | 'account_conflict'
  /** A malformed id, key or currency code, or a transfer from an account to itself. */
  | 'invalid_input';

/** What the refused request was about; only the fields that apply are set. */
export interface LedgerErrorContext {
  readonly accountId?: string;
  readonly idempotencyKey?: string;
  readonly transferId?: string;
  readonly currency?: string;
  readonly amountMinor?: number;
}

/** A business rejection by the ledger, with a closed `code` and the ids it concerns. */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';

  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    readonly context: LedgerErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when `error` is a LedgerError, optionally with the given code. */
export function isLedgerError(error: unknown, code?: LedgerErrorCode): error is LedgerError {
  return error instanceof LedgerError && (code === undefined || error.code === code);
}
