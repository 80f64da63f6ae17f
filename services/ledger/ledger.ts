/**
 * The double-entry ledger: accounts with maintained balances, and transfers that each write two entries summing
 * to zero. Every rule that must hold under concurrency (idempotency, no overdrawn customer, one reversal per
 * transfer) is enforced by the database in the same transaction as the write, so it holds across processes.
 */
import { z } from 'zod';
import { openDatabase, sqlErrorCode, sqlErrorConstraint } from '../db/db';
import type { DatabaseOptions, SqlDatabase, SqlExecutor } from '../db/db';
import { LedgerError } from './errors';
import { migrate } from '../db/migrations';
import { correlationIdProblem } from '../../domain/correlation';

/** What an account is for: a customer's money, or one of the system accounts per currency. */
export type AccountKind = 'customer' | 'clearing' | 'settlement' | 'funding';

/** The kinds of system account each currency has. */
export type SystemAccountKind = Exclude<AccountKind, 'customer'>;

const ACCOUNT_KINDS: readonly AccountKind[] = ['customer', 'clearing', 'settlement', 'funding'];
const SYSTEM_ACCOUNT_KINDS: readonly SystemAccountKind[] = ['clearing', 'settlement', 'funding'];

/** An account and its balance in integer minor units. */
export interface Account {
  id: string;
  kind: AccountKind;
  customerId: string | null;
  currency: string;
  balance: number;
  createdAt: string;
  /** When the account was closed (it takes no new transfers since), or null while it is open. */
  closedAt: string | null;
}

/** One movement of money between two accounts of the same currency. */
export interface Transfer {
  id: string;
  idempotencyKey: string;
  fromAccountId: string;
  toAccountId: string;
  amountMinor: number;
  currency: string;
  /** The id of the transfer this one reverses, if it is a reversal. */
  reversalOf: string | null;
  /** The business process the transfer was booked for, or null when it was booked outside one. */
  correlationId: string | null;
  createdAt: string;
}

/** Where the ledger keeps its books; PostgreSQL when `databaseUrl` is set, otherwise embedded PGlite. */
export type LedgerOptions = DatabaseOptions;

/** Input of {@link Ledger.openAccount}. */
export interface OpenAccountInput {
  id: string;
  kind: AccountKind;
  customerId?: string | null;
  currency: string;
}

/** Input of {@link Ledger.transfer}. */
export interface TransferInput {
  idempotencyKey: string;
  fromAccountId: string;
  toAccountId: string;
  amountMinor: number;
  currency: string;
  /** The business process this transfer is for; kept with it, and not part of what a same-key retry must match. */
  correlationId?: string;
}

/** Input of {@link Ledger.reverse}. */
export interface ReverseInput {
  idempotencyKey: string;
  originalIdempotencyKey: string;
  /** The business process the reversal is for (the original's own id is not copied over). */
  correlationId?: string;
}

/** The sum of all balances in one currency. */
export interface CurrencyTotal {
  currency: string;
  sum: number;
}

const MAX_TEXT_LENGTH = 200;
const CURRENCY_CODE = /^[A-Z]{3}$/;

/** BIGINT and NUMERIC arrive as text (or a number from some drivers); only safe integers are let through. */
const safeInteger = z
  .union([z.string().regex(/^-?\d+$/), z.number().int(), z.bigint()])
  .transform((value) => BigInt(value))
  .refine(
    (value) => value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER),
    'amount is outside the safe integer range',
  )
  .transform(Number);

const timestamp = z
  .union([z.date(), z.string()])
  .transform((value) => (value instanceof Date ? value : new Date(value)).toISOString());

const accountRow = z
  .object({
    id: z.string(),
    kind: z.enum(['customer', 'clearing', 'settlement', 'funding']),
    customer_id: z.string().nullable(),
    currency: z.string(),
    balance: safeInteger,
    created_at: timestamp,
    closed_at: timestamp.nullable(),
  })
  .transform((row): Account => ({
    id: row.id,
    kind: row.kind,
    customerId: row.customer_id,
    currency: row.currency,
    balance: row.balance,
    createdAt: row.created_at,
    closedAt: row.closed_at,
  }));

