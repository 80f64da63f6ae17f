/**
 * A payment started by the build before the domain events and finished by the build after them. The old build is
 * today's workflow code bundled with a workflow API whose `patched('domain-events')` is false: the branch, and the
 * absence of a marker, that the revision before the change had. The payment parks at the bank (its webhook held),
 * the old worker drains and stops, the new worker takes the run over on the same stack, the webhook lands, and the
 * payment must settle with its money moved once and exactly one `payment.settled` event published. A payment that
 * ended entirely on the old build publishes nothing. Both histories replay with the new build.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, DefaultLogger, NativeConnection } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { paymentState, startPayment } from '../../client/payments';
import { freePort } from '../../services/ports';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { EVENT_KINDS, STREAMS } from '../../services/bus';
import { FAILURE_CONVERTER_PATH } from '../../temporal/codec';
import { bundleWorkflows, WORKFLOW_INTERCEPTOR_PATHS, WORKFLOWS_PATH } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import { startBatonWorker } from '../../workers/worker';
import type { RunningBatonWorker } from '../../workers/worker';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { PaymentState } from '../../workflows/payment-contract';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { webhookDecidedPayment } from '../support/payments';

const schema = uniqueSchema('upgrade');
const OLD_WORKFLOW_API = path.join(
  __dirname,
  '..',
  'replay',
  'variants',
  'workflow-api-before-domain-events.ts',
);

let stack: LocalStack;
let newBuild: WorkflowBundleWithSourceMap;
let newWorker: RunningBatonWorker | undefined;
let newConnection: NativeConnection | undefined;

/** Today's workflows, bundled as the build before the domain events ran them. */
function bundleOldBuild(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_PATHS,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({
      ...config,
      resolve: {
        ...config.resolve,
        alias: {
          ...(config.resolve?.alias as Record<string, string> | undefined),
          // Exactly the package's own name: the module above imports the SDK through a deeper path.
          '@temporalio/workflow$': OLD_WORKFLOW_API,
        },
      },
    }),
  });
}

async function until(paymentId: string, status: PaymentStatus): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const state = await paymentState(stack.client, paymentId).catch(() => undefined);
    if (state?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`payment ${paymentId} never reached ${status}`);
}

async function eventsAbout(paymentId: string): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for await (const message of stack.bus.read(STREAMS.events)) {
    const event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
    if (event.subject === paymentId) found.push(event);
  }
  return found;
}

const history = (paymentId: string) =>
  stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).fetchHistory();

const scheduled = (events: temporal.api.history.v1.IHistory) =>
  (events.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });

async function moneyOf(paymentId: string): Promise<string[]> {
  return (await stack.ledger.listTransfers())
    .filter((t) => t.idempotencyKey.startsWith(`${paymentId}:`))
    .map((t) => t.idempotencyKey.slice(paymentId.length + 1))
    .sort();
}

before(async () => {
  const [oldBuild, current] = await Promise.all([bundleOldBuild(), bundleWorkflows()]);
  newBuild = current;
  stack = await startLocalStack({
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    webhookPort: await freePort(),
    workflowBundle: oldBuild,
  });
});

after(async () => {
  await newWorker?.stop();
  await newConnection?.close();
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
    await until(inFlight, PaymentStatus.Submitted);
    assert.ok(!scheduled(await history(ended)).includes('publishPaymentOutcome'));

    // The old worker drains and stops; the new build takes over on the same task queue and webhook address.
    await stack.worker.stop();
    newConnection = await NativeConnection.connect({ address: stack.address });
    newWorker = await startBatonWorker({
      connection: newConnection,
      client: stack.client,
      namespace: stack.namespace,
      taskQueue: stack.taskQueue,
      codecKeys: stack.codecKeys,
      workflowBundle: newBuild,
      services: stack.services,
      webhook: stack.webhook,
    });
    for (let i = 0; i < 600 && stack.bank.heldWebhooks().length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(stack.bank.releaseWebhook(inFlight), 'the bank held the final status of the parked payment');
    const finished: PaymentState = await started.handle.result();

    assert.equal(finished.status, PaymentStatus.Settled);
    assert.deepEqual(await moneyOf(inFlight), ['debit', 'settlement']);
    assert.deepEqual(await moneyOf(ended), ['debit', 'settlement']);
    const events = await eventsAbout(inFlight);
    assert.deepEqual(
      events.map((e) => e.type),
      [EVENT_KINDS.paymentSettled.type],
    );
    assert.deepEqual(await eventsAbout(ended), [], 'a payment that ended on the old build announces nothing');
    assert.equal(
      scheduled(await history(inFlight)).filter((name) => name === 'publishPaymentOutcome').length,
      1,
    );

    const outcomes = await replayHistories(
      [
        { workflowId: paymentWorkflowId(ended), history: await history(ended), source: ended },
        { workflowId: paymentWorkflowId(inFlight), history: await history(inFlight), source: inFlight },
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
