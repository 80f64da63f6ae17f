/**
 * The bank simulator's fault knobs the fault suite relies on, each shown on the wire: an outage window, an answer
 * lost after the bank took the payment, a late webhook, and held webhooks released in the order the harness chooses.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BankClient, BankUnavailableError } from '../../services/bank';
import { startBankSimulator } from '../../local/stand-ins/bank-simulator';
import type { SubmitPaymentRequest } from '../../services/bank';
import type { BankSimulator } from '../../local/stand-ins/bank-simulator';
import { sleep } from './harness/random';

const arrivals: { paymentId: string; at: number }[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { paymentId: string };
    arrivals.push({ paymentId: body.paymentId, at: Date.now() });
    res.writeHead(200).end('{}');
  });
});
let bank: BankSimulator;
let client: BankClient;

function payment(paymentId: string): SubmitPaymentRequest {
  return {
    paymentId,
    amountMinor: 1_00,
    currency: 'EUR',
    beneficiary: { name: 'Knob Tester', country: 'DE', iban: 'DE89370400440532013000' },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  bank = await startBankSimulator({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/bank`,
    webhookSecret: 'knob-test-webhook-secret',
    defaultDelayMs: 50,
  });
  client = new BankClient({ baseUrl: bank.url });
});

after(async () => {
  await bank.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('bank simulator faults', () => {
  it('answers 500 to every call during an outage window and records nothing', async () => {
    bank.failFor(60_000);
    await assert.rejects(client.submitPayment(payment('k-outage')), BankUnavailableError);
    assert.equal(
      bank.payments().find((p) => p.paymentId === 'k-outage'),
      undefined,
    );
    bank.failFor(0);
    assert.equal((await client.submitPayment(payment('k-outage'))).status, 'pending');
  });

  it('takes a payment whose answer it then loses, and gives the same reference to the retry', async () => {
    bank.setScenario('k-lost', { loseSubmitAnswers: 1 });
    await assert.rejects(client.submitPayment(payment('k-lost')), BankUnavailableError);
    const recorded = bank.payments().filter((p) => p.paymentId === 'k-lost');
    assert.equal(recorded.length, 1);
    const retried = await client.submitPayment(payment('k-lost'));
    assert.equal(retried.reference, recorded[0]?.reference);
  });

  it('reports a late webhook only after its status could be polled', async () => {
    bank.setScenario('k-late', { webhookDelayMs: 600 });
    const { reference } = await client.submitPayment(payment('k-late'));
    await until(
      () => bank.payments().some((p) => p.paymentId === 'k-late' && p.status !== 'pending'),
      'a status',
    );
    const polledAt = Date.now();
    assert.equal((await client.getPaymentStatus(reference)).status, 'settled');
    assert.equal(
      arrivals.find((a) => a.paymentId === 'k-late'),
      undefined,
    );
    await until(() => arrivals.some((a) => a.paymentId === 'k-late'), 'the late webhook');
    assert.ok((arrivals.find((a) => a.paymentId === 'k-late')?.at ?? 0) > polledAt);
  });

  it('holds webhooks until released, so they arrive in the order they are released', async () => {
    const ids = ['k-hold-1', 'k-hold-2', 'k-hold-3'];
    for (const id of ids) {
      bank.setScenario(id, { holdWebhook: true });
      await client.submitPayment(payment(id));
    }
    await until(() => ids.every((id) => bank.heldWebhooks().includes(id)), 'three held webhooks');
    assert.equal(arrivals.filter((a) => ids.includes(a.paymentId)).length, 0);
    for (const id of [...ids].reverse()) {
      assert.equal(bank.releaseWebhook(id), true);
      await until(() => arrivals.some((a) => a.paymentId === id), `the webhook of ${id}`);
    }
    assert.deepEqual(
      arrivals.filter((a) => ids.includes(a.paymentId)).map((a) => a.paymentId),
      [...ids].reverse(),
    );
    assert.equal(bank.releaseWebhook('k-hold-1'), false);
  });
});