const transferRow = z
  .object({
    id: z.string(),
    idempotency_key: z.string(),
    from_account_id: z.string(),
    to_account_id: z.string(),
    amount_minor: safeInteger,
    currency: z.string(),
    reversal_of: z.string().nullable(),
    correlation_id: z.string().nullable(),
    created_at: timestamp,
  })
  .transform((row): Transfer => ({
    id: row.id,
    idempotencyKey: row.idempotency_key,
    fromAccountId: row.from_account_id,
    toAccountId: row.to_account_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    reversalOf: row.reversal_of,
    correlationId: row.correlation_id,
    createdAt: row.created_at,
  }));

const totalRow = z.object({ currency: z.string(), sum: safeInteger });
const countRow = z.object({ count: safeInteger });
const lockedAccountRow = z.object({ id: z.string(), currency: z.string(), closed: z.boolean() });

const ACCOUNT_COLUMNS = 'id, kind, customer_id, currency, balance, created_at, closed_at';
const TRANSFER_COLUMNS =
  'id, idempotency_key, from_account_id, to_account_id, amount_minor, currency, reversal_of, correlation_id, created_at';

/** The ledger over one database. Open it with {@link Ledger.open}; close it when done. */
export class Ledger {
  /** Currencies whose system accounts this ledger has seen open. */
  private readonly systemCurrencies = new Set<string>();

  private constructor(
    /** The database underneath; for serving an embedded ledger and for tooling, not for writing balances. */
    readonly database: SqlDatabase,
  ) {}

  /** Opens the database the options name and brings its schema up to date. */
  static async open(options: LedgerOptions = {}): Promise<Ledger> {
    const database = await openDatabase(options);
    try {
      await migrate(database);
    } catch (error) {
      await database.close();
      throw error;
    }
    return new Ledger(database);
  }

  /** The id of a currency's system account of the given kind, such as "clearing:EUR". */
  static systemAccountId(kind: SystemAccountKind, currency: string): string {
    return `${kind}:${currency}`;
  }

  /**
   * Opens the clearing, settlement and funding accounts of a currency, if they are not open yet. Every debit asks
   * this first, so a currency found open is remembered: accounts are never deleted, and asking again would only
   * cost three round trips per payment.
   */
  async ensureSystemAccounts(currency: string): Promise<void> {
    if (this.systemCurrencies.has(currency)) return;
    for (const kind of SYSTEM_ACCOUNT_KINDS) {
      await this.openAccount({ id: Ledger.systemAccountId(kind, currency), kind, currency });
    }
    this.systemCurrencies.add(currency);
  }

  /**
   * Opens an account with a zero balance. Idempotent on `id`: opening it again with the same kind, currency and
   * customer returns the existing account; with anything else it is an `account_conflict`.
   */
  async openAccount(input: OpenAccountInput): Promise<Account> {
    const id = requireText(input.id, 'account id');
    if (!ACCOUNT_KINDS.includes(input.kind)) {
      throw new LedgerError('invalid_input', `unknown account kind "${String(input.kind)}"`, {
        accountId: id,
      });
    }
    const currency = requireCurrency(input.currency);
    const customerId = input.customerId == null ? null : requireText(input.customerId, 'customer id');

    const [inserted] = await this.database.query(
      `INSERT INTO accounts (id, kind, customer_id, currency) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING
       RETURNING ${ACCOUNT_COLUMNS}`,
      [id, input.kind, customerId, currency],
    );
    if (inserted) return accountRow.parse(inserted);

    const existing = await this.getAccount(id);
    if (!existing) throw new Error(`account ${id} conflicted on insert but cannot be read`);
    if (
      existing.kind !== input.kind ||
      existing.currency !== currency ||
      existing.customerId !== customerId
    ) {
      throw new LedgerError(
        'account_conflict',
        `account ${id} already exists as a ${existing.kind} account in ${existing.currency}`,
        { accountId: id, currency: existing.currency },
      );
    }
    return existing;
  }

