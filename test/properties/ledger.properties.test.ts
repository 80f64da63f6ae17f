/**
 * Property tests for the ledger: random sequences and concurrent batches of account openings and closings,
 * transfers (fresh, repeated and conflicting idempotency keys) and reversals, checked against a small reference
 * model of the books and against every invariant double entry promises, read back from the database itself.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../support/fast-check';
import { Ledger, isLedgerError } from '../../services/ledger';
import type {
  Account,
  AccountKind,
  LedgerErrorCode,
  OpenAccountInput,
  ReverseInput,
  Transfer,
  TransferInput,
} from '../../services/ledger';
import { ledgerOnPostgresPerSuite } from '../support/ledger';

const CURRENCIES = ['EUR', 'USD'] as const;
type Currency = (typeof CURRENCIES)[number];
const SYSTEM_KINDS = ['funding', 'clearing', 'settlement'] as const;

/** The largest balance either way that the ledger reads back exactly. */
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** Generous: the machine is shared, and a failing property shrinks through many more runs than it passes. */
const PROPERTY_TIMEOUT_MS = 240_000;

// ---------------------------------------------------------------------------------------------------------------
// Operations as sent to the ledger, and what came back.

type Op =
  | { type: 'open'; input: OpenAccountInput }
  | { type: 'close'; accountId: string }
  | { type: 'transfer'; input: TransferInput }
  | { type: 'reverse'; input: ReverseInput };

type Observed =
  | { kind: 'account'; account: Account }
  | { kind: 'transfer'; transfer: Transfer }
  | { kind: 'none' }
  | { kind: 'refused'; code: LedgerErrorCode };

/** Runs one operation; a LedgerError is an outcome, anything else is a failure of the property. */
async function perform(ledger: Ledger, op: Op): Promise<Observed> {
  try {
    switch (op.type) {
      case 'open':
        return { kind: 'account', account: await ledger.openAccount(op.input) };
      case 'close':
        return { kind: 'account', account: await ledger.closeAccount(op.accountId) };
      case 'transfer':
        return { kind: 'transfer', transfer: await ledger.transfer(op.input) };
      case 'reverse': {
        const reversal = await ledger.reverse(op.input);
        return reversal ? { kind: 'transfer', transfer: reversal } : { kind: 'none' };
      }
    }
  } catch (error) {
    if (isLedgerError(error)) return { kind: 'refused', code: error.code };
    throw error;
  }
}

function describeOp(op: Op): string {
  switch (op.type) {
    case 'open':
      return `open ${op.input.id} (${op.input.kind}, ${op.input.currency})`;
    case 'close':
      return `close ${op.accountId}`;
    case 'transfer':
      return `transfer ${op.input.idempotencyKey}: ${op.input.amountMinor} ${op.input.currency} ${op.input.fromAccountId} -> ${op.input.toAccountId}`;
    case 'reverse':
      return `reverse ${op.input.idempotencyKey} of ${op.input.originalIdempotencyKey}`;
  }
}

