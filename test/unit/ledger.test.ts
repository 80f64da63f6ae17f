import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, isLedgerError } from '../../services/ledger';
import { migrate, MIGRATIONS } from '../../services/db';
import { ledgerOnPostgresPerSuite } from '../support/ledger';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema as schemaFor } from '../support/postgres';
import type { LedgerError, LedgerErrorCode, LedgerOptions } from '../../services/ledger';

const DATABASE_URL = TEST_DATABASE_URL;
const uniqueSchema = (label: string) => schemaFor(`ledger_${label}`);

/** Asserts that `promise` rejects with a LedgerError of `code`, and returns that error for further checks. */
async function rejectsWith(code: LedgerErrorCode, promise: Promise<unknown>): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isLedgerError(error), `expected a LedgerError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a LedgerError ${code}, but the call succeeded`);
}

let counter = 0;
/** A prefix unique to one test, so tests sharing a ledger never touch each other's accounts or keys. */
function fresh(label: string): string {
  counter += 1;
  return `${label}-${counter}`;
}

const FUNDING_EUR = Ledger.systemAccountId('funding', 'EUR');
const CLEARING_EUR = Ledger.systemAccountId('clearing', 'EUR');
const SETTLEMENT_EUR = Ledger.systemAccountId('settlement', 'EUR');

/** Opens a customer account in EUR and pays `amountMinor` into it from the funding account. */
async function fundedCustomer(ledger: Ledger, prefix: string, amountMinor: number): Promise<string> {
  const id = `${prefix}:customer`;
  await ledger.openAccount({ id, kind: 'customer', customerId: `${prefix}:person`, currency: 'EUR' });
  if (amountMinor > 0) {
    await ledger.transfer({
      idempotencyKey: `${prefix}:fund`,
      fromAccountId: FUNDING_EUR,
      toAccountId: id,
      amountMinor,
      currency: 'EUR',
    });
  }
  return id;
}

async function balanceOf(ledger: Ledger, accountId: string): Promise<number> {
  const account = await ledger.getAccount(accountId);
  assert.ok(account, `account ${accountId} exists`);
  return account.balance;
}

/** The invariants double entry promises after any sequence of operations. */
async function assertBooksBalance(ledger: Ledger): Promise<void> {
  for (const total of await ledger.balanceTotals())
    assert.equal(total.sum, 0, `sum of ${total.currency} balances`);
  assert.equal(await ledger.entriesImbalance(), 0, 'transfers whose entries do not sum to zero');
  assert.equal(await ledger.balanceDrift(), 0, 'accounts whose balance differs from their entries');
  for (const account of await ledger.listAccounts()) {
    if (account.kind === 'customer') assert.ok(account.balance >= 0, `${account.id} is not negative`);
  }
}

interface Backend {
  name: string;
  open(): Promise<Ledger>;
  dispose(): Promise<void>;
}