  /**
   * Moves `amountMinor` from one account to another as one transfer with two entries. Idempotent on
   * `idempotencyKey`: the same key with the same parameters returns the first transfer, even when the calls race;
   * with other parameters it is an `idempotency_conflict`. The correlation id is not a parameter: a retry under
   * another one gets the first transfer, with the id it was booked under. A customer account is never taken below
   * zero.
   */
  async transfer(input: TransferInput): Promise<Transfer> {
    const idempotencyKey = requireText(input.idempotencyKey, 'idempotency key');
    const fromAccountId = requireText(input.fromAccountId, 'from account id');
    const toAccountId = requireText(input.toAccountId, 'to account id');
    const currency = requireCurrency(input.currency);
    const amountMinor = requireAmount(input.amountMinor, idempotencyKey);
    const correlationId = optionalCorrelationId(input.correlationId);
    if (fromAccountId === toAccountId) {
      throw new LedgerError(
        'invalid_input',
        `a transfer needs two different accounts, got ${fromAccountId} twice`,
        {
          accountId: fromAccountId,
          idempotencyKey,
        },
      );
    }
    const request = { idempotencyKey, fromAccountId, toAccountId, amountMinor, currency };

    return this.writeTransaction(async (tx) => {
      const earlier = await transferByKey(tx, idempotencyKey);
      if (earlier) return sameTransferOrConflict(earlier, request);

      try {
        await lockAccounts(tx, [fromAccountId, toAccountId], currency, { refuseClosed: true });
      } catch (error) {
        // While this call waited for the lock, a twin with the same key may have committed (and the account
        // been closed after it): the twin's transfer is the answer, as it would be in any serial order.
        const twin = await transferByKey(tx, idempotencyKey);
        if (twin) return sameTransferOrConflict(twin, request);
        throw error;
      }
      const created = await insertTransfer(tx, { ...request, reversalOf: null, correlationId });
      if (!created) {
        // A concurrent call with the same key committed first; its transfer is now visible.
        const winner = await transferByKey(tx, idempotencyKey);
        if (!winner) throw new Error(`transfer ${idempotencyKey} conflicted on insert but cannot be read`);
        return sameTransferOrConflict(winner, request);
      }
      await postEntries(tx, created);
      return created;
    });
  }

  /**
   * Moves a transfer's amount back (to → from) as a new transfer whose `reversalOf` is the original's id.
   * Returns null when no transfer has `originalIdempotencyKey`. Reversing again with the same key returns the same
   * reversal; with another key it is `already_reversed`. A reversal that would overdraw a customer is refused.
   */
  async reverse(input: ReverseInput): Promise<Transfer | null> {
    const idempotencyKey = requireText(input.idempotencyKey, 'idempotency key');
    const originalKey = requireText(input.originalIdempotencyKey, 'original idempotency key');
    const correlationId = optionalCorrelationId(input.correlationId);

    return this.writeTransaction(async (tx) => {
      const original = await transferByKey(tx, originalKey);
      const settled = await settledReversal(tx, idempotencyKey, original);
      if (settled !== undefined) return settled;
      if (!original) return null;

      await lockAccounts(tx, [original.toAccountId, original.fromAccountId], original.currency);
      const created = await insertTransfer(tx, {
        idempotencyKey,
        fromAccountId: original.toAccountId,
        toAccountId: original.fromAccountId,
        amountMinor: original.amountMinor,
        currency: original.currency,
        reversalOf: original.id,
        correlationId,
      });
      if (!created) {
        // A concurrent reversal (same key, or another key for the same original) committed first.
        const raced = await settledReversal(tx, idempotencyKey, original);
        if (!raced) throw new Error(`reversal ${idempotencyKey} conflicted on insert but cannot be read`);
        return raced;
      }
      await postEntries(tx, created);
      return created;
    });
  }

