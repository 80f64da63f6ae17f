import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { SIGNATURE_HEADER, signWebhook } from '../../services/bank';
import type { BankWebhookEvent } from '../../services/bank';
import { CORRELATION_ID_HTTP_HEADER } from '../../domain/correlation';
import { MAX_WEBHOOK_BODY_BYTES, startWebhookReceiver } from '../../workers/webhook-receiver';
import type { BankStatusDelivery, WebhookReceiver } from '../../workers/webhook-receiver';

const SECRET = 'whsec-receiver-test-42';
const KNOWN_PAYMENT = 'pay-known-1';
const FLAKY_PAYMENT = 'pay-flaky-1';

function event(overrides: Partial<BankWebhookEvent> = {}): BankWebhookEvent {
  return {
    eventId: 'evt_0001',
    type: 'payment.status',
    paymentId: KNOWN_PAYMENT,
    reference: 'BNK-00000000000000AA',
    status: 'settled',
    occurredAt: '2026-01-15T10:00:00.000Z',
    ...overrides,
  };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

describe('webhook receiver', () => {
  const delivered: BankStatusDelivery[] = [];
  const logLines: string[] = [];
  let receiver: WebhookReceiver;

  /** POSTs `rawBody` to the webhook with the given signature header (none when undefined). */
  async function post(
    rawBody: string,
    signature: string | undefined,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...extraHeaders };
    if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
    const response = await fetch(receiver.url, { method: 'POST', headers, body: rawBody });
    return { status: response.status, body: await response.json() };
  }

  async function postSigned(
    rawBody: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    return post(rawBody, signWebhook(rawBody, SECRET, nowSeconds()), extraHeaders);
  }

  before(async () => {
    receiver = await startWebhookReceiver({
      secret: SECRET,
      log: (line) => logLines.push(line),
      deliver: (delivery) => {
        if (delivery.paymentId === FLAKY_PAYMENT)
          return Promise.reject(new Error('workflow service unreachable'));
        if (delivery.paymentId !== KNOWN_PAYMENT) return Promise.resolve('unknown_payment');
        delivered.push(delivery);
        return Promise.resolve('delivered');
      },
    });
  });

  after(async () => {
    await receiver.close();
  });

  beforeEach(() => {
    delivered.length = 0;
  });

  test('hands a correctly signed status to its payment and answers 200', async () => {
    const answer = await postSigned(JSON.stringify(event({ status: 'returned' })));
    assert.deepEqual(answer, { status: 200, body: { received: true } });
    assert.deepEqual(delivered, [
      {
        paymentId: KNOWN_PAYMENT,
        signal: { bankReference: 'BNK-00000000000000AA', outcome: 'returned', eventId: 'evt_0001' },
      },
    ]);
  });

  test('a duplicate delivery is harmless: both answered 200, the workflow de-duplicates by event id', async () => {
    const rawBody = JSON.stringify(event({ eventId: 'evt_dup' }));
    assert.equal((await postSigned(rawBody)).status, 200);
    assert.equal((await postSigned(rawBody)).status, 200);
    assert.equal(delivered.length, 2);
    assert.deepEqual(delivered[0], delivered[1]);
  });

  test('refuses a forged signature with 401 and delivers nothing', async () => {
    const rawBody = JSON.stringify(event());
    const answer = await post(rawBody, signWebhook(rawBody, 'not-the-bank-secret', nowSeconds()));
    assert.equal(answer.status, 401);
    assert.deepEqual(delivered, []);
  });

  test('refuses a body changed after the bank signed it', async () => {
    const signed = JSON.stringify(event({ status: 'failed' }));
    const answer = await post(signed.replace('failed', 'settled'), signWebhook(signed, SECRET, nowSeconds()));
    assert.equal(answer.status, 401);
    assert.deepEqual(delivered, []);
  });

  test('refuses a missing signature with 401 and delivers nothing', async () => {
    const answer = await post(JSON.stringify(event()), undefined);
    assert.deepEqual(answer, {
      status: 401,
      body: { error: { code: 'invalid_signature', message: 'signature missing' } },
    });
    assert.deepEqual(delivered, []);
  });

  test('refuses a replayed webhook whose signature has expired', async () => {
    const rawBody = JSON.stringify(event());
    const answer = await post(rawBody, signWebhook(rawBody, SECRET, nowSeconds() - 3600));
    assert.equal(answer.status, 401);
    assert.deepEqual(delivered, []);
  });

  test('refuses a signed body that is not JSON with 400', async () => {
    const answer = await postSigned('{"eventId": ');
    assert.equal(answer.status, 400);
    assert.deepEqual(delivered, []);
  });

  test('refuses a signed body that is not a payment status event with 400', async () => {
    const answer = await postSigned(JSON.stringify({ ...event(), status: 'maybe' }));
    assert.equal(answer.status, 400);
    assert.deepEqual(delivered, []);
  });

  test('answers 404 for a payment nobody knows', async () => {
    const answer = await postSigned(JSON.stringify(event({ paymentId: 'pay-nobody' })));
    assert.equal(answer.status, 404);
  });

  test('answers 503 when the status cannot be handed over, so the bank tries again', async () => {
    const answer = await postSigned(JSON.stringify(event({ paymentId: FLAKY_PAYMENT })));
    assert.equal(answer.status, 503);
  });

  test('refuses a body over 64 KiB with 413', async () => {
    const huge = JSON.stringify(event({ eventId: 'evt_big' })) + ' '.repeat(MAX_WEBHOOK_BODY_BYTES);
    const answer = await postSigned(huge);
    assert.equal(answer.status, 413);
    assert.deepEqual(delivered, []);
  });

  test('refuses an oversized body sent without a length with 413', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(receiver.url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      for (let i = 0; i < 5; i += 1) req.write(chunk);
      req.end();
    });
    assert.equal(status, 413);
    assert.deepEqual(delivered, []);
  });

  test('answers the health check', async () => {
    const response = await fetch(new URL('/healthz', receiver.url));
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  test('logs ids and outcomes, never the webhook body', async () => {
    await postSigned(JSON.stringify(event({ eventId: 'evt_logged' })));
    const line = logLines.find((l) => l.includes('evt_logged'));
    assert.ok(line);
    assert.match(line, new RegExp(KNOWN_PAYMENT));
    assert.doesNotMatch(line, /BNK-|occurredAt/);
  });

  test('names the correlation id the bank echoes in the line of that delivery', async () => {
    await postSigned(JSON.stringify(event({ eventId: 'evt_correlated' })), {
      [CORRELATION_ID_HTTP_HEADER]: 'order-7:checkout',
    });
    const line = logLines.find((l) => l.includes('evt_correlated'));
    assert.ok(line);
    assert.match(line, /correlation order-7:checkout/);
  });

  test('leaves out a correlation header that is not a correlation id, and still delivers', async () => {
    for (const [eventId, value] of [
      ['evt_corr_email', 'ada@example.com'],
      ['evt_corr_spaces', 'Ada Lovelace'],
    ] as const) {
      const answer = await postSigned(JSON.stringify(event({ eventId })), {
        [CORRELATION_ID_HTTP_HEADER]: value,
      });
      assert.equal(answer.status, 200);
      const line = logLines.find((l) => l.includes(eventId));
      assert.ok(line);
      assert.doesNotMatch(line, /correlation|ada|Lovelace/i);
    }
    assert.equal(delivered.length, 2);
  });
});