function describeObserved(observed: Observed): string {
  switch (observed.kind) {
    case 'account':
      return `account ${observed.account.id}`;
    case 'transfer':
      return `transfer ${observed.transfer.idempotencyKey}`;
    case 'none':
      return 'null';
    case 'refused':
      return `refused: ${observed.code}`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The reference model: accounts with balances, transfers by key, and which transfer reversed which.

interface ModelAccount {
  id: string;
  kind: AccountKind;
  customerId: string | null;
  currency: string;
  balance: bigint;
  closed: boolean;
}

interface ModelTransfer {
  from: string;
  to: string;
  amount: number;
  currency: string;
  /** The idempotency key of the transfer this one reverses. */
  reversalOf: string | null;
}

type Expected =
  | { kind: 'account'; id: string }
  | { kind: 'transfer'; key: string }
  | { kind: 'none' }
  | { kind: 'refused'; code: LedgerErrorCode };

/** The books as the ledger's rules say they must be after a serial order of operations. */
class BooksModel {
  private constructor(
    readonly accounts: Map<string, ModelAccount>,
    readonly transfers: Map<string, ModelTransfer>,
    /** Original key → key of its reversal. */
    readonly reversedBy: Map<string, string>,
  ) {}

  /** Books holding only the system accounts of every test currency. */
  static withSystemAccounts(): BooksModel {
    const model = new BooksModel(new Map(), new Map(), new Map());
    for (const currency of CURRENCIES) {
      for (const kind of SYSTEM_KINDS) {
        const id = Ledger.systemAccountId(kind, currency);
        model.accounts.set(id, { id, kind, customerId: null, currency, balance: 0n, closed: false });
      }
    }
    return model;
  }

  clone(): BooksModel {
    return new BooksModel(
      new Map([...this.accounts].map(([id, account]) => [id, { ...account }])),
      new Map(this.transfers),
      new Map(this.reversedBy),
    );
  }

  apply(op: Op): Expected {
    switch (op.type) {
      case 'open':
        return this.open(op.input);
      case 'close':
        return this.close(op.accountId);
      case 'transfer':
        return this.transfer(op.input);
      case 'reverse':
        return this.reverse(op.input);
    }
  }

  private open(input: OpenAccountInput): Expected {
    const customerId = input.customerId ?? null;
    const existing = this.accounts.get(input.id);
    if (!existing) {
      this.accounts.set(input.id, {
        id: input.id,
        kind: input.kind,
        customerId,
        currency: input.currency,
        balance: 0n,
        closed: false,
      });
      return { kind: 'account', id: input.id };
    }
    const same =
      existing.kind === input.kind &&
      existing.currency === input.currency &&
      existing.customerId === customerId;
    return same ? { kind: 'account', id: input.id } : { kind: 'refused', code: 'account_conflict' };
  }

  private close(id: string): Expected {
    const account = this.accounts.get(id);
    if (!account) return { kind: 'refused', code: 'account_not_found' };
    if (account.kind !== 'customer') return { kind: 'refused', code: 'invalid_input' };
    account.closed = true;
    return { kind: 'account', id };
  }

  private transfer(input: TransferInput): Expected {
    const key = input.idempotencyKey;
    const earlier = this.transfers.get(key);
    if (earlier) {
      const same =
        earlier.reversalOf === null &&
        earlier.from === input.fromAccountId &&
        earlier.to === input.toAccountId &&
        earlier.amount === input.amountMinor &&
        earlier.currency === input.currency;
      return same ? { kind: 'transfer', key } : { kind: 'refused', code: 'idempotency_conflict' };
    }
    return this.post(
      key,
      {
        from: input.fromAccountId,
        to: input.toAccountId,
        amount: input.amountMinor,
        currency: input.currency,
        reversalOf: null,
      },
      { refuseClosed: true },
    );
  }

  private reverse(input: ReverseInput): Expected {
    const key = input.idempotencyKey;
    const originalKey = input.originalIdempotencyKey;
    const original = this.transfers.get(originalKey);
    const underKey = this.transfers.get(key);
    if (underKey) {
      return original && underKey.reversalOf === originalKey
        ? { kind: 'transfer', key }
        : { kind: 'refused', code: 'idempotency_conflict' };
    }
    if (!original) return { kind: 'none' };
    if (this.reversedBy.has(originalKey)) return { kind: 'refused', code: 'already_reversed' };
    return this.post(key, {
      from: original.to,
      to: original.from,
      amount: original.amount,
      currency: original.currency,
      reversalOf: originalKey,
    });
  }

  /**
   * Checks the accounts as the ledger does (each in turn: exists, open when a new transfer asks, in the currency),
   * then the balances, then moves the money.
   */
  private post(key: string, transfer: ModelTransfer, { refuseClosed = false } = {}): Expected {
    const accounts: ModelAccount[] = [];
    for (const id of [transfer.from, transfer.to]) {
      const account = this.accounts.get(id);
      if (!account) return { kind: 'refused', code: 'account_not_found' };
      if (refuseClosed && account.closed) return { kind: 'refused', code: 'account_closed' };
      if (account.currency !== transfer.currency) return { kind: 'refused', code: 'currency_mismatch' };
      accounts.push(account);
    }
    const [from, to] = accounts;
    if (!from || !to) throw new Error('both accounts were checked above');
    const amount = BigInt(transfer.amount);
    if (from.kind === 'customer' && from.balance < amount) {
      return { kind: 'refused', code: 'insufficient_funds' };
    }
    if (from.balance - amount < -MAX_EXACT || to.balance + amount > MAX_EXACT) {
      return { kind: 'refused', code: 'balance_out_of_range' };
    }
    from.balance -= amount;
    to.balance += amount;
    this.transfers.set(key, transfer);
    if (transfer.reversalOf !== null) this.reversedBy.set(transfer.reversalOf, key);
    return { kind: 'transfer', key };
  }
}

function sameKindOfOutcome(expected: Expected, observed: Observed): boolean {
  if (expected.kind !== observed.kind) return false;
  if (expected.kind === 'refused' && observed.kind === 'refused') return expected.code === observed.code;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Generated commands, resolved against what was declared before them into concrete operations.

/** The same request sent `copies` times in a row, under one key or under a key each. */
interface Burst {
  copies: number;
  keys: 'same' | 'distinct';
}

type Command =
  | { t: 'open'; currency: Currency; fund: number }
  | { t: 'reopen'; pick: number; conflicting: boolean }
  | { t: 'close'; pick: number; system: boolean }
  | {
      t: 'transfer';
      from: number;
      to: number;
      amount: number;
      target: 'same' | 'other-currency' | 'missing';
      burst: Burst;
    }
  | { t: 'reverse'; original: number; unknown: boolean; burst: Burst }
  | { t: 'repeat'; pick: number; change: 'none' | 'params' | 'kind' };

/** One of `choices`, each as often as its weight says; shrinks towards the first. */
function weighted<T>(choices: readonly [T, number][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([value, weight]) => ({ weight, arbitrary: fc.constant(value) })));
}

/** Mostly small amounts, so customers both can and cannot cover them; now and then one near the 2^53 limit. */
const amountArb = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 2_500 }) },
  { weight: 1, arbitrary: fc.integer({ min: Number.MAX_SAFE_INTEGER - 10, max: Number.MAX_SAFE_INTEGER }) },
);

