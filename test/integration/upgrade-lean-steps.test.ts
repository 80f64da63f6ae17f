/**
 * A payment started by the build before the lean steps and finished by the build with them. The old build is today's
 * workflow code bundled with a workflow API whose `patched('lean-steps')` is false: every step a regular activity,
 * every search attribute upserted as it changes. The payment parks at the bank (its webhook held), the old worker
 * drains and stops, the new build takes the run over, the webhook lands: the payment settles on its regular
 * activities, its money moved once. A payment started on the new build runs its ledger steps as local activities
 * and upserts its search attributes twice. Every history replays with the new build.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startPayment } from '../../client/payments';
import { freePort } from '../../services/ports';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { bundleWorkflows } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { webhookDecidedPayment } from '../support/payments';
import { bundleOldBuild, WORKFLOW_API_BEFORE } from '../support/builds';
import { activitiesRun } from '../support/history';
import { deployNewBuild, moneyOf, paymentHistory, releaseHeldWebhook, untilStatus } from '../support/upgrade';

const schema = uniqueSchema('lean');
const LEDGER_STEPS = ['screenBeneficiary', 'debitAccount', 'settlePayment'];
let stack: LocalStack;
let newBuild: WorkflowBundleWithSourceMap;
let stopNewWorker: (() => Promise<void>) | undefined;

/** Which of the ledger steps the run ran as local activities, and which as regular ones. */
async function ledgerSteps(paymentId: string): Promise<{ local: string[]; regular: string[] }> {
  const steps = activitiesRun(await paymentHistory(stack, paymentId)).filter((a) =>
    LEDGER_STEPS.includes(a.type),
  );
  return {
    local: steps.filter((a) => a.local).map((a) => a.type),
    regular: steps.filter((a) => !a.local).map((a) => a.type),
  };
}

/** Upserts of baton's own search attributes (each patch marker comes with the SDK's TemporalChangeVersion one). */
async function upserts(paymentId: string): Promise<number> {
  const history = await paymentHistory(stack, paymentId);
  return (history.events ?? []).filter((e) => {
    const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    return fields != null && Object.keys(fields).some((key) => key !== 'TemporalChangeVersion');
  }).length;
}

before(async () => {
  const [oldBuild, current] = await Promise.all([
    bundleOldBuild(WORKFLOW_API_BEFORE.leanSteps),
    bundleWorkflows(),
  ]);
  newBuild = current;
  stack = await startLocalStack({
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    webhookPort: await freePort(),
    workflowBundle: oldBuild,
  });
});

after(async () => {
  await stopNewWorker?.();
  await stack?.stop();
  await dropSchema(schema);
});

describe('a payment in flight when the lean steps ship', () => {
  test('finishes on its regular activities with its money moved once, while a new one runs its steps locally', async () => {
    const tag = Date.now().toString(36);
    const inFlight = `lean-${tag}-in-flight`;
    const fresh = `lean-${tag}-fresh`;

    stack.bank.setScenario(inFlight, { outcome: 'settled', delayMs: 100, holdWebhook: true });
    const started = await startPayment(stack.client, webhookDecidedPayment(inFlight, 5_00), stack.taskQueue);
    await untilStatus(stack, inFlight, PaymentStatus.Submitted);

    stopNewWorker = await deployNewBuild(stack, newBuild);
    assert.ok(
      await releaseHeldWebhook(stack, inFlight),
      'the bank held the final status of the parked payment',
    );
    assert.equal((await started.handle.result()).status, PaymentStatus.Settled);

    stack.bank.setScenario(fresh, { outcome: 'settled', delayMs: 100 });
    const freshRun = await startPayment(stack.client, webhookDecidedPayment(fresh, 6_00), stack.taskQueue);
    assert.equal((await freshRun.handle.result()).status, PaymentStatus.Settled);

    assert.deepEqual(await moneyOf(stack, inFlight), ['debit', 'settlement']);
    assert.deepEqual(await moneyOf(stack, fresh), ['debit', 'settlement']);
    assert.deepEqual(await ledgerSteps(inFlight), { local: [], regular: LEDGER_STEPS });
    assert.deepEqual(await ledgerSteps(fresh), { local: LEDGER_STEPS, regular: [] });
    // The old revision upserts at each change; the lean one once as it goes to the bank and once as it settles.
    assert.ok((await upserts(inFlight)) >= 5, 'the old revision kept its upserts');
    assert.equal(await upserts(fresh), 2);

    const outcomes = await replayHistories(
      await Promise.all(
        [inFlight, fresh].map(async (paymentId) => ({
          workflowId: paymentWorkflowId(paymentId),
          history: await paymentHistory(stack, paymentId),
          source: paymentId,
        })),
      ),
      newBuild,
      stack.codecKeys,
    );
    assert.deepEqual(
      outcomes.map((o) => [o.source, o.ok, o.message ?? '']),
      [
        [inFlight, true, ''],
        [fresh, true, ''],
      ],
    );
  });
});
