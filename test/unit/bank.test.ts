import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BankClient,
  BankRejectedError,
  BankUnavailableError,
  SimulatedPaymentListSchema,
  signWebhook,
  verifyWebhookSignature,
} from '../../services/bank';
import { startBankSimulator } from '../../local/stand-ins/bank-simulator';
import type { SubmitPaymentRequest } from '../../services/bank';
import type { BankSimulator } from '../../local/stand-ins/bank-simulator';
import { startWebhookReceiver } from '../../workers/webhook-receiver';
import type { BankStatusDelivery, DeliveryResult, WebhookReceiver } from '../../workers/webhook-receiver';
import type { BankOutcome } from '../../domain/payment-terms';
import { freePort } from '../../services/ports';
import { CORRELATION_ID_HTTP_HEADER } from '../../domain/correlation';

const SECRET = 'whsec-test-0123456789';
const API_KEY = 'bank-key-test';
const NOW = 1_760_000_000;

let nextId = 0;
/** A payment request with an id no other test uses. */
function paymentRequest(overrides: Partial<SubmitPaymentRequest> = {}): SubmitPaymentRequest {
  nextId += 1;
  return {
    paymentId: `pay-bank-${process.pid}-${nextId}`,
    amountMinor: 12_345,
    currency: 'EUR',
    beneficiary: { name: 'Ada Example', country: 'DE', iban: 'DE89370400440532013000' },
    ...overrides,
  };
}

/** A `deliver` that records every delivery and lets a test wait until some arrived. */
function recordingDeliver(answer: (event: BankStatusDelivery) => DeliveryResult = () => 'delivered') {
  const events: BankStatusDelivery[] = [];
  const waiters = new Set<() => void>();
  return {
    events,
    forPayment: (paymentId: string) => events.filter((event) => event.paymentId === paymentId),
    deliver: (event: BankStatusDelivery): Promise<DeliveryResult> => {
      events.push(event);
      for (const wake of waiters) wake();
      return Promise.resolve(answer(event));
    },
    /** Resolves once `done()` holds; fails the test if it never does. */
    until: (done: () => boolean, what: string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!done()) return;
          clearTimeout(guard);
          waiters.delete(check);
          resolve();
        };
        const guard = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, 5_000);
        waiters.add(check);
        check();
      }),
  };
}

/** Resolves once `done()` holds, checking every few milliseconds; fails the test if it never does. */
async function eventually(done: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    if (done()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Asks the bank until the payment is no longer pending; returns every status seen, in order. */
async function pollUntilFinal(client: BankClient, reference: string): Promise<string[]> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const { status } = await client.getPaymentStatus(reference);
    if (seen.at(-1) !== status) seen.push(status);
    if (status !== 'pending') return seen;
    await sleep(10);
  }
  throw new Error(`payment ${reference} stayed pending`);
}

