/**
 * The payment activities over real services: an embedded ledger, the shipped watchlist and the bank simulator on
 * loopback. What matters here is what a retry does (nothing twice) and how refusals are classified.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createPaymentActivities } from '../../activities/payment';
import type { PaymentActivities } from '../../activities/payment';
import { AmlScreener } from '../../services/aml';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { BankClient } from '../../services/bank';
import { startBankSimulator } from '../../local/stand-ins/bank-simulator';
import type { BankSimulator } from '../../local/stand-ins/bank-simulator';
import { Ledger } from '../../services/ledger';
import { PaymentFailureType } from '../../workflows/payment-contract';
import { withCorrelationId } from '../../activities/correlation';

let ledger: Ledger;
let bank: BankSimulator;
let activities: PaymentActivities;

const ACCOUNT = 'A-T1-EUR';
const CLEARING = Ledger.systemAccountId('clearing', 'EUR');
const SETTLEMENT = Ledger.systemAccountId('settlement', 'EUR');
const beneficiary = { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' };

async function balance(id: string): Promise<number | undefined> {
  return (await ledger.getAccount(id))?.balance;
}

function failsWithType(type: string) {
  return (err: unknown) => err instanceof ApplicationFailure && err.type === type && err.nonRetryable;
}

before(async () => {
  ledger = await Ledger.open({});
  await ledger.ensureSystemAccounts('EUR');
  await ledger.openAccount({ id: ACCOUNT, kind: 'customer', customerId: 'C-T1', currency: 'EUR' });
  await ledger.transfer({
    idempotencyKey: 'fund:T1',
    fromAccountId: Ledger.systemAccountId('funding', 'EUR'),
    toAccountId: ACCOUNT,
    amountMinor: 100_00,
    currency: 'EUR',
  });
  bank = await startBankSimulator({
    webhookUrl: 'http://127.0.0.1:9/never-called',
    webhookSecret: 'activities-test-secret',
    defaultDelayMs: 0,
  });
  activities = createPaymentActivities({
    ledger,
    aml: await AmlScreener.fromFile(),
    bank: new BankClient({ baseUrl: bank.url }),
  });
});

after(async () => {
  await bank.close();
  await ledger.close();
});

describe('payment activities', () => {
  test('debits once however often the debit is retried', async () => {
    const input = { paymentId: 'p-retry', fromAccountId: ACCOUNT, amountMinor: 10_00, currency: 'EUR' };
    const first = await activities.debitAccount(input);
    const again = await activities.debitAccount(input);
    assert.equal(again.transferId, first.transferId);
    assert.equal(first.customerId, 'C-T1');
    assert.equal(await balance(ACCOUNT), 90_00);
    assert.equal(await balance(CLEARING), 10_00);
  });

  test('reverses a debit once, and reversing a payment that never debited does nothing', async () => {
    const first = await activities.reverseDebit({ paymentId: 'p-retry' });
    const again = await activities.reverseDebit({ paymentId: 'p-retry' });
    assert.ok(first.transferId);
    assert.equal(again.transferId, first.transferId);
    assert.equal(await balance(ACCOUNT), 100_00);
    assert.deepEqual(await activities.reverseDebit({ paymentId: 'p-never-debited' }), { transferId: null });
  });

  test('refuses a debit the balance cannot cover, as a non-retryable InsufficientFunds', async () => {
    await assert.rejects(
      activities.debitAccount({
        paymentId: 'p-big',
        fromAccountId: ACCOUNT,
        amountMinor: 1_000_00,
        currency: 'EUR',
      }),
      failsWithType(PaymentFailureType.InsufficientFunds),
    );
    assert.equal(await balance(ACCOUNT), 100_00);
  });

  test('refuses unknown accounts and other currencies as non-retryable', async () => {
    await assert.rejects(
      activities.debitAccount({ paymentId: 'p-x', fromAccountId: 'A-NOPE', amountMinor: 1, currency: 'EUR' }),
      failsWithType(PaymentFailureType.AccountNotFound),
    );
    await assert.rejects(
      activities.debitAccount({ paymentId: 'p-y', fromAccountId: CLEARING, amountMinor: 1, currency: 'EUR' }),
      failsWithType(PaymentFailureType.AccountNotFound),
    );
    await assert.rejects(
      activities.debitAccount({ paymentId: 'p-z', fromAccountId: ACCOUNT, amountMinor: 1, currency: 'USD' }),
      failsWithType(PaymentFailureType.CurrencyMismatch),
    );
  });

  test('screens without putting the name in what it returns', async () => {
    const hit = await activities.screenBeneficiary({
      paymentId: 'p-aml',
      beneficiary: { ...beneficiary, name: AML_DEMO_NAMES.hit },
      amountMinor: 10_00,
      currency: 'EUR',
    });
    assert.equal(hit.decision, 'hit');
    assert.ok(hit.matchedEntryId);
    assert.ok(!JSON.stringify(hit).toLowerCase().includes('oyarzabal'));
    const clear = await activities.screenBeneficiary({
      paymentId: 'p-aml2',
      beneficiary,
      amountMinor: 10_00,
      currency: 'EUR',
    });
    assert.equal(clear.decision, 'clear');
  });

  test('submits to the bank idempotently and reads the final status', async () => {
    const input = { paymentId: 'p-bank', amountMinor: 5_00, currency: 'EUR', beneficiary };
    const first = await activities.submitToBank(input);
    const again = await activities.submitToBank(input);
    assert.equal(again.bankReference, first.bankReference);
    assert.equal(bank.payments().filter((p) => p.paymentId === 'p-bank').length, 1);
    let status = await activities.fetchBankStatus({
      paymentId: 'p-bank',
      bankReference: first.bankReference,
    });
    for (let i = 0; i < 50 && status.outcome === 'pending'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = await activities.fetchBankStatus({ paymentId: 'p-bank', bankReference: first.bankReference });
    }
    assert.equal(status.outcome, 'settled');
  });

  test('lets a bank outage be retried, but not a refusal', async () => {
    bank.setScenario('p-outage', { failSubmits: 1 });
    const input = { paymentId: 'p-outage', amountMinor: 5_00, currency: 'EUR', beneficiary };
    await assert.rejects(
      activities.submitToBank(input),
      (err: unknown) => !(err instanceof ApplicationFailure),
    );
    assert.ok((await activities.submitToBank(input)).bankReference);
    await assert.rejects(
      activities.submitToBank({ ...input, amountMinor: 6_00 }),
      failsWithType(PaymentFailureType.BankRejected),
    );
  });

  test('settles a debited payment from clearing to settlement, once', async () => {
    await activities.debitAccount({
      paymentId: 'p-settle',
      fromAccountId: ACCOUNT,
      amountMinor: 20_00,
      currency: 'EUR',
    });
    const first = await activities.settlePayment({ paymentId: 'p-settle' });
    const again = await activities.settlePayment({ paymentId: 'p-settle' });
    assert.equal(again.transferId, first.transferId);
    assert.equal(await balance(SETTLEMENT), 20_00);
    assert.equal(await balance(ACCOUNT), 80_00);
    const totals = await ledger.balanceTotals();
    assert.deepEqual(totals, [{ currency: 'EUR', sum: 0 }]);
  });

  test('books every transfer and the bank submission of a process under its correlation id', async () => {
    const paymentId = 'p-corr';
    const debit = await withCorrelationId('corr-1', () =>
      activities.debitAccount({ paymentId, fromAccountId: ACCOUNT, amountMinor: 3_00, currency: 'EUR' }),
    );
    const { bankReference } = await withCorrelationId('corr-1', () =>
      activities.submitToBank({ paymentId, amountMinor: 3_00, currency: 'EUR', beneficiary }),
    );
    const settlement = await withCorrelationId('corr-1', () => activities.settlePayment({ paymentId }));

    const transfers = await ledger.listTransfers();
    assert.equal(transfers.find((t) => t.id === debit.transferId)?.correlationId, 'corr-1');
    assert.equal(transfers.find((t) => t.id === settlement.transferId)?.correlationId, 'corr-1');
    assert.equal(bank.payments().find((p) => p.reference === bankReference)?.correlationId, 'corr-1');

    // A retry outside the process (or under another) finds the transfer as first booked.
    const retried = await withCorrelationId('corr-other', () =>
      activities.debitAccount({ paymentId, fromAccountId: ACCOUNT, amountMinor: 3_00, currency: 'EUR' }),
    );
    assert.equal(retried.transferId, debit.transferId);
    assert.equal((await ledger.getTransferByKey(`${paymentId}:debit`))?.correlationId, 'corr-1');
  });

  test('books the reversal of a debit under the correlation id of its process', async () => {
    const paymentId = 'p-corr-undo';
    await withCorrelationId('corr-1', () =>
      activities.debitAccount({ paymentId, fromAccountId: ACCOUNT, amountMinor: 1_00, currency: 'EUR' }),
    );
    const reversal = await withCorrelationId('corr-1', () => activities.reverseDebit({ paymentId }));
    assert.ok(reversal.transferId);
    const booked = await ledger.getTransferByKey(`${paymentId}:debit-reversal`);
    assert.equal(booked?.id, reversal.transferId);
    assert.equal(booked?.correlationId, 'corr-1');
  });

  test('books transfers without a correlation id when the run has none', async () => {
    const paymentId = 'p-corr-none';
    const debit = await activities.debitAccount({
      paymentId,
      fromAccountId: ACCOUNT,
      amountMinor: 1_00,
      currency: 'EUR',
    });
    assert.equal((await ledger.getTransferByKey(`${paymentId}:debit`))?.id, debit.transferId);
    assert.equal((await ledger.getTransferByKey(`${paymentId}:debit`))?.correlationId, null);
    await activities.reverseDebit({ paymentId });
  });
});