  /**
   * Closes a customer account: from now on no new transfer may take money out of it or put money in, while
   * reversals of its earlier transfers still land (a payment in flight can always be undone). The balance stays
   * as it is. Closing a closed account changes nothing; system accounts never close.
   */
  async closeAccount(id: string): Promise<Account> {
    const accountId = requireText(id, 'account id');
    const [row] = await this.database.query(
      `UPDATE accounts SET closed_at = coalesce(closed_at, now())
       WHERE id = $1 AND kind = 'customer'
       RETURNING ${ACCOUNT_COLUMNS}`,
      [accountId],
    );
    if (row) return accountRow.parse(row);
    const existing = await this.getAccount(accountId);
    if (!existing) {
      throw new LedgerError('account_not_found', `account ${accountId} does not exist`, { accountId });
    }
    // Opened by a concurrent call that committed after the update's snapshot: visible now, so it closes now.
    if (existing.kind === 'customer') return this.closeAccount(accountId);
    throw new LedgerError(
      'invalid_input',
      `account ${accountId} is a ${existing.kind} account; only customer accounts close`,
      {
        accountId,
      },
    );
  }

  /** The account with this id, if it exists. */
  async getAccount(id: string): Promise<Account | undefined> {
    const [row] = await this.database.query(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`, [id]);
    return row ? accountRow.parse(row) : undefined;
  }

  /** Every account, ordered by kind then id. */
  async listAccounts(): Promise<Account[]> {
    const rows = await this.database.query(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY kind, id`);
    return rows.map((row) => accountRow.parse(row));
  }

  /** The transfer recorded under this idempotency key, if any. */
  async getTransferByKey(idempotencyKey: string): Promise<Transfer | undefined> {
    return transferByKey(this.database, idempotencyKey);
  }

  /**
   * Transfers into a clearing account whose money is still there, oldest first: not reversed, and with no sibling
   * transfer under the key that closes them (the key with `keySuffix` replaced by `closedBySuffix`, as a payment's
   * `:debit` is closed by its `:settlement`).
   */
  async heldInClearing({
    keySuffix,
    closedBySuffix,
  }: {
    keySuffix: string;
    closedBySuffix: string;
  }): Promise<Transfer[]> {
    const rows = await this.database.query(
      `SELECT ${TRANSFER_COLUMNS.split(', ')
        .map((column) => `t.${column}`)
        .join(', ')}
       FROM transfers t JOIN accounts a ON a.id = t.to_account_id
       WHERE a.kind = 'clearing' AND t.reversal_of IS NULL AND right(t.idempotency_key, length($1)) = $1
         AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.reversal_of = t.id)
         AND NOT EXISTS (
           SELECT 1 FROM transfers c
           WHERE c.idempotency_key = left(t.idempotency_key, length(t.idempotency_key) - length($1)) || $2
         )
       ORDER BY t.seq`,
      [keySuffix, closedBySuffix],
    );
    return rows.map((row) => transferRow.parse(row));
  }

  /** Every transfer, oldest first. */
  async listTransfers(): Promise<Transfer[]> {
    const rows = await this.database.query(`SELECT ${TRANSFER_COLUMNS} FROM transfers ORDER BY seq`);
    return rows.map((row) => transferRow.parse(row));
  }

  /** The sum of all account balances per currency; double entry keeps every sum at zero. */
  async balanceTotals(): Promise<CurrencyTotal[]> {
    const rows = await this.database.query(
      'SELECT currency, SUM(balance) AS sum FROM accounts GROUP BY currency ORDER BY currency',
    );
    return rows.map((row) => totalRow.parse(row));
  }

  /** How many transfers lack exactly two entries summing to zero (always 0). */
  async entriesImbalance(): Promise<number> {
    const [row] = await this.database.query(`
      SELECT count(*) AS count FROM (
        SELECT t.id
        FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        GROUP BY t.id
        HAVING count(e.id) <> 2 OR coalesce(sum(e.amount_minor), 0) <> 0
      ) unbalanced`);
    return countRow.parse(row).count;
  }

  /** How many accounts have a balance that differs from the sum of their entries (always 0). */
  async balanceDrift(): Promise<number> {
    const [row] = await this.database.query(`
      SELECT count(*) AS count
      FROM accounts a
      LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM entries GROUP BY account_id) e
        ON e.account_id = a.id
      WHERE a.balance <> coalesce(e.total, 0)`);
    return countRow.parse(row).count;
  }