describe('webhook signatures', () => {
  const body = JSON.stringify({ eventId: 'evt_1', status: 'settled' });

  test('accepts a body signed with the shared secret', () => {
    const header = signWebhook(body, SECRET, NOW);
    assert.match(header, /^t=1760000000,v1=[0-9a-f]{64}$/);
    assert.deepEqual(verifyWebhookSignature({ rawBody: body, header, secret: SECRET, nowSeconds: NOW }), {
      ok: true,
    });
  });

  test('refuses a body changed after signing', () => {
    const header = signWebhook(body, SECRET, NOW);
    const tampered = body.replace('settled', 'failed');
    assert.deepEqual(verifyWebhookSignature({ rawBody: tampered, header, secret: SECRET, nowSeconds: NOW }), {
      ok: false,
      reason: 'mismatch',
    });
  });

  test('refuses a signature made with another secret', () => {
    const header = signWebhook(body, 'someone-elses-secret', NOW);
    assert.deepEqual(verifyWebhookSignature({ rawBody: body, header, secret: SECRET, nowSeconds: NOW }), {
      ok: false,
      reason: 'mismatch',
    });
  });

  test('refuses a genuine signature whose timestamp is outside the tolerance', () => {
    const header = signWebhook(body, SECRET, NOW - 301);
    assert.deepEqual(verifyWebhookSignature({ rawBody: body, header, secret: SECRET, nowSeconds: NOW }), {
      ok: false,
      reason: 'expired',
    });
    assert.deepEqual(
      verifyWebhookSignature({
        rawBody: body,
        header,
        secret: SECRET,
        nowSeconds: NOW,
        toleranceSeconds: 600,
      }),
      { ok: true },
    );
    const future = signWebhook(body, SECRET, NOW + 301);
    assert.deepEqual(
      verifyWebhookSignature({ rawBody: body, header: future, secret: SECRET, nowSeconds: NOW }),
      {
        ok: false,
        reason: 'expired',
      },
    );
  });

  test('accepts either secret while one is being rotated', () => {
    const both = signWebhook(body, ['old-secret-1234', 'new-secret-5678'], NOW);
    assert.equal(both.split(',').filter((part) => part.startsWith('v1=')).length, 2);
    assert.deepEqual(
      verifyWebhookSignature({ rawBody: body, header: both, secret: 'new-secret-5678', nowSeconds: NOW }),
      { ok: true },
    );
    const oldOnly = signWebhook(body, 'old-secret-1234', NOW);
    assert.deepEqual(
      verifyWebhookSignature({
        rawBody: body,
        header: oldOnly,
        secret: ['new-secret-5678', 'old-secret-1234'],
        nowSeconds: NOW,
      }),
      { ok: true },
    );
  });

  test('says whether a signature is missing or malformed', () => {
    const verify = (header: string | undefined) =>
      verifyWebhookSignature({ rawBody: body, header, secret: SECRET, nowSeconds: NOW });
    assert.deepEqual(verify(undefined), { ok: false, reason: 'missing' });
    assert.deepEqual(verify(''), { ok: false, reason: 'missing' });
    assert.deepEqual(verify('t=abc,v1=00'), { ok: false, reason: 'malformed' });
    assert.deepEqual(verify(`t=${NOW}`), { ok: false, reason: 'malformed' });
    assert.deepEqual(verify(`v1=${'a'.repeat(64)}`), { ok: false, reason: 'malformed' });
  });
});

