/**
 * What the Temporal server stores holds no personal data in clear. Payments and registrations (including failures,
 * fallbacks and reviews) run on the real stack with its payload codec; then their raw histories are read with a
 * client that has NO codec, and every string in them — decoded from base64 where it is base64 — is searched for the
 * people's names, emails, phones and IBANs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@temporalio/client';
import { historyToJSON, JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import { paymentState, reviewPayment, startPayment } from '../../client/payments';
import { startRegistration } from '../../client/registrations';
import { EncryptionCodec } from '../../temporal/codec';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { PaymentStatus } from '../../workflows/payment-contract';
import type { PaymentRequest } from '../../workflows/payment-contract';

/** Personal data the runs below carry; none of it may appear in clear in a history. */
const SECRETS = {
  beneficiary: 'Zoë Privatperson-Geheim',
  reviewedBeneficiary: 'Hamish Drumond-Kilbryde',
  iban: 'GB82WEST12345698765432',
  name: 'Quentin Verborgen',
  email: 'quentin.verborgen@example.com',
  phone: '+4915177788899',
  invalidPhone: '+15005550001',
  note: 'passport of Quentin checked',
};

let stack: LocalStack;
const workflowIds: string[] = [];

function payment(paymentId: string, name: string, overrides: Partial<PaymentRequest> = {}): PaymentRequest {
  return {
    paymentId,
    fromAccountId: 'A-1001-EUR',
    amountMinor: 12_00,
    currency: 'EUR',
    beneficiary: { name, country: 'GB', iban: SECRETS.iban },
    timings: {
      amlReviewTimeoutMs: 60_000,
      bankStatusTimeoutMs: 30_000,
      bankPollAttempts: 2,
      bankPollIntervalMs: 1_000,
      needsAttentionRecheckMs: 60_000,
    },
    ...overrides,
  };
}

/** Every string inside `value`, and for each base64-looking one, its decoded text too. */
function texts(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    out.push(value);
    if (value.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(value))
      out.push(Buffer.from(value, 'base64').toString('utf8'));
  } else if (Array.isArray(value)) {
    for (const item of value) texts(item, out);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) texts(item, out);
  }
  return out;
}

before(async () => {
  stack = await startLocalStack({ bankDelayMs: 200 });

  const settled = payment('privacy-settled', SECRETS.beneficiary);
  stack.bank.setScenario(settled.paymentId, { outcome: 'settled', delayMs: 200 });
  const failed = payment('privacy-failed', SECRETS.beneficiary, { paymentId: 'privacy-failed' });
  stack.bank.setScenario(failed.paymentId, { outcome: 'failed', delayMs: 200 });
  const reviewed = payment('privacy-reviewed', SECRETS.reviewedBeneficiary);
  const poor = payment('privacy-no-funds', SECRETS.beneficiary, {
    fromAccountId: 'A-1002-EUR',
    amountMinor: 900_00,
  });

  const runs = await Promise.all([
    startPayment(stack.client, settled, stack.taskQueue),
    startPayment(stack.client, failed, stack.taskQueue),
    startPayment(stack.client, poor, stack.taskQueue),
    startPayment(stack.client, reviewed, stack.taskQueue),
  ]);
  for (let i = 0; i < 300; i++) {
    const state = await paymentState(stack.client, reviewed.paymentId).catch(() => undefined);
    if (state?.status === PaymentStatus.AwaitingAmlReview) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await reviewPayment(stack.client, reviewed.paymentId, {
    decision: 'reject',
    reviewer: 'officer-p',
    note: SECRETS.note,
  });

  const registrations = await Promise.all([
    startRegistration(
      stack.client,
      {
        registrationId: 'privacy-sms',
        name: SECRETS.name,
        email: SECRETS.email,
        phone: SECRETS.phone,
        channel: 'sms',
        currency: 'EUR',
      },
      stack.taskQueue,
    ),
    startRegistration(
      stack.client,
      {
        registrationId: 'privacy-fallback',
        name: SECRETS.name,
        email: `other.${SECRETS.email}`,
        phone: SECRETS.invalidPhone,
        channel: 'sms',
        currency: 'EUR',
      },
      stack.taskQueue,
    ),
  ]);
  for (const run of [...runs, ...registrations]) {
    await run.handle.result();
    workflowIds.push(run.workflowId);
  }
  // A duplicate email: its rejection travels as an activity failure.
  const duplicate = await startRegistration(
    stack.client,
    {
      registrationId: 'privacy-duplicate',
      name: SECRETS.name,
      email: SECRETS.email.toUpperCase(),
      channel: 'email',
      currency: 'EUR',
    },
    stack.taskQueue,
  );
  await duplicate.handle.result();
  workflowIds.push(duplicate.workflowId);
});

after(async () => {
  await stack.stop();
});

describe('personal data in the Temporal server', () => {
  test('is encrypted: raw histories read without the codec hold none of it in clear', async () => {
    // A client of our own, on the same server, with the default data converter: it sees what the server stores.
    const raw = new Client({ connection: stack.client.connection, namespace: stack.namespace });
    const leaks: string[] = [];
    for (const workflowId of workflowIds) {
      const history = await raw.workflow.getHandle(workflowId).fetchHistory();
      const strings = texts(JSON.parse(historyToJSON(history)));
      for (const [label, secret] of Object.entries(SECRETS)) {
        const needle = secret.toLowerCase();
        if (strings.some((s) => s.toLowerCase().includes(needle))) leaks.push(`${workflowId}: ${label}`);
      }
    }
    assert.deepEqual(leaks, []);
  });

  test('is there, decrypted, for whoever holds the keys (so the search above can find it)', async () => {
    // The same search over the same raw history, after decoding every payload with the stack's keys: it must
    // find the beneficiary, or the test above would prove nothing.
    const raw = new Client({ connection: stack.client.connection, namespace: stack.namespace });
    const history = JSON.parse(
      historyToJSON(await raw.workflow.getHandle('payment:privacy-settled').fetchHistory()),
    ) as unknown;
    const codec = new EncryptionCodec(stack.codecKeys);
    const decoded: unknown[] = [];
    const visit = async (value: unknown): Promise<void> => {
      if (Array.isArray(value)) {
        for (const item of value) await visit(item);
      } else if (value !== null && typeof value === 'object') {
        if ('metadata' in value && 'data' in value) {
          const [plain] = await codec.decode([JSONToPayload(value as Parameters<typeof JSONToPayload>[0])]);
          if (plain) decoded.push(payloadToJSON(plain));
        }
        for (const item of Object.values(value)) await visit(item);
      }
    };
    await visit(history);
    const strings = texts(decoded);
    assert.ok(strings.some((s) => s.includes(SECRETS.beneficiary)));
    assert.ok(strings.some((s) => s.includes(SECRETS.iban)));
  });

  test('search attributes carry ids, statuses and amounts only', async () => {
    for (const workflowId of workflowIds) {
      const described = await stack.client.workflow.getHandle(workflowId).describe();
      const attrs = JSON.stringify(described.searchAttributes).toLowerCase();
      for (const secret of Object.values(SECRETS))
        assert.ok(!attrs.includes(secret.toLowerCase()), workflowId);
    }
  });
});