  /** Closes the database connections (or the embedded database). */
  async close(): Promise<void> {
    await this.database.close();
  }

  private async writeTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    try {
      return await this.database.transaction(fn);
    } catch (error) {
      // The CHECK constraints are the backstop behind the conditional debit; report each as what it means.
      if (sqlErrorCode(error) === '23514') {
        const constraint = sqlErrorConstraint(error);
        if (constraint === 'accounts_customer_balance_not_negative') {
          throw new LedgerError(
            'insufficient_funds',
            'the transfer would overdraw a customer account',
            {},
            { cause: error },
          );
        }
        if (constraint === 'accounts_balance_exact') {
          throw new LedgerError(
            'balance_out_of_range',
            'the transfer would take a balance past 2^53 - 1 minor units',
            {},
            { cause: error },
          );
        }
      }
      throw error;
    }
  }
}

interface TransferRequest {
  idempotencyKey: string;
  fromAccountId: string;
  toAccountId: string;
  amountMinor: number;
  currency: string;
}

async function transferByKey(db: SqlExecutor, idempotencyKey: string): Promise<Transfer | undefined> {
  const [row] = await db.query(`SELECT ${TRANSFER_COLUMNS} FROM transfers WHERE idempotency_key = $1`, [
    idempotencyKey,
  ]);
  return row ? transferRow.parse(row) : undefined;
}

function sameTransferOrConflict(earlier: Transfer, request: TransferRequest): Transfer {
  const same =
    earlier.reversalOf === null &&
    earlier.fromAccountId === request.fromAccountId &&
    earlier.toAccountId === request.toAccountId &&
    earlier.amountMinor === request.amountMinor &&
    earlier.currency === request.currency;
  if (same) return earlier;
  throw new LedgerError(
    'idempotency_conflict',
    `idempotency key ${request.idempotencyKey} was already used for another transfer (${earlier.id})`,
    { idempotencyKey: request.idempotencyKey, transferId: earlier.id },
  );
}

/**
 * What a reversal request resolves to without writing: the reversal made earlier under this key, an error when
 * the key or the original is already taken, or undefined when a new reversal may be written.
 */
async function settledReversal(
  tx: SqlExecutor,
  idempotencyKey: string,
  original: Transfer | undefined,
): Promise<Transfer | undefined> {
  const underKey = await transferByKey(tx, idempotencyKey);
  if (underKey) {
    if (original && underKey.reversalOf === original.id) return underKey;
    throw new LedgerError(
      'idempotency_conflict',
      `idempotency key ${idempotencyKey} was already used for another transfer (${underKey.id})`,
      { idempotencyKey, transferId: underKey.id },
    );
  }
  if (!original) return undefined;
  const [row] = await tx.query(`SELECT ${TRANSFER_COLUMNS} FROM transfers WHERE reversal_of = $1`, [
    original.id,
  ]);
  if (row) {
    const reversal = transferRow.parse(row);
    // Each statement reads its own snapshot: a concurrent call with this same key may have committed between the
    // lookup by key above and this one, and its reversal is then ours to return, not a second reversal.
    if (reversal.idempotencyKey === idempotencyKey) return reversal;
    throw new LedgerError(
      'already_reversed',
      `transfer ${original.id} was already reversed by ${reversal.id} under key ${reversal.idempotencyKey}`,
      { idempotencyKey, transferId: original.id },
    );
  }
  return undefined;
}

/**
 * Locks both accounts for the rest of the transaction, always in id order so that two transfers between the same
 * accounts in opposite directions cannot deadlock, and checks that they exist, are in `currency` and, for a new
 * transfer (`refuseClosed`), are open. Checked under the lock, so a transfer cannot slip past a closing.
 */
