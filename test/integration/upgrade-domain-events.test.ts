/**
 * A payment started by the build before the domain events and finished by the build after them. The old build is
 * today's workflow code bundled with a workflow API whose `patched('domain-events')` is false: the branch, and the
 * absence of a marker, that the revision before the change had. The payment parks at the bank (its webhook held),
 * the old worker drains and stops, the new worker takes the run over on the same stack, the webhook lands, and the
 * payment must settle with its money moved once and exactly one `payment.settled` event published. A payment that
 * ended entirely on the old build publishes nothing. Both histories replay with the new build.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { temporal } from '@temporalio/proto';
import { startPayment } from '../../client/payments';
import { EVENT_KINDS, STREAMS } from '../../services/bus';
import { PaymentStatus } from '../../workflows/payment-contract';
import type { PaymentState } from '../../workflows/payment-contract';
import { webhookDecidedPayment } from '../support/payments';
import { WORKFLOW_API_BEFORE } from '../support/builds';
import { activitiesRun } from '../support/history';
import { moneyOf, paymentHistory, releaseHeldWebhook, untilStatus, upgradeStack } from '../support/upgrade';

const upgrade = upgradeStack('upgrade', WORKFLOW_API_BEFORE.domainEvents);

async function eventsAbout(paymentId: string): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for await (const message of upgrade.stack.bus.read(STREAMS.events)) {
    const event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
    if (event.subject === paymentId) found.push(event);
  }
  return found;
}

// Regular or local (the lean steps publish locally), each activity the run ran.
const scheduled = (events: temporal.api.history.v1.IHistory) =>
  activitiesRun(events).map((activity) => activity.type);

describe('a payment in flight when the domain events ship', () => {
  test('moves its money once and publishes one payment.settled, while one that ended on the old build publishes none', async () => {
    const { stack } = upgrade;
    const tag = Date.now().toString(36);
    const ended = `upgrade-${tag}-ended`;
    const inFlight = `upgrade-${tag}-in-flight`;

    // On the old build: one payment all the way through, one parked at the bank with its webhook held.
    stack.bank.setScenario(ended, { outcome: 'settled', delayMs: 100 });
    const endedState: PaymentState = await (
      await startPayment(stack.client, webhookDecidedPayment(ended, 3_00), stack.taskQueue)
    ).handle.result();
    assert.equal(endedState.status, PaymentStatus.Settled);
    stack.bank.setScenario(inFlight, { outcome: 'settled', delayMs: 100, holdWebhook: true });
    const started = await startPayment(stack.client, webhookDecidedPayment(inFlight, 4_00), stack.taskQueue);
    await untilStatus(stack, inFlight, PaymentStatus.Submitted);
    assert.ok(!scheduled(await paymentHistory(stack, ended)).includes('publishPaymentOutcome'));

    // The old worker drains and stops; the new build takes over on the same task queue and webhook address.
    await upgrade.deploy();
    assert.ok(
      await releaseHeldWebhook(stack, inFlight),
      'the bank held the final status of the parked payment',
    );
    const finished: PaymentState = await started.handle.result();

    assert.equal(finished.status, PaymentStatus.Settled);
    assert.deepEqual(await moneyOf(stack, inFlight), ['debit', 'settlement']);
    assert.deepEqual(await moneyOf(stack, ended), ['debit', 'settlement']);
    const events = await eventsAbout(inFlight);
    assert.deepEqual(
      events.map((e) => e.type),
      [EVENT_KINDS.paymentSettled.type],
    );
    assert.deepEqual(await eventsAbout(ended), [], 'a payment that ended on the old build announces nothing');
    assert.equal(
      scheduled(await paymentHistory(stack, inFlight)).filter((name) => name === 'publishPaymentOutcome')
        .length,
      1,
    );

    assert.deepEqual(await upgrade.replayOnNewBuild([ended, inFlight]), [
      [ended, true, ''],
      [inFlight, true, ''],
    ]);
  });
});