/** Mostly one request; sometimes a few at once, so that batches race them against each other. */
const burstArb: fc.Arbitrary<Burst> = fc.record({
  copies: weighted([
    [1, 6],
    [2, 1],
    [3, 1],
  ]),
  keys: weighted<'same' | 'distinct'>([
    ['distinct', 1],
    ['same', 1],
  ]),
});

const openArb = fc.record({
  t: fc.constant('open' as const),
  currency: fc.constantFrom(...CURRENCIES),
  fund: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000 })),
});

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: openArb },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('reopen' as const), pick: fc.nat(), conflicting: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('close' as const),
      pick: fc.nat(),
      system: weighted([
        [false, 4],
        [true, 1],
      ]),
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant('transfer' as const),
      from: fc.nat(),
      to: fc.nat(),
      amount: amountArb,
      target: weighted<'same' | 'other-currency' | 'missing'>([
        ['same', 8],
        ['other-currency', 1],
        ['missing', 1],
      ]),
      burst: burstArb,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('reverse' as const),
      original: fc.nat(),
      unknown: weighted([
        [false, 6],
        [true, 1],
      ]),
      burst: burstArb,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('repeat' as const),
      pick: fc.nat(),
      change: weighted<'none' | 'params' | 'kind'>([
        ['none', 2],
        ['params', 1],
        ['kind', 1],
      ]),
    }),
  },
);

function at<T>(items: readonly T[], index: number): T {
  const item = items[index % items.length];
  if (item === undefined) throw new Error('picked from an empty list');
  return item;
}

interface DeclaredAccount {
  id: string;
  kind: AccountKind;
  customerId: string | null;
  currency: string;
}

/**
 * Turns commands into operations. Resolution depends only on earlier commands (never on outcomes), so the same
 * operations can be run in sequence or in concurrent batches.
 */
