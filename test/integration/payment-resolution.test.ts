/**
 * Resolving payments whose run an operator terminated at the bank, on the real stack: the Temporal dev server, the
 * ledger on PostgreSQL, the bank simulator holding its webhooks, and the CLI run as a person runs it. Each payment is
 * parked at the bank with its final status decided there and its webhook held, so only `resolve` can end it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { paymentState, startPayment } from '../../client/payments';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { paymentWorkflow } from '../../workflows/payment';
import type { Resolution } from '../../workflows/payment-resolution-contract';
import { runCli } from '../support/cli';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { webhookDecidedPayment } from '../support/payments';

const schema = uniqueSchema('resolve');
const tag = Date.now().toString(36);
let stack: LocalStack;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(env, ...args);

/** Polls `check` until it holds: conditions, never a sleep that asserts timing. */
async function eventually(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a payment and waits until the bank has decided it (webhook held) and the run knows its reference. */
async function parkAtBank(paymentId: string, outcome: 'settled' | 'failed', amountMinor: number) {
  stack.bank.setScenario(paymentId, { outcome, delayMs: 50, holdWebhook: true });
  const started = await startPayment(
    stack.client,
    webhookDecidedPayment(paymentId, amountMinor),
    stack.taskQueue,
  );
  await eventually(`${paymentId} at the bank`, async () => {
    const state = await paymentState(stack.client, paymentId).catch(() => undefined);
    return (
      state?.status === PaymentStatus.Submitted &&
      state.bank?.reference !== undefined &&
      stack.bank.heldWebhooks().includes(paymentId)
    );
  });
  return started.handle;
}

/** The steps under which the ledger moved this payment's money, by key suffix. */
async function moneyOf(paymentId: string): Promise<string[]> {
  return (await stack.ledger.listTransfers())
    .filter((t) => t.idempotencyKey.startsWith(`${paymentId}:`))
    .map((t) => t.idempotencyKey.slice(paymentId.length + 1))
    .sort();
}

async function assertBalanced(): Promise<void> {
  for (const total of await stack.ledger.balanceTotals()) {
    assert.equal(total.sum, 0, `${total.currency} sums to 0`);
  }
}

const settledId = `resolve-${tag}-settled`;
const failedId = `resolve-${tag}-failed`;
const runningId = `resolve-${tag}-running`;

before(async () => {
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_UI_URL: 'http://ui.test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
  };
  const [settled, failed] = await Promise.all([
    parkAtBank(settledId, 'settled', 7_00),
    parkAtBank(failedId, 'failed', 8_00),
    parkAtBank(runningId, 'settled', 9_00),
  ]);
  await settled.terminate('operator ended it at the bank');
  await failed.terminate('operator ended it at the bank');
});

after(async () => {
  await stack?.stop();
  await dropSchema(schema);
});