describe('bank client against the local simulator', () => {
  const recorder = recordingDeliver();
  const receiverLog: string[] = [];
  let receiver: WebhookReceiver;
  let simulator: BankSimulator;
  let client: BankClient;

  before(async () => {
    receiver = await startWebhookReceiver({
      secret: SECRET,
      deliver: recorder.deliver,
      log: (line) => receiverLog.push(line),
    });
    simulator = await startBankSimulator({
      webhookUrl: receiver.url,
      webhookSecret: SECRET,
      apiKey: API_KEY,
      defaultDelayMs: 50,
      webhookRetry: { baseDelayMs: 10 },
    });
    client = new BankClient({ baseUrl: simulator.url, apiKey: API_KEY, timeoutMs: 2_000 });
  });

  after(async () => {
    await simulator.close();
    await receiver.close();
  });

  test('submitting a payment returns a bank reference, pending', async () => {
    const answer = await client.submitPayment(paymentRequest());
    assert.match(answer.reference, /^BNK-[0-9A-F]{16}$/);
    assert.equal(answer.status, 'pending');
  });

  test('submitting the same payment again returns the same reference', async () => {
    const request = paymentRequest();
    const first = await client.submitPayment(request);
    const again = await client.submitPayment({ ...request, beneficiary: { ...request.beneficiary } });
    assert.equal(again.reference, first.reference);
    assert.equal(simulator.payments().filter((p) => p.paymentId === request.paymentId).length, 1);
  });

  test('refuses a reused idempotency key with a different payment, and the refusal is final', async () => {
    const request = paymentRequest();
    await client.submitPayment(request);
    await assert.rejects(
      client.submitPayment({ ...request, amountMinor: request.amountMinor + 1 }),
      (error) => {
        assert.ok(error instanceof BankRejectedError);
        assert.equal(error.httpStatus, 422);
        assert.equal(error.code, 'idempotency_key_reused');
        return true;
      },
    );
  });

  test('refuses a malformed payment as a final rejection', async () => {
    await assert.rejects(client.submitPayment(paymentRequest({ amountMinor: 10.5 })), (error) => {
      assert.ok(error instanceof BankRejectedError);
      assert.equal(error.httpStatus, 400);
      assert.equal(error.code, 'invalid_request');
      return true;
    });
  });

  test('refuses a caller without the API key', async () => {
    const stranger = new BankClient({ baseUrl: simulator.url });
    await assert.rejects(stranger.submitPayment(paymentRequest()), (error) => {
      assert.ok(error instanceof BankRejectedError);
      assert.equal(error.httpStatus, 401);
      return true;
    });
  });

  test('status polling sees the payment pending, then final', async () => {
    const request = paymentRequest();
    // Long enough that the first question surely comes before the outcome; polling then waits for it.
    simulator.setScenario(request.paymentId, { outcome: 'settled', delayMs: 300 });
    const { reference } = await client.submitPayment(request);
    const seen = await pollUntilFinal(client, reference);
    assert.deepEqual(seen, ['pending', 'settled']);
    const status = await client.getPaymentStatus(reference);
    assert.deepEqual(status, { reference, paymentId: request.paymentId, status: 'settled' });
  });

  test('an unknown reference is refused with 404', async () => {
    await assert.rejects(client.getPaymentStatus('BNK-NOPE'), (error) => {
      assert.ok(error instanceof BankRejectedError);
      assert.equal(error.httpStatus, 404);
      return true;
    });
  });

  for (const outcome of ['settled', 'failed', 'returned'] as const satisfies readonly BankOutcome[]) {
    test(`a payment forced to ${outcome} reports ${outcome} by signed webhook and by status`, async () => {
      const request = paymentRequest();
      simulator.setScenario(request.paymentId, { outcome, delayMs: 50 });
      const { reference } = await client.submitPayment(request);
      await recorder.until(() => recorder.forPayment(request.paymentId).length > 0, `the ${outcome} webhook`);
      const [event] = recorder.forPayment(request.paymentId);
      assert.equal(event?.signal.outcome, outcome);
      assert.equal(event?.signal.bankReference, reference);
      assert.match(event?.signal.eventId ?? '', /^evt_/);
      assert.equal((await client.getPaymentStatus(reference)).status, outcome);
    });
  }

  test('a dropped webhook is never sent, but the status still answers the outcome', async () => {
    const request = paymentRequest();
    simulator.setScenario(request.paymentId, { outcome: 'failed', webhook: 'drop', delayMs: 50 });
    const { reference } = await client.submitPayment(request);
    assert.equal((await pollUntilFinal(client, reference)).at(-1), 'failed');
    const record = simulator.payments().find((p) => p.reference === reference);
    assert.equal(record?.status, 'failed');
    assert.equal(record?.webhookAttempts, 0);
    assert.deepEqual(recorder.forPayment(request.paymentId), []);
  });

  test('a webhook sent twice carries the same event id both times', async () => {
    const request = paymentRequest();
    simulator.setScenario(request.paymentId, { outcome: 'settled', webhook: 'twice', delayMs: 50 });
    await client.submitPayment(request);
    await recorder.until(() => recorder.forPayment(request.paymentId).length === 2, 'both webhooks');
    const [first, second] = recorder.forPayment(request.paymentId);
    assert.ok(first && second);
    assert.equal(first.signal.eventId, second.signal.eventId);
    assert.deepEqual(first, second);
  });

  test('a bank outage on submit is transient: the retry succeeds with one payment', async () => {
    const request = paymentRequest();
    simulator.setScenario(request.paymentId, { failSubmits: 1 });
    await assert.rejects(client.submitPayment(request), (error) => {
      assert.ok(error instanceof BankUnavailableError);
      assert.equal(error.httpStatus, 500);
      return true;
    });
    const answer = await client.submitPayment(request);
    assert.equal(answer.status, 'pending');
    assert.equal(simulator.payments().filter((p) => p.paymentId === request.paymentId).length, 1);
  });

  test('scenarios can be set and payments listed over HTTP by another process', async () => {
    const request = paymentRequest();
    const put = await fetch(`${simulator.url}/_sim/scenarios/${request.paymentId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'returned', webhook: 'drop', delayMs: 0 }),
    });
    assert.equal(put.status, 204);
    const bad = await fetch(`${simulator.url}/_sim/scenarios/${request.paymentId}`, {
      method: 'PUT',
      body: JSON.stringify({ outcome: 'maybe' }),
    });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();

    const { reference } = await client.submitPayment(request);
    assert.equal((await pollUntilFinal(client, reference)).at(-1), 'returned');
    const list = SimulatedPaymentListSchema.parse(
      await (await fetch(`${simulator.url}/_sim/payments`)).json(),
    );
    const listed = list.payments.find((p) => p.paymentId === request.paymentId);
    assert.equal(listed?.reference, reference);
    assert.equal(listed?.status, 'returned');
    assert.equal(listed?.webhook, 'drop');
  });

  test('the correlation id rides to the bank as a header, is kept with the payment and echoed on its webhook', async () => {
    const request = paymentRequest();
    simulator.setScenario(request.paymentId, { outcome: 'settled', delayMs: 50 });
    const { reference } = await client.submitPayment({ ...request, correlationId: 'order-42:pay' });
    // A resubmission under another id is the same payment: the bank keeps the first.
    const again = await client.submitPayment({ ...request, correlationId: 'another-process' });
    assert.equal(again.reference, reference);
    assert.equal(simulator.payments().find((p) => p.reference === reference)?.correlationId, 'order-42:pay');

    await eventually(
      () => receiverLog.some((line) => line.includes(request.paymentId) && line.includes('delivered')),
      'the webhook to be delivered',
    );
    const line = receiverLog.find((l) => l.includes(request.paymentId));
    assert.match(line ?? '', /correlation order-42:pay\b/);
    assert.doesNotMatch(line ?? '', /another-process/);

    const list = SimulatedPaymentListSchema.parse(
      await (await fetch(`${simulator.url}/_sim/payments`)).json(),
    );
    assert.equal(list.payments.find((p) => p.reference === reference)?.correlationId, 'order-42:pay');
  });

  test('a payment submitted without a correlation id has none at the bank or on its webhook', async () => {
    const request = paymentRequest();
    simulator.setScenario(request.paymentId, { outcome: 'settled', delayMs: 0 });
    const { reference } = await client.submitPayment(request);
    const record = simulator.payments().find((p) => p.reference === reference);
    assert.ok(record);
    assert.equal('correlationId' in record, false);
    await eventually(
      () => receiverLog.some((line) => line.includes(request.paymentId) && line.includes('delivered')),
      'the webhook to be delivered',
    );
    assert.doesNotMatch(receiverLog.find((l) => l.includes(request.paymentId)) ?? '', /correlation/);
  });

  test('a correlation id that is not one is refused before anything reaches the bank', async () => {
    const request = paymentRequest();
    await assert.rejects(client.submitPayment({ ...request, correlationId: 'two words' }), TypeError);
    assert.equal(simulator.payments().filter((p) => p.paymentId === request.paymentId).length, 0);

    const raw = await fetch(`${simulator.url}/v1/payments`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${API_KEY}`,
        'Idempotency-Key': request.paymentId,
        [CORRELATION_ID_HTTP_HEADER]: 'ada@example.com',
      },
      body: JSON.stringify(request),
    });
    assert.equal(raw.status, 400);
    assert.deepEqual(
      ((await raw.json()) as { error: { code: string } }).error.code,
      'invalid_correlation_id',
    );
    assert.equal(simulator.payments().filter((p) => p.paymentId === request.paymentId).length, 0);
  });
});

