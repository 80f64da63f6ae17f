/**
 * A payment started by the build before the domain events and finished by the build after them. The old build is
 * today's workflow code bundled with a workflow API whose `patched('domain-events')` is false: the branch, and the
 * absence of a marker, that the revision before the change had. The payment parks at the bank (its webhook held),
 * the old worker drains and stops, the new worker takes the run over on the same stack, the webhook lands, and the
 * payment must settle with its money moved once and exactly one `payment.settled` event published. A payment that
 * ended entirely on the old build publishes nothing. Both histories replay with the new build.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { startPayment } from '../../client/payments';
import { freePort } from '../../services/ports';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { EVENT_KINDS, STREAMS } from '../../services/bus';
import { bundleWorkflows } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { PaymentState } from '../../workflows/payment-contract';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { webhookDecidedPayment } from '../support/payments';
import { bundleOldBuild, WORKFLOW_API_BEFORE } from '../support/builds';
import { activitiesRun } from '../support/history';
import { deployNewBuild, moneyOf, paymentHistory, releaseHeldWebhook, untilStatus } from '../support/upgrade';

const schema = uniqueSchema('upgrade');
let stack: LocalStack;
let newBuild: WorkflowBundleWithSourceMap;
let stopNewWorker: (() => Promise<void>) | undefined;

async function eventsAbout(paymentId: string): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for await (const message of stack.bus.read(STREAMS.events)) {
    const event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
    if (event.subject === paymentId) found.push(event);
  }
  return found;
}

// Regular or local (the lean steps publish locally), each activity the run ran.
const scheduled = (events: temporal.api.history.v1.IHistory) =>
  activitiesRun(events).map((activity) => activity.type);

before(async () => {
  const [oldBuild, current] = await Promise.all([
    bundleOldBuild(WORKFLOW_API_BEFORE.domainEvents),
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

describe('a payment in flight when the domain events ship', () => {
  test('moves its money once and publishes one payment.settled, while one that ended on the old build publishes none', async () => {
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
    stopNewWorker = await deployNewBuild(stack, newBuild);
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

    const outcomes = await replayHistories(
      [
        { workflowId: paymentWorkflowId(ended), history: await paymentHistory(stack, ended), source: ended },
        {
          workflowId: paymentWorkflowId(inFlight),
          history: await paymentHistory(stack, inFlight),
          source: inFlight,
        },
      ],
      newBuild,
      stack.codecKeys,
    );
    assert.deepEqual(
      outcomes.map((o) => [o.source, o.ok, o.message ?? '']),
      [
        [ended, true, ''],
        [inFlight, true, ''],
      ],
    );
  });
});