function behavesAsALedger(backend: Backend): void {
  describe(`ledger on ${backend.name}`, () => {
    let ledger: Ledger;

    before(async () => {
      ledger = await backend.open();
      await ledger.ensureSystemAccounts('EUR');
      await ledger.ensureSystemAccounts('USD');
    });

    after(async () => {
      try {
        await assertBooksBalance(ledger);
      } finally {
        await ledger.close();
        await backend.dispose();
      }
    });

    test('records each migration once and applies nothing on a second run', async () => {
      const rows = await ledger.database.query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((row) => Number(row.version)),
        MIGRATIONS.map((m) => m.version),
      );
      assert.deepEqual(await migrate(ledger.database), []);
    });

    test('opens the clearing, settlement and funding accounts of a currency once', async () => {
      await ledger.ensureSystemAccounts('EUR');
      const system = (await ledger.listAccounts()).filter(
        (account) => account.currency === 'EUR' && account.kind !== 'customer',
      );
      assert.deepEqual(
        system.map((account) => [account.id, account.kind, account.customerId]),
        [
          ['clearing:EUR', 'clearing', null],
          ['funding:EUR', 'funding', null],
          ['settlement:EUR', 'settlement', null],
        ],
      );
    });

    test('opens an account idempotently and refuses the same id with other details', async () => {
      const prefix = fresh('open');
      const input = {
        id: `${prefix}:acct`,
        kind: 'customer' as const,
        customerId: `${prefix}:c`,
        currency: 'EUR',
      };
      const first = await ledger.openAccount(input);
      assert.equal(first.balance, 0);
      assert.equal(first.customerId, `${prefix}:c`);
      assert.ok(!Number.isNaN(Date.parse(first.createdAt)));
      assert.deepEqual(await ledger.openAccount(input), first);

      const conflict = await rejectsWith(
        'account_conflict',
        ledger.openAccount({ ...input, currency: 'USD' }),
      );
      assert.equal(conflict.context.accountId, input.id);
      await rejectsWith('account_conflict', ledger.openAccount({ ...input, customerId: 'someone-else' }));
      await rejectsWith(
        'account_conflict',
        ledger.openAccount({ ...input, kind: 'clearing', customerId: null }),
      );
      assert.deepEqual(await ledger.getAccount(input.id), first);
    });

    test('moves money as two entries that sum to zero and keeps balances equal to the entries', async () => {
      const prefix = fresh('move');
      const customer = await fundedCustomer(ledger, prefix, 10_000);
      const clearingBefore = await balanceOf(ledger, CLEARING_EUR);

      const transfer = await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 2_500,
        currency: 'EUR',
      });

      assert.match(transfer.id, /^tr_[0-9a-f]{32}$/);
      assert.deepEqual(
        { ...transfer, id: '', createdAt: '' },
        {
          id: '',
          idempotencyKey: `${prefix}:debit`,
          fromAccountId: customer,
          toAccountId: CLEARING_EUR,
          amountMinor: 2_500,
          currency: 'EUR',
          reversalOf: null,
          correlationId: null,
          createdAt: '',
        },
      );
      assert.equal(await balanceOf(ledger, customer), 7_500);
      assert.equal(await balanceOf(ledger, CLEARING_EUR), clearingBefore + 2_500);
      assert.deepEqual(await ledger.getTransferByKey(`${prefix}:debit`), transfer);

      const entries = await ledger.database.query(
        'SELECT account_id, amount_minor::text AS amount FROM entries WHERE transfer_id = $1 ORDER BY amount_minor',
        [transfer.id],
      );
      assert.deepEqual(entries, [
        { account_id: customer, amount: '-2500' },
        { account_id: CLEARING_EUR, amount: '2500' },
      ]);
      await assertBooksBalance(ledger);
    });

    test('lets funding, clearing and settlement accounts go below zero', async () => {
      const prefix = fresh('system');
      const settlementBefore = await balanceOf(ledger, SETTLEMENT_EUR);
      await ledger.transfer({
        idempotencyKey: `${prefix}:settle`,
        fromAccountId: SETTLEMENT_EUR,
        toAccountId: CLEARING_EUR,
        amountMinor: settlementBefore + 1_000,
        currency: 'EUR',
      });
      assert.equal(await balanceOf(ledger, SETTLEMENT_EUR), -1_000);
      assert.ok((await balanceOf(ledger, FUNDING_EUR)) < 0, 'funding is where money enters the books');
    });

    test('rejects a transfer when funds are insufficient and records nothing', async () => {
      const prefix = fresh('short');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const request = {
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 1_001,
        currency: 'EUR',
      };

      const error = await rejectsWith('insufficient_funds', ledger.transfer(request));
      assert.equal(error.context.accountId, customer);
      assert.equal(error.context.amountMinor, 1_001);
      assert.equal(await balanceOf(ledger, customer), 1_000);
      assert.equal(await ledger.getTransferByKey(request.idempotencyKey), undefined);

      // A rejected key holds nothing, so the same request succeeds once the money is there.
      await ledger.transfer({
        ...request,
        idempotencyKey: `${prefix}:topup`,
        fromAccountId: FUNDING_EUR,
        toAccountId: customer,
        amountMinor: 1,
      });
      await ledger.transfer(request);
      assert.equal(await balanceOf(ledger, customer), 0);
      await rejectsWith(
        'insufficient_funds',
        ledger.transfer({ ...request, idempotencyKey: `${prefix}:one-more`, amountMinor: 1 }),
      );
      assert.equal(await balanceOf(ledger, customer), 0);
    });

    test('returns the first transfer when the same idempotency key is used again with the same parameters', async () => {
      const prefix = fresh('again');
      const customer = await fundedCustomer(ledger, prefix, 5_000);
      const request = {
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 1_200,
        currency: 'EUR',
      };
      const first = await ledger.transfer(request);
      const second = await ledger.transfer({ ...request });
      assert.deepEqual(second, first);
      assert.equal(await balanceOf(ledger, customer), 3_800);
      const underKey = (await ledger.listTransfers()).filter(
        (t) => t.idempotencyKey === request.idempotencyKey,
      );
      assert.equal(underKey.length, 1);
    });

    test('rejects a reused idempotency key with other parameters', async () => {
      const prefix = fresh('conflict');
      const customer = await fundedCustomer(ledger, prefix, 5_000);
      const request = {
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 700,
        currency: 'EUR',
      };
      const first = await ledger.transfer(request);

      const error = await rejectsWith(
        'idempotency_conflict',
        ledger.transfer({ ...request, amountMinor: 701 }),
      );
      assert.equal(error.context.idempotencyKey, request.idempotencyKey);
      assert.equal(error.context.transferId, first.id);
      await rejectsWith('idempotency_conflict', ledger.transfer({ ...request, toAccountId: SETTLEMENT_EUR }));
      await rejectsWith('idempotency_conflict', ledger.transfer({ ...request, fromAccountId: FUNDING_EUR }));
      assert.equal(await balanceOf(ledger, customer), 4_300);
    });

    test('rejects a transfer from or to an account that does not exist', async () => {
      const prefix = fresh('missing');
      const customer = await fundedCustomer(ledger, prefix, 100);
      const base = { idempotencyKey: `${prefix}:t`, amountMinor: 10, currency: 'EUR' };
      const fromMissing = await rejectsWith(
        'account_not_found',
        ledger.transfer({ ...base, fromAccountId: `${prefix}:nobody`, toAccountId: customer }),
      );
      assert.equal(fromMissing.context.accountId, `${prefix}:nobody`);
      const toMissing = await rejectsWith(
        'account_not_found',
        ledger.transfer({ ...base, fromAccountId: customer, toAccountId: `${prefix}:nowhere` }),
      );
      assert.equal(toMissing.context.accountId, `${prefix}:nowhere`);
      assert.equal(await ledger.getTransferByKey(base.idempotencyKey), undefined);
    });

    test('refuses new transfers out of or into a closed account, but still lands a reversal', async () => {
      const prefix = fresh('closed');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const debit = await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 300,
        currency: 'EUR',
      });
      const closed = await ledger.closeAccount(customer);
      assert.ok(closed.closedAt !== null && !Number.isNaN(Date.parse(closed.closedAt)));
      assert.equal(
        (await ledger.closeAccount(customer)).closedAt,
        closed.closedAt,
        'closing again changes nothing',
      );
      const base = { amountMinor: 10, currency: 'EUR' };
      const out = await rejectsWith(
        'account_closed',
        ledger.transfer({
          ...base,
          idempotencyKey: `${prefix}:out`,
          fromAccountId: customer,
          toAccountId: CLEARING_EUR,
        }),
      );
      assert.equal(out.context.accountId, customer);
      await rejectsWith(
        'account_closed',
        ledger.transfer({
          ...base,
          idempotencyKey: `${prefix}:in`,
          fromAccountId: FUNDING_EUR,
          toAccountId: customer,
        }),
      );
      // A retry of a transfer made before the closing still finds it.
      assert.equal(
        (
          await ledger.transfer({
            idempotencyKey: `${prefix}:debit`,
            fromAccountId: customer,
            toAccountId: CLEARING_EUR,
            amountMinor: 300,
            currency: 'EUR',
          })
        ).id,
        debit.id,
      );
      const reversal = await ledger.reverse({
        idempotencyKey: `${prefix}:undo`,
        originalIdempotencyKey: `${prefix}:debit`,
      });
      assert.equal(reversal?.reversalOf, debit.id);
      assert.equal(await balanceOf(ledger, customer), 1_000);
      await rejectsWith('invalid_input', ledger.closeAccount(CLEARING_EUR));
      await rejectsWith('account_not_found', ledger.closeAccount(`${prefix}:nobody`));
    });

    test('keeps the correlation id of a transfer and of its reversal, and returns it on every read', async () => {
      const prefix = fresh('corr');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const debit = await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 400,
        currency: 'EUR',
        correlationId: `${prefix}:order-1`,
      });
      assert.equal(debit.correlationId, `${prefix}:order-1`);
      assert.deepEqual(await ledger.getTransferByKey(`${prefix}:debit`), debit);
      assert.equal(
        (await ledger.getTransferByKey(`${prefix}:fund`))?.correlationId,
        null,
        'a transfer booked without one has none',
      );

      const reversal = await ledger.reverse({
        idempotencyKey: `${prefix}:undo`,
        originalIdempotencyKey: `${prefix}:debit`,
        correlationId: `${prefix}:order-1`,
      });
      assert.equal(reversal?.correlationId, `${prefix}:order-1`);
      const listed = (await ledger.listTransfers()).filter((t) => t.idempotencyKey.startsWith(`${prefix}:`));
      assert.deepEqual(
        listed.map((t) => [t.idempotencyKey, t.correlationId]),
        [
          [`${prefix}:fund`, null],
          [`${prefix}:debit`, `${prefix}:order-1`],
          [`${prefix}:undo`, `${prefix}:order-1`],
        ],
      );
    });

    test('answers a same-key retry under another correlation id with the first transfer unchanged', async () => {
      const prefix = fresh('corr-retry');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const input = {
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 250,
        currency: 'EUR',
      };
      const first = await ledger.transfer({ ...input, correlationId: 'first' });
      assert.deepEqual(await ledger.transfer({ ...input, correlationId: 'second' }), first);
      assert.deepEqual(await ledger.transfer(input), first);
      assert.equal((await ledger.getTransferByKey(input.idempotencyKey))?.correlationId, 'first');
      assert.equal(await balanceOf(ledger, customer), 750);

      const undo = { idempotencyKey: `${prefix}:undo`, originalIdempotencyKey: input.idempotencyKey };
      const reversal = await ledger.reverse({ ...undo, correlationId: 'first' });
      assert.deepEqual(await ledger.reverse({ ...undo, correlationId: 'second' }), reversal);
      assert.equal(reversal?.correlationId, 'first');
    });

    test('refuses a correlation id that is not one', async () => {
      const prefix = fresh('corr-bad');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      for (const correlationId of ['', 'has space', 'x'.repeat(129), 'line\nbreak']) {
        await rejectsWith(
          'invalid_input',
          ledger.transfer({
            idempotencyKey: `${prefix}:debit`,
            fromAccountId: customer,
            toAccountId: CLEARING_EUR,
            amountMinor: 100,
            currency: 'EUR',
            correlationId,
          }),
        );
      }
      assert.equal(await ledger.getTransferByKey(`${prefix}:debit`), undefined);
    });

    test('rejects a transfer whose accounts are not in the transfer currency', async () => {
      const prefix = fresh('fx');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const error = await rejectsWith(
        'currency_mismatch',
        ledger.transfer({
          idempotencyKey: `${prefix}:t`,
          fromAccountId: customer,
          toAccountId: Ledger.systemAccountId('clearing', 'USD'),
          amountMinor: 100,
          currency: 'USD',
        }),
      );
      assert.equal(error.context.accountId, customer);
      await rejectsWith(
        'currency_mismatch',
        ledger.transfer({
          idempotencyKey: `${prefix}:t`,
          fromAccountId: customer,
          toAccountId: Ledger.systemAccountId('clearing', 'USD'),
          amountMinor: 100,
          currency: 'EUR',
        }),
      );
      assert.equal(await balanceOf(ledger, customer), 1_000);
    });

    test('rejects amounts that are not positive safe integers', async () => {
      const prefix = fresh('amount');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const bad: unknown[] = [
        0,
        -5,
        1.5,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.MAX_SAFE_INTEGER + 1,
        '100',
      ];
      for (const amountMinor of bad) {
        await rejectsWith(
          'invalid_amount',
          ledger.transfer({
            idempotencyKey: `${prefix}:t`,
            fromAccountId: customer,
            toAccountId: CLEARING_EUR,
            amountMinor: amountMinor as number,
            currency: 'EUR',
          }),
        );
      }
      assert.equal(await ledger.getTransferByKey(`${prefix}:t`), undefined);
      assert.equal(await balanceOf(ledger, customer), 1_000);
    });

    test('rejects malformed keys, currencies and transfers from an account to itself', async () => {
      const prefix = fresh('input');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const base = {
        idempotencyKey: `${prefix}:t`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 1,
        currency: 'EUR',
      };
      await rejectsWith('invalid_input', ledger.transfer({ ...base, idempotencyKey: ' ' }));
      await rejectsWith('invalid_input', ledger.transfer({ ...base, currency: 'eur' }));
      await rejectsWith('invalid_input', ledger.transfer({ ...base, toAccountId: customer }));
      await rejectsWith(
        'invalid_input',
        ledger.openAccount({ id: `${prefix}:x`, kind: 'customer', currency: 'EURO' }),
      );
      assert.equal(await balanceOf(ledger, customer), 1_000);
    });

    test('keeps amounts of up to 2^53 - 1 minor units exact', async () => {
      const prefix = fresh('big');
      await ledger.ensureSystemAccounts('JPY');
      const customer = `${prefix}:customer`;
      await ledger.openAccount({ id: customer, kind: 'customer', customerId: prefix, currency: 'JPY' });
      const transfer = await ledger.transfer({
        idempotencyKey: `${prefix}:fund`,
        fromAccountId: Ledger.systemAccountId('funding', 'JPY'),
        toAccountId: customer,
        amountMinor: Number.MAX_SAFE_INTEGER,
        currency: 'JPY',
      });
      assert.equal(transfer.amountMinor, Number.MAX_SAFE_INTEGER);
      assert.equal(await balanceOf(ledger, customer), Number.MAX_SAFE_INTEGER);
      assert.equal(
        await balanceOf(ledger, Ledger.systemAccountId('funding', 'JPY')),
        -Number.MAX_SAFE_INTEGER,
      );
    });

    test('refuses a transfer that would take any balance past 2^53 - 1 minor units, and stays readable', async () => {
      const prefix = fresh('limit');
      await ledger.ensureSystemAccounts('CHF');
      const funding = Ledger.systemAccountId('funding', 'CHF');
      const full = `${prefix}:full`;
      const other = `${prefix}:other`;
      for (const id of [full, other]) {
        await ledger.openAccount({ id, kind: 'customer', customerId: id, currency: 'CHF' });
      }
      const request = { fromAccountId: funding, amountMinor: Number.MAX_SAFE_INTEGER, currency: 'CHF' };
      await ledger.transfer({ ...request, idempotencyKey: `${prefix}:fill`, toAccountId: full });

      // The funding account would fall below -(2^53 - 1), then the customer would rise above 2^53 - 1.
      await rejectsWith(
        'balance_out_of_range',
        ledger.transfer({
          ...request,
          idempotencyKey: `${prefix}:debit-side`,
          toAccountId: other,
          amountMinor: 1,
        }),
      );
      await rejectsWith(
        'balance_out_of_range',
        ledger.transfer({
          idempotencyKey: `${prefix}:credit-side`,
          fromAccountId: Ledger.systemAccountId('clearing', 'CHF'),
          toAccountId: full,
          amountMinor: 1,
          currency: 'CHF',
        }),
      );
      assert.equal(await ledger.getTransferByKey(`${prefix}:debit-side`), undefined);
      assert.equal(await balanceOf(ledger, full), Number.MAX_SAFE_INTEGER);
      assert.equal(await balanceOf(ledger, funding), -Number.MAX_SAFE_INTEGER);
      assert.ok((await ledger.listAccounts()).length > 0, 'every account can still be read');
    });

    test('reverses a transfer by moving its amount back as a new transfer', async () => {
      const prefix = fresh('reverse');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const debit = await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 400,
        currency: 'EUR',
      });
      const clearingBefore = await balanceOf(ledger, CLEARING_EUR);

      const reversal = await ledger.reverse({
        idempotencyKey: `${prefix}:undo`,
        originalIdempotencyKey: `${prefix}:debit`,
      });

      assert.ok(reversal);
      assert.notEqual(reversal.id, debit.id);
      assert.equal(reversal.reversalOf, debit.id);
      assert.equal(reversal.fromAccountId, CLEARING_EUR);
      assert.equal(reversal.toAccountId, customer);
      assert.equal(reversal.amountMinor, 400);
      assert.equal(reversal.currency, 'EUR');
      assert.equal(await balanceOf(ledger, customer), 1_000);
      assert.equal(await balanceOf(ledger, CLEARING_EUR), clearingBefore - 400);
      assert.deepEqual(await ledger.getTransferByKey(`${prefix}:undo`), reversal);
      await assertBooksBalance(ledger);
    });

    test('returns the same reversal for a repeated key and refuses a second reversal under another key', async () => {
      const prefix = fresh('twice');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      const debit = await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 250,
        currency: 'EUR',
      });
      const first = await ledger.reverse({
        idempotencyKey: `${prefix}:undo`,
        originalIdempotencyKey: `${prefix}:debit`,
      });
      const again = await ledger.reverse({
        idempotencyKey: `${prefix}:undo`,
        originalIdempotencyKey: `${prefix}:debit`,
      });
      assert.deepEqual(again, first);

      const error = await rejectsWith(
        'already_reversed',
        ledger.reverse({ idempotencyKey: `${prefix}:undo-2`, originalIdempotencyKey: `${prefix}:debit` }),
      );
      assert.equal(error.context.transferId, debit.id);
      assert.equal(await balanceOf(ledger, customer), 1_000);
      assert.equal(await ledger.getTransferByKey(`${prefix}:undo-2`), undefined);
    });

    test('returns null when asked to reverse a transfer that does not exist', async () => {
      const prefix = fresh('ghost');
      assert.equal(
        await ledger.reverse({ idempotencyKey: `${prefix}:undo`, originalIdempotencyKey: `${prefix}:never` }),
        null,
      );
      assert.equal(await ledger.getTransferByKey(`${prefix}:undo`), undefined);
    });

    test('rejects a reversal whose key was already used by another transfer', async () => {
      const prefix = fresh('reuse');
      const customer = await fundedCustomer(ledger, prefix, 1_000);
      await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 100,
        currency: 'EUR',
      });
      await rejectsWith(
        'idempotency_conflict',
        ledger.reverse({ idempotencyKey: `${prefix}:fund`, originalIdempotencyKey: `${prefix}:debit` }),
      );
      await rejectsWith(
        'idempotency_conflict',
        ledger.reverse({ idempotencyKey: `${prefix}:debit`, originalIdempotencyKey: `${prefix}:debit` }),
      );
      assert.equal(await balanceOf(ledger, customer), 900);
    });

    test('refuses a reversal that would take a customer below zero', async () => {
      const prefix = fresh('overdraw');
      const customer = await fundedCustomer(ledger, prefix, 500);
      await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 400,
        currency: 'EUR',
      });
      // Reversing the funding would take 500 back from a customer who holds 100.
      const error = await rejectsWith(
        'insufficient_funds',
        ledger.reverse({ idempotencyKey: `${prefix}:unfund`, originalIdempotencyKey: `${prefix}:fund` }),
      );
      assert.equal(error.context.accountId, customer);
      assert.equal(await balanceOf(ledger, customer), 100);
      assert.equal(await ledger.getTransferByKey(`${prefix}:unfund`), undefined);
    });

    test('refuses, through its CHECK constraint, any direct write that takes a customer below zero', async () => {
      const prefix = fresh('check');
      const customer = await fundedCustomer(ledger, prefix, 10);
      await assert.rejects(
        ledger.database.query('UPDATE accounts SET balance = balance - 11 WHERE id = $1', [customer]),
        (error: unknown) =>
          typeof error === 'object' && error !== null && 'code' in error && error.code === '23514',
      );
      // A system account is allowed below zero by the same constraint.
      await ledger.database.query('UPDATE accounts SET balance = balance WHERE id = $1', [FUNDING_EUR]);
      assert.equal(await balanceOf(ledger, customer), 10);
    });

    test('lists accounts by kind then id, and transfers oldest first', async () => {
      const prefix = fresh('order');
      await fundedCustomer(ledger, `${prefix}-b`, 10);
      await fundedCustomer(ledger, `${prefix}-a`, 20);
      const accounts = await ledger.listAccounts();
      const keys = accounts.map((account) => [account.kind, account.id].join(' '));
      assert.deepEqual(keys, [...keys].sort());
      assert.deepEqual(
        accounts.filter((account) => account.id.startsWith(prefix)).map((account) => account.id),
        [`${prefix}-a:customer`, `${prefix}-b:customer`],
      );

      const transfers = await ledger.listTransfers();
      const mine = transfers
        .filter((transfer) => transfer.idempotencyKey.startsWith(prefix))
        .map((t) => t.idempotencyKey);
      assert.deepEqual(mine, [`${prefix}-b:fund`, `${prefix}-a:fund`]);
      assert.equal(
        new Set(transfers.map((transfer) => transfer.id)).size,
        transfers.length,
        'transfer ids are unique',
      );
    });
  });
}