function resolve(commands: readonly Command[]): Op[] {
  const accounts: DeclaredAccount[] = CURRENCIES.flatMap((currency) =>
    SYSTEM_KINDS.map((kind) => ({
      id: Ledger.systemAccountId(kind, currency),
      kind,
      customerId: null,
      currency,
    })),
  );
  const sent: (Op & { type: 'transfer' | 'reverse' })[] = [];
  const ops: Op[] = [];
  const emit = (op: Op): void => {
    ops.push(op);
    if (op.type === 'transfer' || op.type === 'reverse') sent.push(op);
  };

  commands.forEach((command, n) => {
    switch (command.t) {
      case 'open': {
        const account = {
          id: `cust${n}`,
          kind: 'customer' as const,
          customerId: `person${n}`,
          currency: command.currency,
        };
        accounts.push(account);
        emit({ type: 'open', input: account });
        if (command.fund > 0) {
          emit({
            type: 'transfer',
            input: {
              idempotencyKey: `fund${n}`,
              fromAccountId: Ledger.systemAccountId('funding', command.currency),
              toAccountId: account.id,
              amountMinor: command.fund,
              currency: command.currency,
            },
          });
        }
        return;
      }
      case 'reopen': {
        const customers = accounts.filter((account) => account.kind === 'customer');
        if (customers.length === 0) return;
        const account = at(customers, command.pick);
        const currency = command.conflicting
          ? account.currency === 'EUR'
            ? 'USD'
            : 'EUR'
          : account.currency;
        emit({ type: 'open', input: { ...account, currency } });
        return;
      }
      case 'close': {
        const customers = accounts.filter((account) => account.kind === 'customer');
        const pool = command.system || customers.length === 0 ? accounts : customers;
        emit({ type: 'close', accountId: at(pool, command.pick).id });
        return;
      }
      case 'transfer': {
        const from = at(accounts, command.from);
        const candidates =
          command.target === 'missing'
            ? [{ id: `nobody${n}` }]
            : accounts.filter((account) =>
                command.target === 'same'
                  ? account.currency === from.currency && account.id !== from.id
                  : account.currency !== from.currency,
              );
        const toAccountId = at(candidates, command.to).id;
        for (const idempotencyKey of burstKeys(`t${n}`, command.burst)) {
          emit({
            type: 'transfer',
            input: {
              idempotencyKey,
              fromAccountId: from.id,
              toAccountId,
              amountMinor: command.amount,
              currency: from.currency,
            },
          });
        }
        return;
      }
      case 'reverse': {
        const keys = sent.map((op) => op.input.idempotencyKey);
        const originalIdempotencyKey =
          command.unknown || keys.length === 0 ? `never${n}` : at(keys, command.original);
        for (const idempotencyKey of burstKeys(`r${n}`, command.burst)) {
          emit({ type: 'reverse', input: { idempotencyKey, originalIdempotencyKey } });
        }
        return;
      }
      case 'repeat': {
        if (sent.length === 0) return;
        const earlier = at(sent, command.pick);
        emit(repeated(earlier, command.change, sent, n));
        return;
      }
    }
  });
  return ops;
}

function burstKeys(key: string, { copies, keys }: Burst): string[] {
  return Array.from({ length: copies }, (_, copy) =>
    keys === 'same' || copy === 0 ? key : `${key}.${copy}`,
  );
}

