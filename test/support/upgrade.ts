/**
 * A deploy in miniature, for the upgrade tests: a stack serving an old build, payments driven on it, then the old
 * worker drained and stopped and a worker of the new build taking the same task queue and webhook address over.
 */
import { after, before } from 'node:test';
import type { temporal } from '@temporalio/proto';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import { paymentState } from '../../client/payments';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { freePort } from '../../services/ports';
import { bundleWorkflows } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import { bundleOldBuild } from './builds';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from './postgres';
import { startBatonWorker } from '../../workers/worker';
import { paymentWorkflowId } from '../../workflows/payment-contract';
import type { PaymentStatus } from '../../workflows/payment-contract';

/** Waits until the payment's `status` query says `status`. */
export async function untilStatus(
  stack: LocalStack,
  paymentId: string,
  status: PaymentStatus,
): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const state = await paymentState(stack.client, paymentId).catch(() => undefined);
    if (state?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`payment ${paymentId} never reached ${status}`);
}

/** The payment's history, as the server holds it. */
export function paymentHistory(
  stack: LocalStack,
  paymentId: string,
): Promise<temporal.api.history.v1.IHistory> {
  return stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).fetchHistory();
}

/** The ledger steps booked under the payment's idempotency keys (`debit`, `settlement`, ...), sorted. */
export async function moneyOf(stack: LocalStack, paymentId: string): Promise<string[]> {
  return (await stack.ledger.listTransfers())
    .filter((t) => t.idempotencyKey.startsWith(`${paymentId}:`))
    .map((t) => t.idempotencyKey.slice(paymentId.length + 1))
    .sort();
}

/**
 * Drains and stops the stack's worker, then starts one of `build` on the same task queue, services and webhook
 * address; returns its stop.
 */
export async function deployNewBuild(
  stack: LocalStack,
  build: WorkflowBundleWithSourceMap,
): Promise<() => Promise<void>> {
  await stack.worker.stop();
  const connection = await NativeConnection.connect({ address: stack.address });
  const worker = await startBatonWorker({
    connection,
    client: stack.client,
    namespace: stack.namespace,
    taskQueue: stack.taskQueue,
    codecKeys: stack.codecKeys,
    workflowBundle: build,
    services: stack.services,
    webhook: stack.webhook,
  });
  return async () => {
    await worker.stop();
    await connection.close();
  };
}

/** Waits until the bank holds a webhook, then lets the one of `paymentId` go; false when it held none for it. */
export async function releaseHeldWebhook(stack: LocalStack, paymentId: string): Promise<boolean> {
  for (let i = 0; i < 600 && !stack.bank.heldWebhooks().includes(paymentId); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return stack.bank.releaseWebhook(paymentId);
}

/** A deploy's two builds on one stack, as {@link upgradeStack} gives them to a test. */
export interface Upgrade {
  /** The stack, serving the old build until {@link Upgrade.deploy}. */
  readonly stack: LocalStack;
  /** The current workflows. */
  readonly newBuild: WorkflowBundleWithSourceMap;
  /** Drains the old build's worker and starts the new build's (stopped after the tests). */
  deploy(): Promise<void>;
  /** Replays each payment's history with the new build: `[paymentId, ok, message]` per payment. */
  replayOnNewBuild(paymentIds: string[]): Promise<[string, boolean, string][]>;
}

/**
 * Registers the hooks of an upgrade test: before it, a stack on PostgreSQL (schema `<name>_…`) serving today's
 * workflows bundled with `workflowApi` (the build before a change); after it, everything stopped and dropped.
 */
export function upgradeStack(name: string, workflowApi: string): Upgrade {
  const schema = uniqueSchema(name);
  let stack: LocalStack | undefined;
  let newBuild: WorkflowBundleWithSourceMap | undefined;
  let stopNewWorker: (() => Promise<void>) | undefined;
  before(async () => {
    const [oldBuild, current] = await Promise.all([bundleOldBuild(workflowApi), bundleWorkflows()]);
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
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the upgrade stack is not up: use it inside a test');
    return value;
  };
  return {
    get stack() {
      return started(stack);
    },
    get newBuild() {
      return started(newBuild);
    },
    async deploy() {
      stopNewWorker = await deployNewBuild(started(stack), started(newBuild));
    },
    async replayOnNewBuild(paymentIds) {
      const live = started(stack);
      const histories = await Promise.all(
        paymentIds.map(async (paymentId) => ({
          workflowId: paymentWorkflowId(paymentId),
          history: await paymentHistory(live, paymentId),
          source: paymentId,
        })),
      );
      const outcomes = await replayHistories(histories, started(newBuild), live.codecKeys);
      return outcomes.map((o) => [o.source, o.ok, o.message ?? '']);
    },
  };
}