let dataDirRoot: string | undefined;

behavesAsALedger({
  name: 'in-memory PGlite',
  open: () => Ledger.open({}),
  dispose: () => Promise.resolve(),
});

behavesAsALedger({
  name: 'PGlite in a data directory',
  open: async () => {
    dataDirRoot = await mkdtemp(join(tmpdir(), 'baton-ledger-'));
    return Ledger.open({ dataDir: join(dataDirRoot, 'pgdata') });
  },
  dispose: async () => {
    if (dataDirRoot) await rm(dataDirRoot, { recursive: true, force: true });
  },
});

const suiteSchema = uniqueSchema('suite');
behavesAsALedger({
  name: 'PostgreSQL',
  open: () => Ledger.open({ databaseUrl: DATABASE_URL, schema: suiteSchema }),
  dispose: () => dropSchema(suiteSchema),
});

describe('ledger in a PGlite data directory', () => {
  test('keeps accounts, transfers and idempotency across a reopen', async () => {
    const root = await mkdtemp(join(tmpdir(), 'baton-ledger-reopen-'));
    const dataDir = join(root, 'pgdata');
    try {
      const options: LedgerOptions = { dataDir };
      let ledger = await Ledger.open(options);
      let debit;
      try {
        await ledger.ensureSystemAccounts('EUR');
        await fundedCustomer(ledger, 'kept', 2_000);
        debit = await ledger.transfer({
          idempotencyKey: 'kept:debit',
          fromAccountId: 'kept:customer',
          toAccountId: CLEARING_EUR,
          amountMinor: 750,
          currency: 'EUR',
        });
      } finally {
        await ledger.close();
      }

      ledger = await Ledger.open(options);
      try {
        assert.equal(await balanceOf(ledger, 'kept:customer'), 1_250);
        assert.equal(await balanceOf(ledger, CLEARING_EUR), 750);
        assert.deepEqual(
          (await ledger.listTransfers()).map((transfer) => transfer.idempotencyKey),
          ['kept:fund', 'kept:debit'],
        );
        const replay = await ledger.transfer({
          idempotencyKey: 'kept:debit',
          fromAccountId: 'kept:customer',
          toAccountId: CLEARING_EUR,
          amountMinor: 750,
          currency: 'EUR',
        });
        assert.deepEqual(replay, debit);
        assert.equal(await balanceOf(ledger, 'kept:customer'), 1_250);
        const migrations = await ledger.database.query('SELECT count(*)::int AS n FROM schema_migrations');
        assert.deepEqual(migrations, [{ n: MIGRATIONS.length }]);
        await assertBooksBalance(ledger);
      } finally {
        await ledger.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('ledger on PostgreSQL under concurrency', () => {
  const suiteLedger = ledgerOnPostgresPerSuite('ledger_concurrency', 12);
  before(() => suiteLedger().ensureSystemAccounts('EUR'));

  test('lets exactly the affordable number of concurrent debits through', async () => {
    const ledger = suiteLedger();
    const customer = await fundedCustomer(ledger, 'race', 1_000);
    const attempts = Array.from({ length: 10 }, (_, i) =>
      ledger.transfer({
        idempotencyKey: `race:debit:${i}`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 300,
        currency: 'EUR',
      }),
    );
    const outcomes = await Promise.allSettled(attempts);

    const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter(
      (outcome) => outcome.status === 'rejected' && isLedgerError(outcome.reason, 'insufficient_funds'),
    );
    assert.equal(succeeded.length, 3);
    assert.equal(refused.length, 7, 'every other attempt is refused for insufficient funds');
    assert.equal(await balanceOf(ledger, customer), 100);
    await assertBooksBalance(ledger);
  });

  test('returns one and the same transfer to concurrent calls with the same key', async () => {
    const ledger = suiteLedger();
    const customer = await fundedCustomer(ledger, 'same-key', 1_000);
    const request = {
      idempotencyKey: 'same-key:debit',
      fromAccountId: customer,
      toAccountId: CLEARING_EUR,
      amountMinor: 600,
      currency: 'EUR',
    };
    const results = await Promise.all(Array.from({ length: 8 }, () => ledger.transfer({ ...request })));
    assert.equal(new Set(results.map((transfer) => transfer.id)).size, 1);
    assert.equal(await balanceOf(ledger, customer), 400);
    await assertBooksBalance(ledger);
  });

  test('lets exactly one of several concurrent reversals under different keys through', async () => {
    const ledger = suiteLedger();
    const customer = await fundedCustomer(ledger, 'undo-race', 1_000);
    const debit = await ledger.transfer({
      idempotencyKey: 'undo-race:debit',
      fromAccountId: customer,
      toAccountId: CLEARING_EUR,
      amountMinor: 800,
      currency: 'EUR',
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        ledger.reverse({ idempotencyKey: `undo-race:undo:${i}`, originalIdempotencyKey: 'undo-race:debit' }),
      ),
    );
    const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter(
      (outcome) => outcome.status === 'rejected' && isLedgerError(outcome.reason, 'already_reversed'),
    );
    assert.equal(succeeded.length, 1);
    assert.equal(refused.length, 5);
    assert.equal(succeeded[0]?.value?.reversalOf, debit.id);
    assert.equal(await balanceOf(ledger, customer), 1_000);

    const sameKey = await Promise.all(
      Array.from({ length: 4 }, () =>
        ledger.reverse({ idempotencyKey: 'undo-race:undo-fund', originalIdempotencyKey: 'undo-race:fund' }),
      ),
    );
    assert.equal(new Set(sameKey.map((transfer) => transfer?.id)).size, 1);
    assert.equal(await balanceOf(ledger, customer), 0);
    await assertBooksBalance(ledger);
  });

  test('returns one and the same reversal to concurrent calls with the same key, round after round', async () => {
    const ledger = suiteLedger();
    // A same-key caller can find no reversal under its key and then, one statement later, see the winner's reversal
    // of the original: that is its own reversal to return, never an already_reversed refusal.
    for (let round = 0; round < 25; round += 1) {
      const prefix = `undo-same-${round}`;
      const customer = await fundedCustomer(ledger, prefix, 500);
      await ledger.transfer({
        idempotencyKey: `${prefix}:debit`,
        fromAccountId: customer,
        toAccountId: CLEARING_EUR,
        amountMinor: 200,
        currency: 'EUR',
      });
      const reversals = await Promise.all(
        Array.from({ length: 8 }, () =>
          ledger.reverse({ idempotencyKey: `${prefix}:undo`, originalIdempotencyKey: `${prefix}:debit` }),
        ),
      );
      assert.equal(new Set(reversals.map((transfer) => transfer?.id)).size, 1, `round ${round}`);
      assert.equal(await balanceOf(ledger, customer), 500);
    }
    await assertBooksBalance(ledger);
  });

  test('gives same-key calls racing a closing one answer: the transfer, or both refused as closed', async () => {
    const ledger = suiteLedger();
    // A call that passed the lookup by key and then waited for the account lock may find the account closed by
    // then, although its twin committed first: the twin's transfer is its answer, as in any serial order.
    for (let round = 0; round < 40; round += 1) {
      const prefix = `close-race-${round}`;
      const customer = await fundedCustomer(ledger, prefix, 0);
      const request = {
        idempotencyKey: `${prefix}:fund`,
        fromAccountId: FUNDING_EUR,
        toAccountId: customer,
        amountMinor: 100,
        currency: 'EUR',
      };
      const [first, second] = await Promise.allSettled([
        ledger.transfer({ ...request }),
        ledger.transfer({ ...request }),
        ledger.closeAccount(customer),
      ]);
      const answer = (outcome: typeof first) =>
        outcome?.status === 'fulfilled'
          ? `transfer ${outcome.value.id}`
          : isLedgerError(outcome?.reason, 'account_closed')
            ? 'closed'
            : String(outcome?.reason);
      assert.equal(answer(second), answer(first), `round ${round}`);
    }
    await assertBooksBalance(ledger);
  });

  test('closes an account racing its opening, or finds it missing, never calls it a system account', async () => {
    const ledger = suiteLedger();
    for (let round = 0; round < 40; round += 1) {
      const id = `open-close-race-${round}:customer`;
      const [, closing] = await Promise.allSettled([
        ledger.openAccount({ id, kind: 'customer', customerId: `open-close-race-${round}`, currency: 'EUR' }),
        ledger.closeAccount(id),
      ]);
      if (closing.status === 'fulfilled') {
        assert.notEqual(closing.value.closedAt, null, `round ${round}`);
      } else {
        assert.ok(
          isLedgerError(closing.reason, 'account_not_found'),
          `round ${round}: ${String(closing.reason)}`,
        );
      }
    }
  });

  test('completes concurrent transfers in opposite directions between the same accounts without deadlock', async () => {
    const ledger = suiteLedger();
    const alice = await fundedCustomer(ledger, 'pingpong-a', 5_000);
    const bob = await fundedCustomer(ledger, 'pingpong-b', 5_000);
    const transfers = Array.from({ length: 20 }, (_, i) =>
      ledger.transfer({
        idempotencyKey: `pingpong:${i}`,
        fromAccountId: i % 2 === 0 ? alice : bob,
        toAccountId: i % 2 === 0 ? bob : alice,
        amountMinor: 100 + i,
        currency: 'EUR',
      }),
    );
    await Promise.all(transfers);
    // Even-numbered transfers (100, 102, ..., 118) went to Bob, odd ones (101, ..., 119) to Alice.
    assert.equal(await balanceOf(ledger, alice), 5_000 - 1_090 + 1_100);
    assert.equal(await balanceOf(ledger, bob), 5_000 + 1_090 - 1_100);
    await assertBooksBalance(ledger);
  });

  test('migrates a fresh schema once when several processes open it at the same time', async () => {
    const fresh = uniqueSchema('migrate');
    try {
      const ledgers = await Promise.all(
        Array.from({ length: 4 }, () =>
          Ledger.open({ databaseUrl: DATABASE_URL, schema: fresh, poolSize: 2 }),
        ),
      );
      try {
        const [first] = ledgers;
        assert.ok(first);
        const rows = await first.database.query('SELECT version FROM schema_migrations');
        assert.deepEqual(
          rows.map((row) => Number(row.version)).sort((a, b) => a - b),
          MIGRATIONS.map((m) => m.version),
        );
        await first.ensureSystemAccounts('EUR');
        assert.equal((await ledgers[3]?.listAccounts())?.length, 3, 'all four see the same books');
      } finally {
        await Promise.all(ledgers.map((opened) => opened.close()));
      }
    } finally {
      await dropSchema(fresh);
    }
  });

  test('keeps the books of two schemas apart', async () => {
    const ledger = suiteLedger();
    const other = uniqueSchema('other');
    const second = await Ledger.open({ databaseUrl: DATABASE_URL, schema: other, poolSize: 2 });
    try {
      assert.deepEqual(await second.listAccounts(), []);
      assert.ok((await ledger.listAccounts()).length > 0);
    } finally {
      await second.close();
      await dropSchema(other);
    }
  });
});