describe('bank client on the wire', () => {
  test('sends the correlation id as X-Correlation-ID and keeps it out of the body', async () => {
    const seen: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const capture = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res
          .writeHead(201, { 'content-type': 'application/json' })
          .end(JSON.stringify({ reference: 'BNK-1', status: 'pending' }));
      });
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    try {
      const port = (capture.address() as AddressInfo).port;
      const client = new BankClient({ baseUrl: `http://127.0.0.1:${port}` });
      const request = paymentRequest();
      await client.submitPayment({ ...request, correlationId: 'corr-wire-1' });
      await client.submitPayment(request);
      const [withId, without] = seen;
      assert.equal(withId?.headers['x-correlation-id'], 'corr-wire-1');
      assert.deepEqual(JSON.parse(withId?.body ?? ''), request);
      assert.equal(without?.headers['x-correlation-id'], undefined);
    } finally {
      capture.closeAllConnections();
      await new Promise<void>((resolve) => capture.close(() => resolve()));
    }
  });
});

describe('bank client when the bank misbehaves', () => {
  test('a bank that is not listening is unavailable, not a rejection', async () => {
    const client = new BankClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(client.submitPayment(paymentRequest()), BankUnavailableError);
    await assert.rejects(client.getPaymentStatus('BNK-1'), BankUnavailableError);
  });

  test('a bank that does not answer in time is unavailable', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const client = new BankClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 100 });
      await assert.rejects(client.submitPayment(paymentRequest()), (error) => {
        assert.ok(error instanceof BankUnavailableError);
        assert.match(error.message, /no answer within 100 ms/);
        return true;
      });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('a success answer the client cannot read is unavailable, so the submission is retried', async () => {
    const garbled = createServer((_req, res) =>
      res.writeHead(201, { 'content-type': 'text/plain' }).end('OK!'),
    );
    await new Promise<void>((resolve) => garbled.listen(0, '127.0.0.1', resolve));
    try {
      const port = (garbled.address() as AddressInfo).port;
      const client = new BankClient({ baseUrl: `http://127.0.0.1:${port}` });
      await assert.rejects(client.submitPayment(paymentRequest()), (error) => {
        assert.ok(error instanceof BankUnavailableError);
        assert.equal(error.httpStatus, 201);
        return true;
      });
    } finally {
      garbled.closeAllConnections();
      await new Promise<void>((resolve) => garbled.close(() => resolve()));
    }
  });

  test('the bank retries a webhook the receiver could not hand over', async () => {
    let calls = 0;
    const flaky = recordingDeliver();
    const receiver = await startWebhookReceiver({
      secret: SECRET,
      deliver: async (event) => {
        calls += 1;
        if (calls === 1) throw new Error('temporal is briefly unreachable');
        return flaky.deliver(event);
      },
    });
    const simulator = await startBankSimulator({
      webhookUrl: receiver.url,
      webhookSecret: SECRET,
      defaultDelayMs: 0,
      webhookRetry: { attempts: 3, baseDelayMs: 10 },
    });
    try {
      const request = paymentRequest();
      await new BankClient({ baseUrl: simulator.url }).submitPayment(request);
      await flaky.until(() => flaky.events.length === 1, 'the retried webhook');
      assert.equal(calls, 2);
      // The simulator counts the delivery once it has read the receiver's answer, just after `deliver` returned.
      await eventually(() => simulator.deliveredWebhooks() === 1, 'the simulator to count the delivery');
      const record = simulator.payments()[0];
      assert.equal(record?.webhookAttempts, 2);
      assert.equal(record?.webhooksDelivered, 1);
    } finally {
      await simulator.close();
      await receiver.close();
    }
  });
});