async function lockAccounts(
  tx: SqlExecutor,
  ids: [string, string],
  currency: string,
  { refuseClosed = false }: { refuseClosed?: boolean } = {},
): Promise<void> {
  const rows = await tx.query(
    `SELECT id, currency, closed_at IS NOT NULL AS closed FROM accounts
     WHERE id IN ($1, $2) ORDER BY id FOR NO KEY UPDATE`,
    ids,
  );
  const found = new Map(rows.map((row) => lockedAccountRow.parse(row)).map((row) => [row.id, row]));
  for (const id of ids) {
    const account = found.get(id);
    if (account === undefined) {
      throw new LedgerError('account_not_found', `account ${id} does not exist`, { accountId: id });
    }
    if (refuseClosed && account.closed) {
      throw new LedgerError('account_closed', `account ${id} is closed`, { accountId: id });
    }
    const accountCurrency = account.currency;
    if (accountCurrency !== currency) {
      throw new LedgerError('currency_mismatch', `account ${id} holds ${accountCurrency}, not ${currency}`, {
        accountId: id,
        currency,
      });
    }
  }
}

/** Inserts the transfer row; undefined when its key (or, for a reversal, its original) is already taken. */
async function insertTransfer(
  tx: SqlExecutor,
  transfer: TransferRequest & { reversalOf: string | null; correlationId: string | null },
): Promise<Transfer | undefined> {
  const [row] = await tx.query(
    `INSERT INTO transfers
       (idempotency_key, from_account_id, to_account_id, amount_minor, currency, reversal_of, correlation_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT DO NOTHING
     RETURNING ${TRANSFER_COLUMNS}`,
    [
      transfer.idempotencyKey,
      transfer.fromAccountId,
      transfer.toAccountId,
      transfer.amountMinor,
      transfer.currency,
      transfer.reversalOf,
      transfer.correlationId,
    ],
  );
  return row ? transferRow.parse(row) : undefined;
}

/** Debits `from` and credits `to`, and writes the two entries; the debit never takes a customer below zero. */
async function postEntries(tx: SqlExecutor, transfer: Transfer): Promise<void> {
  // Conditional on the balance, evaluated under the row lock, so concurrent debits cannot both pass.
  const debited = await tx.query(
    `UPDATE accounts SET balance = balance - $2
     WHERE id = $1 AND (kind <> 'customer' OR balance >= $2)
     RETURNING id`,
    [transfer.fromAccountId, transfer.amountMinor],
  );
  if (debited.length === 0) {
    throw new LedgerError(
      'insufficient_funds',
      `account ${transfer.fromAccountId} cannot cover ${transfer.amountMinor} ${transfer.currency}`,
      {
        accountId: transfer.fromAccountId,
        idempotencyKey: transfer.idempotencyKey,
        currency: transfer.currency,
        amountMinor: transfer.amountMinor,
      },
    );
  }
  await tx.query('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [
    transfer.toAccountId,
    transfer.amountMinor,
  ]);
  await tx.query(
    `INSERT INTO entries (transfer_id, account_id, amount_minor, currency)
     VALUES ($1, $2, $3, $6), ($1, $4, $5, $6)`,
    [
      transfer.id,
      transfer.fromAccountId,
      -transfer.amountMinor,
      transfer.toAccountId,
      transfer.amountMinor,
      transfer.currency,
    ],
  );
}

function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_TEXT_LENGTH) {
    throw new LedgerError(
      'invalid_input',
      `${what} must be a non-empty string of at most ${MAX_TEXT_LENGTH} characters`,
    );
  }
  return value;
}

function optionalCorrelationId(value: string | undefined): string | null {
  if (value === undefined) return null;
  const problem = correlationIdProblem(value);
  if (problem !== undefined) throw new LedgerError('invalid_input', `correlation id ${problem}`);
  return value;
}

function requireCurrency(value: unknown): string {
  if (typeof value !== 'string' || !CURRENCY_CODE.test(value)) {
    throw new LedgerError('invalid_input', `currency "${String(value)}" is not a three-letter ISO code`);
  }
  return value;
}

function requireAmount(value: unknown, idempotencyKey: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new LedgerError(
      'invalid_amount',
      `amount ${String(value)} is not a positive whole number of minor units`,
      {
        idempotencyKey,
      },
    );
  }
  return value;
}