describe('resolving a payment whose run was terminated at the bank', () => {
  test('refuses while the payment is still running, and moves nothing', async () => {
    const run = await cli('resolve', runningId, '--reviewer', 'ops-anna');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /payment_run_open/);
    assert.match(run.stderr, /still running/);
    assert.deepEqual(await moneyOf(runningId), ['debit']);

    // Its own run still ends it, as if nothing had been asked.
    assert.ok(stack.bank.releaseWebhook(runningId));
    const ended = await stack.client.workflow
      .getHandle<typeof paymentWorkflow>(paymentWorkflowId(runningId))
      .result();
    assert.equal(ended.status, PaymentStatus.Settled);
    assert.deepEqual(await moneyOf(runningId), ['debit', 'settlement']);
  });

  test('settles one the bank settled, under the payment’s own settlement key', async () => {
    const run = await cli('resolve', settledId, '--reviewer', 'ops-anna', '--note', 'ticket 4711', '--json');
    assert.equal(run.code, 0, run.stderr);
    const resolution = JSON.parse(run.stdout) as Resolution & { alreadyResolved: boolean };
    assert.equal(resolution.outcome, 'settled');
    assert.equal(resolution.bankStatus, 'settled');
    assert.equal(resolution.reviewer, 'ops-anna');
    assert.equal(resolution.note, 'ticket 4711');
    assert.equal(resolution.amountMinor, 7_00);
    assert.equal(resolution.alreadyResolved, false);
    assert.equal(resolution.notification?.outcome, 'sent_email');
    assert.deepEqual(await moneyOf(settledId), ['debit', 'settlement']);
    const settlement = await stack.ledger.getTransferByKey(`${settledId}:settlement`);
    assert.equal(settlement?.id, resolution.ledger.settlementTransferId);
    assert.equal(settlement?.amountMinor, 7_00);
    await assertBalanced();

    // `status` shows the terminated run where it stopped, and the resolution that ended it.
    const status = await cli('status', settledId, '--json');
    assert.equal(status.code, 0, status.stderr);
    const shown = JSON.parse(status.stdout) as { status: string; resolution?: Resolution };
    assert.equal(shown.status, PaymentStatus.Submitted);
    assert.equal(shown.resolution?.outcome, 'settled');
    assert.equal(shown.resolution?.reviewer, 'ops-anna');
    const text = await cli('status', settledId);
    assert.match(
      text.stdout,
      new RegExp(`^payment ${settledId}: settled by resolution \\(its run stopped at submitted\\)`),
    );
    assert.match(text.stdout, /resolution: settled by ops-anna at .* \(bank: settled\)/);
  });

  test('reverses one the bank failed, printing who resolved it', async () => {
    const run = await cli('resolve', failedId, '--reviewer', 'ops-ben');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`payment ${failedId}: reversed by resolution \\(bank: failed\\)`));
    assert.match(run.stdout, /amount: {3}8\.00 EUR from A-1001-EUR/);
    assert.match(run.stdout, /resolved: by ops-ben/);
    assert.deepEqual(await moneyOf(failedId), ['debit', 'debit-reversal']);
    await assertBalanced();
  });

  test('refuses a second resolution of the same payment, and moves nothing', async () => {
    const before = await stack.ledger.listTransfers();
    const run = await cli('resolve', settledId, '--reviewer', 'ops-carla');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /already resolved \(settled, by ops-anna\); nothing moved/);
    assert.deepEqual(await stack.ledger.listTransfers(), before);
  });

  test('refuses a payment resolved by its own run, and moves nothing', async () => {
    const run = await cli('resolve', runningId, '--reviewer', 'ops-anna');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /already_resolved/);
    assert.deepEqual(await moneyOf(runningId), ['debit', 'settlement']);
  });

  test('a reset of the terminated run after its resolution moves no money again', async () => {
    const before = await stack.ledger.listTransfers();
    // As `temporal workflow reset --type FirstWorkflowTask` does: the new run replays every step from the start.
    const terminated = stack.client.workflow.getHandle<typeof paymentWorkflow>(paymentWorkflowId(settledId));
    const { runId } = await terminated.describe();
    const events = (await terminated.fetchHistory()).events ?? [];
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes != null);
    assert.ok(firstTask?.eventId, 'the terminated run completed a workflow task');
    const reset = await stack.client.workflowService.resetWorkflowExecution({
      namespace: stack.namespace,
      workflowExecution: { workflowId: paymentWorkflowId(settledId), runId },
      workflowTaskFinishEventId: firstTask.eventId,
      reason: 'operator reset after the resolution',
      requestId: randomUUID(),
    });
    assert.ok(reset.runId && reset.runId !== runId);

    // The new run debits, submits and settles under the payment's own keys, which the ledger already holds.
    await eventually(`the reset run of ${settledId} at the bank`, async () => {
      const state = await paymentState(stack.client, settledId).catch(() => undefined);
      return state?.status === PaymentStatus.Submitted || state?.status === PaymentStatus.Settled;
    });
    stack.bank.releaseWebhook(settledId);
    const ended = await stack.client.workflow
      .getHandle<typeof paymentWorkflow>(paymentWorkflowId(settledId), reset.runId)
      .result();
    assert.equal(ended.status, PaymentStatus.Settled);
    assert.equal(
      ended.ledger.settlementTransferId,
      (await stack.ledger.getTransferByKey(`${settledId}:settlement`))?.id,
    );
    assert.deepEqual(await stack.ledger.listTransfers(), before);
    await assertBalanced();
  });

  test('says there is nothing to resolve for an unknown payment id', async () => {
    const run = await cli('resolve', `resolve-${tag}-nobody`, '--reviewer', 'ops-anna');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /nothing_to_resolve/);
    assert.match(run.stderr, /no run and no debit/);
  });

  test('refuses bad input with exit 2, starting nothing', async () => {
    const missing = await cli('resolve', settledId);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--reviewer is required/);
    const unknown = await cli('resolve', settledId, '--reviewer', 'ops-anna', '--force');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--force/);
    const noId = await cli('resolve', '--reviewer', 'ops-anna');
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /resolve needs a payment id/);
  });
});