/** An earlier request sent again: as it was, with other parameters, or as the other kind of request. */
function repeated(
  earlier: Op & { type: 'transfer' | 'reverse' },
  change: 'none' | 'params' | 'kind',
  sent: readonly (Op & { type: 'transfer' | 'reverse' })[],
  n: number,
): Op {
  const key = earlier.input.idempotencyKey;
  const otherKey = sent.map((op) => op.input.idempotencyKey).find((k) => k !== key) ?? `never${n}`;
  if (earlier.type === 'transfer') {
    if (change === 'none') return { type: 'transfer', input: { ...earlier.input } };
    if (change === 'params') {
      const amount = earlier.input.amountMinor;
      const other = amount === Number.MAX_SAFE_INTEGER ? amount - 1 : amount + 1;
      return { type: 'transfer', input: { ...earlier.input, amountMinor: other } };
    }
    return { type: 'reverse', input: { idempotencyKey: key, originalIdempotencyKey: otherKey } };
  }
  if (change === 'none') return { type: 'reverse', input: { ...earlier.input } };
  if (change === 'params') {
    return { type: 'reverse', input: { idempotencyKey: key, originalIdempotencyKey: otherKey } };
  }
  return {
    type: 'transfer',
    input: {
      idempotencyKey: key,
      fromAccountId: Ledger.systemAccountId('funding', 'EUR'),
      toAccountId: Ledger.systemAccountId('clearing', 'EUR'),
      amountMinor: 1,
      currency: 'EUR',
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The books as the database holds them, and the invariants checked on them.

interface BooksState {
  accounts: Record<string, { kind: string; customerId: string | null; currency: string; balance: string }>;
  transfers: Record<string, ModelTransfer>;
}

function stateOfModel(model: BooksModel): BooksState {
  const accounts: BooksState['accounts'] = {};
  for (const account of [...model.accounts.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    accounts[account.id] = {
      kind: account.kind,
      customerId: account.customerId,
      currency: account.currency,
      balance: account.balance.toString(),
    };
  }
  const transfers: BooksState['transfers'] = {};
  for (const key of [...model.transfers.keys()].sort()) {
    const transfer = model.transfers.get(key);
    if (transfer) transfers[key] = { ...transfer };
  }
  return { accounts, transfers };
}

interface Snapshot {
  state: BooksState;
  idsByKey: Map<string, string>;
}

/** Reads accounts and transfers back through the ledger's own API. */
async function snapshot(ledger: Ledger): Promise<Snapshot> {
  const accounts: BooksState['accounts'] = {};
  for (const account of [...(await ledger.listAccounts())].sort((a, b) => a.id.localeCompare(b.id))) {
    accounts[account.id] = {
      kind: account.kind,
      customerId: account.customerId,
      currency: account.currency,
      balance: String(account.balance),
    };
  }
  const listed = await ledger.listTransfers();
  const keysById = new Map(listed.map((transfer) => [transfer.id, transfer.idempotencyKey]));
  const transfers: BooksState['transfers'] = {};
  for (const transfer of [...listed].sort((a, b) => a.idempotencyKey.localeCompare(b.idempotencyKey))) {
    const reversalOf = transfer.reversalOf === null ? null : keysById.get(transfer.reversalOf);
    assert.ok(
      reversalOf !== undefined,
      `transfer ${transfer.idempotencyKey} reverses a transfer that is missing`,
    );
    transfers[transfer.idempotencyKey] = {
      from: transfer.fromAccountId,
      to: transfer.toAccountId,
      amount: transfer.amountMinor,
      currency: transfer.currency,
      reversalOf,
    };
  }
  return { state: { accounts, transfers }, idsByKey: new Map(listed.map((t) => [t.idempotencyKey, t.id])) };
}

/** Every invariant of the books, read from the database with plain SQL and through the ledger's own checks. */
async function assertInvariants(ledger: Ledger): Promise<void> {
  const db = ledger.database;
  for (const total of await ledger.balanceTotals()) {
    assert.equal(total.sum, 0, `balances in ${total.currency} sum to zero`);
  }
  const sqlTotals = await db.query(
    'SELECT currency, SUM(balance)::text AS sum FROM accounts GROUP BY currency HAVING SUM(balance) <> 0',
  );
  assert.deepEqual(sqlTotals, [], 'no currency whose balances sum to anything but zero');
  assert.equal(await ledger.entriesImbalance(), 0, 'entriesImbalance');
  assert.equal(await ledger.balanceDrift(), 0, 'balanceDrift');

  const malformed = await db.query(`
    SELECT t.idempotency_key FROM transfers t
    WHERE (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id) <> 2
       OR NOT EXISTS (SELECT 1 FROM entries e WHERE e.transfer_id = t.id AND e.account_id = t.from_account_id
                        AND e.amount_minor = -t.amount_minor AND e.currency = t.currency)
       OR NOT EXISTS (SELECT 1 FROM entries e WHERE e.transfer_id = t.id AND e.account_id = t.to_account_id
                        AND e.amount_minor = t.amount_minor AND e.currency = t.currency)`);
  assert.deepEqual(malformed, [], 'every transfer has one debit and one credit entry of its amount');

  const drifted = await db.query(`
    SELECT a.id, a.balance::text AS balance, coalesce(sum(e.amount_minor), 0)::text AS entries
    FROM accounts a LEFT JOIN entries e ON e.account_id = a.id
    GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(e.amount_minor), 0)`);
  assert.deepEqual(drifted, [], 'every balance equals the sum of its entries');

  const foreign = await db.query(`
    SELECT e.id FROM entries e JOIN accounts a ON a.id = e.account_id WHERE a.currency <> e.currency`);
  assert.deepEqual(foreign, [], 'every entry is in its account currency');

  const overdrawn = await db.query("SELECT id FROM accounts WHERE kind = 'customer' AND balance < 0");
  assert.deepEqual(overdrawn, [], 'no customer balance is negative');

  const twiceReversed = await db.query(
    'SELECT reversal_of FROM transfers WHERE reversal_of IS NOT NULL GROUP BY reversal_of HAVING count(*) > 1',
  );
  assert.deepEqual(twiceReversed, [], 'every transfer is reversed at most once');

  const wrongReversals = await db.query(`
    SELECT r.idempotency_key FROM transfers r JOIN transfers o ON o.id = r.reversal_of
    WHERE r.from_account_id <> o.to_account_id OR r.to_account_id <> o.from_account_id
       OR r.amount_minor <> o.amount_minor OR r.currency <> o.currency`);
  assert.deepEqual(wrongReversals, [], 'every reversal moves exactly its original back');

  const twiceApplied = await db.query(
    'SELECT idempotency_key FROM transfers GROUP BY idempotency_key HAVING count(*) > 1',
  );
  assert.deepEqual(twiceApplied, [], 'every idempotency key is applied at most once');
}

/** What each caller was told about a key must be the transfer the books hold under it. */
function assertReturnedTransfers(results: readonly { op: Op; observed: Observed }[], books: Snapshot): void {
  for (const { op, observed } of results) {
    if (observed.kind !== 'transfer' || (op.type !== 'transfer' && op.type !== 'reverse')) continue;
    const transfer = observed.transfer;
    const key = op.input.idempotencyKey;
    assert.equal(transfer.idempotencyKey, key, `${describeOp(op)} returned the transfer of its own key`);
    assert.equal(transfer.id, books.idsByKey.get(key), `${describeOp(op)} returned the recorded transfer`);
    const held = books.state.transfers[key];
    assert.ok(held, `${describeOp(op)}: the books hold a transfer under ${key}`);
    assert.deepEqual(
      {
        from: transfer.fromAccountId,
        to: transfer.toAccountId,
        amount: transfer.amountMinor,
        currency: transfer.currency,
        reversalOf: transfer.reversalOf,
      },
      {
        ...held,
        reversalOf: held.reversalOf === null ? null : books.idsByKey.get(held.reversalOf),
      },
      `${describeOp(op)} returned what the books hold`,
    );
  }
}

async function resetBooks(ledger: Ledger): Promise<void> {
  // CASCADE: tables added by later migrations may refer to accounts.
  await ledger.database.exec('TRUNCATE entries, transfers, accounts CASCADE');
  // Opened one by one: the ledger remembers currencies it has seen open, and the truncate went behind its back.
  for (const currency of CURRENCIES) {
    for (const kind of SYSTEM_KINDS) {
      await ledger.openAccount({ id: Ledger.systemAccountId(kind, currency), kind, currency });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The properties.

/** Runs operations one at a time; every outcome, and the final books, must be what the model says. */
async function runSequentially(ledger: Ledger, ops: readonly Op[]): Promise<void> {
  await resetBooks(ledger);
  const model = BooksModel.withSystemAccounts();
  const results: { op: Op; observed: Observed }[] = [];
  for (const [step, op] of ops.entries()) {
    const expected = model.apply(op);
    const observed = await perform(ledger, op);
    assert.ok(
      sameKindOfOutcome(expected, observed),
      `step ${step}, ${describeOp(op)}: expected ${JSON.stringify(expected)}, got ${describeObserved(observed)}`,
    );
    if (observed.kind === 'account') {
      const account = model.accounts.get(observed.account.id);
      assert.ok(account, `the model holds ${observed.account.id}`);
      const { id, kind, customerId, currency, balance, closedAt } = observed.account;
      assert.deepEqual(
        { id, kind, customerId, currency, balance, closed: closedAt !== null },
        { ...account, balance: Number(account.balance) },
        `step ${step}, ${describeOp(op)}`,
      );
    }
    results.push({ op, observed });
  }
  await assertInvariants(ledger);
  const books = await snapshot(ledger);
  assert.deepEqual(books.state, stateOfModel(model), 'the books are what the model implies');
  assertReturnedTransfers(results, books);
}

/**
 * Every serial order of `batch` applied to `model` that yields the outcomes the concurrent run observed, depth
 * first; the order that explains a batch becomes the model for the next.
 */
function* explanations(
  model: BooksModel,
  batch: readonly { op: Op; observed: Observed }[],
): Generator<BooksModel> {
  if (batch.length === 0) {
    yield model;
    return;
  }
  for (const [index, { op, observed }] of batch.entries()) {
    const next = model.clone();
    if (!sameKindOfOutcome(next.apply(op), observed)) continue;
    yield* explanations(next, [...batch.slice(0, index), ...batch.slice(index + 1)]);
  }
}

/** Chops operations into batches of the generated sizes (repeating the sizes as needed). */
function batchesOf(ops: readonly Op[], sizes: readonly number[]): Op[][] {
  const batches: Op[][] = [];
  let start = 0;
  for (let i = 0; start < ops.length; i += 1) {
    const size = at(sizes, i);
    batches.push(ops.slice(start, start + size));
    start += size;
  }
  return batches;
}

/**
 * Runs each batch with all its operations at once on a pool of connections. The outcomes of a batch must be
 * those of some serial order of it, and the books after it must be what that order leaves.
 */
async function runInConcurrentBatches(
  ledger: Ledger,
  setup: readonly Op[],
  batches: readonly Op[][],
): Promise<void> {
  await resetBooks(ledger);
  let model = BooksModel.withSystemAccounts();
  const results: { op: Op; observed: Observed }[] = [];
  for (const op of setup) {
    const expected = model.apply(op);
    const observed = await perform(ledger, op);
    assert.ok(
      sameKindOfOutcome(expected, observed),
      `setup ${describeOp(op)}: got ${describeObserved(observed)}`,
    );
    results.push({ op, observed });
  }
  for (const [number, batch] of batches.entries()) {
    const observed = await Promise.all(batch.map((op) => perform(ledger, op)));
    const outcomes = batch.map((op, i) => ({ op, observed: at(observed, i) }));
    results.push(...outcomes);
    const books = await snapshot(ledger);
    let explained: BooksModel | undefined;
    for (const candidate of explanations(model, outcomes)) {
      if (isDeepStrictEqual(stateOfModel(candidate), books.state)) {
        explained = candidate;
        break;
      }
    }
    assert.ok(
      explained,
      `batch ${number}: no serial order explains these outcomes and books:\n` +
        outcomes.map(({ op, observed: o }) => `  ${describeOp(op)} => ${describeObserved(o)}`).join('\n') +
        `\nbooks: ${JSON.stringify(books.state)}`,
    );
    model = explained;
  }
  await assertInvariants(ledger);
  const books = await snapshot(ledger);
  assert.deepEqual(books.state, stateOfModel(model));
  assertReturnedTransfers(results, books);
}

function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

const sequenceArb = fc
  .tuple(
    fc.array(openArb, { minLength: 1, maxLength: 4 }),
    fc.array(commandArb, { minLength: 1, maxLength: 40, size: 'medium' }),
  )
  .map(([opens, commands]) => resolve([...opens, ...commands]));

describe('ledger properties on PostgreSQL', () => {
  const suiteLedger = ledgerOnPostgresPerSuite('ledger_props', 8);

  it(
    'keeps every invariant and matches the model over any sequence of opens, closings, transfers and reversals',
    { timeout: PROPERTY_TIMEOUT_MS },
    async () => {
      const ledger = suiteLedger();
      await fc.assert(
        fc.asyncProperty(sequenceArb, (ops) => runSequentially(ledger, ops)),
        { numRuns: 40, includeErrorInReport: true },
      );
    },
  );

  it(
    'explains every concurrent batch of operations by some serial order',
    { timeout: PROPERTY_TIMEOUT_MS },
    async () => {
      const ledger = suiteLedger();
      const scenarioArb = fc.record({
        setup: fc.array(openArb, { minLength: 1, maxLength: 3 }),
        commands: fc.array(commandArb, { minLength: 2, maxLength: 30, size: 'medium' }),
        sizes: fc.array(fc.integer({ min: 2, max: 6 }), { minLength: 1, maxLength: 4 }),
      });
      await fc.assert(
        fc.asyncProperty(scenarioArb, async ({ setup, commands, sizes }) => {
          const ops = resolve([...setup, ...commands]);
          const setupCount = resolve(setup).length;
          await runInConcurrentBatches(
            ledger,
            ops.slice(0, setupCount),
            batchesOf(ops.slice(setupCount), sizes),
          );
        }),
        { numRuns: 30, includeErrorInReport: true },
      );
    },
  );

  it(
    'lets racing debits on one account through only while the balance covers them',
    { timeout: PROPERTY_TIMEOUT_MS },
    async () => {
      const ledger = suiteLedger();
      const raceArb = fc.record({
        balance: fc.integer({ min: 0, max: 3_000 }),
        debits: fc.array(
          fc.record({
            amount: fc.integer({ min: 1, max: 1_200 }),
            copies: fc.integer({ min: 1, max: 3 }),
            to: fc.constantFrom('clearing', 'settlement', 'peer'),
          }),
          { minLength: 2, maxLength: 12 },
        ),
      });
      await fc.assert(
        fc.asyncProperty(raceArb, async ({ balance, debits }) => {
          await resetBooks(ledger);
          const racer = 'racer';
          const peer = 'peer';
          await ledger.openAccount({
            id: racer,
            kind: 'customer',
            customerId: 'racer-person',
            currency: 'EUR',
          });
          await ledger.openAccount({
            id: peer,
            kind: 'customer',
            customerId: 'peer-person',
            currency: 'EUR',
          });
          if (balance > 0) {
            await ledger.transfer({
              idempotencyKey: 'fund',
              fromAccountId: Ledger.systemAccountId('funding', 'EUR'),
              toAccountId: racer,
              amountMinor: balance,
              currency: 'EUR',
            });
          }
          const destination = (to: 'clearing' | 'settlement' | 'peer'): string =>
            to === 'peer' ? peer : Ledger.systemAccountId(to, 'EUR');
          // Every call starts before any is awaited, so they all contend for the pool's connections at once.
          const racing = debits.map((debit, i) => {
            const input = {
              idempotencyKey: `debit${i}`,
              fromAccountId: racer,
              toAccountId: destination(debit.to),
              amountMinor: debit.amount,
              currency: 'EUR',
            };
            const calls = Array.from({ length: debit.copies }, () =>
              perform(ledger, { type: 'transfer', input }),
            );
            return { input, calls };
          });

          let left = balance;
          const credited = new Map<string, number>();
          const refused: number[] = [];
          const settled = await Promise.all(
            racing.map(async ({ input, calls }) => ({ input, answers: await Promise.all(calls) })),
          );
          for (const { input, answers } of settled) {
            const distinct = new Set(
              answers.map((a) => (a.kind === 'transfer' ? a.transfer.id : describeObserved(a))),
            );
            // Only debits race, so the balance only falls: a key accepted once could never have been refused before.
            assert.equal(
              distinct.size,
              1,
              `every call under ${input.idempotencyKey} got one answer: ${[...distinct].join(', ')}`,
            );
            const [answer] = answers;
            if (answer?.kind === 'transfer') {
              left -= input.amountMinor;
              credited.set(input.toAccountId, (credited.get(input.toAccountId) ?? 0) + input.amountMinor);
            } else {
              assert.deepEqual(answer, { kind: 'refused', code: 'insufficient_funds' }, input.idempotencyKey);
              refused.push(input.amountMinor);
            }
          }

          assert.ok(left >= 0, `the accepted debits fit in the ${balance} funded`);
          assert.equal(
            (await ledger.getAccount(racer))?.balance,
            left,
            'the balance fell by the accepted debits',
          );
          for (const amount of refused) {
            assert.ok(amount > left, `a debit of ${amount} was refused although ${left} is left`);
          }
          for (const to of [
            peer,
            Ledger.systemAccountId('clearing', 'EUR'),
            Ledger.systemAccountId('settlement', 'EUR'),
          ]) {
            assert.equal(
              (await ledger.getAccount(to))?.balance,
              credited.get(to) ?? 0,
              `${to} got the accepted debits`,
            );
          }
          const debitsRecorded = (await ledger.listTransfers()).filter(
            (t) => t.fromAccountId === racer,
          ).length;
          assert.equal(debitsRecorded, debits.length - refused.length, 'one transfer per accepted key');
          await assertInvariants(ledger);
        }),
        { numRuns: 40, includeErrorInReport: true },
      );
    },
  );
});

describe('ledger properties on embedded PGlite', () => {
  let ledger: Ledger;

  before(async () => {
    ledger = await Ledger.open({});
  });

  after(async () => {
    await ledger.close();
  });

  it(
    'keeps every invariant and matches the model over any sequence of opens, closings, transfers and reversals',
    { timeout: PROPERTY_TIMEOUT_MS },
    async () => {
      await fc.assert(
        fc.asyncProperty(sequenceArb, (ops) => runSequentially(ledger, ops)),
        { numRuns: 25, includeErrorInReport: true },
      );
    },
  );
});
