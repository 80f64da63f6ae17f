/**
 * Payments with everything real: a Temporal dev server, the ledger on the machine's PostgreSQL, the bank simulator
 * and its signed webhooks over HTTP, the worker, and the CLI run as a person runs it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { signWebhook } from '../../services/bank';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { PaymentStatus, paymentStatusQuery, paymentWorkflowId } from '../../workflows/payment-contract';
import type { PaymentState } from '../../workflows/payment-contract';
import { runCli } from '../support/cli';
import type { CliRun } from '../support/cli';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const SECRET = 'stack-test-webhook-secret';
const schema = uniqueSchema('stack');
let stack: LocalStack;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(env, ...args);

function json<T>(run: CliRun): T {
  assert.equal(run.code, 0, `CLI failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

const payArgs = (id: string, name: string = AML_DEMO_NAMES.clear) => [
  'pay',
  '--from',
  'A-1001-EUR',
  '--to-name',
  name,
  '--to-iban',
  'DE89 3704 0044 0532 0130 00',
  '--to-country',
  'de',
  '--amount',
  '12.34',
  '--currency',
  'EUR',
  '--id',
  id,
];

async function waitForStatus(
  paymentId: string,
  status: PaymentStatus,
  also: (state: PaymentState) => boolean = () => true,
): Promise<PaymentState> {
  const handle = stack.client.workflow.getHandle(paymentWorkflowId(paymentId));
  for (let i = 0; i < 300; i++) {
    const state = await handle.query(paymentStatusQuery).catch(() => undefined);
    if (state?.status === status && also(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${paymentId} never reached ${status}`);
}

before(async () => {
  stack = await startLocalStack({
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    webhookSecret: SECRET,
    bankDelayMs: 300,
  });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_UI_URL: 'http://ui.test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
  };
});

after(async () => {
  await stack.stop();
  await dropSchema(schema);
});

describe('payments on the real stack', () => {
  test('pays through the bank and settles on its signed webhook, printing the UI link', async () => {
    const result = json<PaymentState & { workflowId: string; uiUrl: string; existing: boolean }>(
      await cli(...payArgs('it-settled'), '--wait', '--json'),
    );
    assert.equal(result.status, 'settled');
    assert.equal(result.workflowId, 'payment:it-settled');
    assert.equal(result.existing, false);
    assert.equal(result.bank?.source, 'webhook');
    assert.match(
      result.uiUrl,
      /^http:\/\/ui\.test\/namespaces\/default\/workflows\/payment%3Ait-settled\/[\w-]+\/history$/,
    );
    assert.ok(stack.bank.deliveredWebhooks() >= 1);
  });

  test('returns the existing run when the same payment id is paid again', async () => {
    const again = json<{ existing: boolean; status: string }>(await cli(...payArgs('it-settled'), '--json'));
    assert.equal(again.existing, true);
    const debits = (await stack.ledger.listTransfers()).filter(
      (t) => t.idempotencyKey === 'it-settled:debit',
    );
    assert.equal(debits.length, 1);
  });

  for (const [flag, value, message] of [
    ['--amount', '12.345', /more than 2 decimals/],
    ['--amount', '-1', /argument is ambiguous/],
    ['--amount', '0', /greater than zero/],
    ['--amount', '1e3', /not a plain decimal/],
    ['--amount', 'abc', /not a plain decimal/],
    ['--to-iban', 'DE00370400440532013000', /IBAN is not valid/],
    ['--to-country', 'Germany', /two-letter ISO code/],
    ['--currency', 'XYZ', /unknown currency/],
  ] as const) {
    test(`refuses ${flag} ${value} with exit 2 and starts nothing`, async () => {
      const args = payArgs(`it-bad-${flag.slice(2)}-${value}`.replace(/[^\w.-]/g, '_'));
      args[args.indexOf(flag) + 1] = value;
      const run = await cli(...args);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      const id = args[args.indexOf('--id') + 1] ?? '';
      await assert.rejects(
        stack.client.workflow.getHandle(paymentWorkflowId(id)).describe(),
        WorkflowNotFoundError,
      );
    });
  }

  test('refuses a missing required flag and an unknown one with exit 2', async () => {
    const missing = await cli('pay', '--to-name', 'Someone', '--amount', '1', '--currency', 'EUR');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required/);
    const unknown = await cli(...payArgs('it-unknown-flag'), '--colour', 'blue');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /colour/);
  });

  test('answers a forged webhook with 401 and changes nothing, then accepts the genuine one', async () => {
    stack.bank.setScenario('it-forged', { webhook: 'drop', delayMs: 0 });
    await cli(...payArgs('it-forged'), '--json');
    // `submitted` is set as the bank is called; the reference arrives with the bank's answer.
    const submitted = await waitForStatus(
      'it-forged',
      PaymentStatus.Submitted,
      (state) => !!state.bank?.reference,
    );
    const reference = submitted.bank?.reference ?? '';
    const body = JSON.stringify({
      eventId: 'ev-forged',
      type: 'payment.status',
      paymentId: 'it-forged',
      reference,
      status: 'failed',
      occurredAt: new Date().toISOString(),
    });
    const now = Math.floor(Date.now() / 1000);
    const forged = await fetch(stack.worker.webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'bank-signature': signWebhook(body, 'not-the-secret', now),
      },
      body,
    });
    assert.equal(forged.status, 401);
    const unsigned = await fetch(stack.worker.webhookUrl, { method: 'POST', body });
    assert.equal(unsigned.status, 401);
    const handle = stack.client.workflow.getHandle(paymentWorkflowId('it-forged'));
    assert.equal((await handle.query(paymentStatusQuery)).status, PaymentStatus.Submitted);

    const genuine = body.replace('"failed"', '"settled"').replace('ev-forged', 'ev-genuine');
    const accepted = await fetch(stack.worker.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'bank-signature': signWebhook(genuine, SECRET, now) },
      body: genuine,
    });
    assert.equal(accepted.status, 200);
    const state = (await handle.result()) as PaymentState;
    assert.equal(state.status, PaymentStatus.Settled);
  });

  test('reviews, shows and lists payments through the CLI', async () => {
    await cli(...payArgs('it-review', AML_DEMO_NAMES.review));
    await waitForStatus('it-review', PaymentStatus.AwaitingAmlReview);
    const waiting = json<{ status: string }>(await cli('status', 'it-review', '--json'));
    assert.equal(waiting.status, 'awaiting_aml_review');

    const noDecision = await cli('review', 'it-review', '--reviewer', 'officer');
    assert.equal(noDecision.code, 2);
    const reviewed = await cli(
      'review',
      'it-review',
      '--approve',
      '--reviewer',
      'officer-7',
      '--note',
      'id checked',
    );
    assert.equal(reviewed.code, 0, reviewed.stderr);
    await stack.client.workflow.getHandle(paymentWorkflowId('it-review')).result();

    const shown = json<PaymentState>(await cli('status', 'it-review', '--json'));
    assert.equal(shown.status, 'settled');
    assert.equal(shown.aml?.review?.reviewer, 'officer-7');

    let listed: { workflowId: string; status: string }[] = [];
    for (let i = 0; i < 20; i++) {
      listed = json(await cli('list', '--status', 'settled', '--json'));
      if (listed.some((r) => r.workflowId === 'payment:it-review')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.ok(listed.some((r) => r.workflowId === 'payment:it-review'));
    assert.ok(listed.every((r) => r.status === 'settled'));
  });

  test('refuses to cancel a settled payment, with exit 1', async () => {
    const run = await cli('cancel', 'it-settled');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cancel refused: payment it-settled is settled/);
  });

  test('says so when a payment does not exist', async () => {
    const run = await cli('status', 'it-nobody');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no payment or registration with id it-nobody/);
  });

  test('lists every ledger account with its balance in minor units, summing to zero', async () => {
    const accounts = json<
      { id: string; kind: string; customerId: string | null; currency: string; balance: number }[]
    >(await cli('accounts', '--json'));
    const rich = accounts.find((a) => a.id === 'A-1001-EUR');
    assert.equal(rich?.kind, 'customer');
    assert.equal(rich?.customerId, 'C-1001');
    assert.ok(accounts.every((a) => Number.isSafeInteger(a.balance)));
    for (const currency of new Set(accounts.map((a) => a.currency))) {
      const sum = accounts.filter((a) => a.currency === currency).reduce((acc, a) => acc + a.balance, 0);
      assert.equal(sum, 0, `${currency} balances sum to zero`);
    }
  });
});
