/**
 * A payment started by the build before the lean steps and finished by the build with them. The old build is today's
 * workflow code bundled with a workflow API whose `patched('lean-steps')` is false: every step a regular activity,
 * every search attribute upserted as it changes. The payment parks at the bank (its webhook held), the old worker
 * drains and stops, the new build takes the run over, the webhook lands: the payment settles on its regular
 * activities, its money moved once. A payment started on the new build runs its ledger steps as local activities
 * and upserts its search attributes twice. Every history replays with the new build.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startPayment } from '../../client/payments';
import { PaymentStatus } from '../../workflows/payment-contract';
import { webhookDecidedPayment } from '../support/payments';
import { WORKFLOW_API_BEFORE } from '../support/builds';
import { activitiesRun } from '../support/history';
import { moneyOf, paymentHistory, releaseHeldWebhook, untilStatus, upgradeStack } from '../support/upgrade';

const LEDGER_STEPS = ['screenBeneficiary', 'debitAccount', 'settlePayment'];
const upgrade = upgradeStack('lean', WORKFLOW_API_BEFORE.leanSteps);

/** Which of the ledger steps the run ran as local activities, and which as regular ones. */
async function ledgerSteps(paymentId: string): Promise<{ local: string[]; regular: string[] }> {
  const steps = activitiesRun(await paymentHistory(upgrade.stack, paymentId)).filter((a) =>
    LEDGER_STEPS.includes(a.type),
  );
  return {
    local: steps.filter((a) => a.local).map((a) => a.type),
    regular: steps.filter((a) => !a.local).map((a) => a.type),
  };
}

/** Upserts of baton's own search attributes (each patch marker comes with the SDK's TemporalChangeVersion one). */
async function upserts(paymentId: string): Promise<number> {
  const history = await paymentHistory(upgrade.stack, paymentId);
  return (history.events ?? []).filter((e) => {
    const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    return fields != null && Object.keys(fields).some((key) => key !== 'TemporalChangeVersion');
  }).length;
}

describe('a payment in flight when the lean steps ship', () => {
  test('finishes on its regular activities with its money moved once, while a new one runs its steps locally', async () => {
    const { stack } = upgrade;
    const tag = Date.now().toString(36);
    const inFlight = `lean-${tag}-in-flight`;
    const fresh = `lean-${tag}-fresh`;

    stack.bank.setScenario(inFlight, { outcome: 'settled', delayMs: 100, holdWebhook: true });
    const started = await startPayment(stack.client, webhookDecidedPayment(inFlight, 5_00), stack.taskQueue);
    await untilStatus(stack, inFlight, PaymentStatus.Submitted);

    await upgrade.deploy();
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

    assert.deepEqual(await upgrade.replayOnNewBuild([inFlight, fresh]), [
      [inFlight, true, ''],
      [fresh, true, ''],
    ]);
  });
});
