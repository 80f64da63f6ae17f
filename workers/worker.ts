/**
 * One baton worker: the Temporal worker hosting workflows and activities, and the bank webhook receiver that
 * signals payment workflows. Used by the worker process, the local stack, the demo, the benchmark and the tests.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { NativeConnection, WorkerOptions, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { createNotificationActivities } from '../activities/notifications';
import type { NotificationServices } from '../activities/notifications';
import { createPaymentActivities } from '../activities/payment';
import type { PaymentServices } from '../activities/payment';
import { createRegistrationActivities } from '../activities/registration';
import { createResolutionActivities } from '../activities/resolution';
import { createEventActivities } from '../activities/events';
import { createWatchdogActivities } from '../activities/watchdog';
import type { WatchdogSettings } from '../activities/watchdog';
import type { FindingStore } from '../services/watchdog/findings';
import type { EventServices } from '../activities/events';
import { correlationActivityInterceptors } from '../activities/correlation';
import { activityLogInterceptors } from '../activities/logging';
import { bundleWorkflows } from '../temporal/bundle';
import { createDataConverter } from '../temporal/codec';
import type { KeyRing } from '../config/key-ring';
import type { WorkerDeployment } from '../config/config';
import { bankStatusSignal, paymentWorkflowId } from '../workflows/payment-contract';
import { TASK_QUEUE } from '../workflows/task-queue';
import type { BankStatusSignal } from '../workflows/payment-contract';
import { startWebhookReceiver } from './webhook-receiver';
import { startOpsServer } from './ops-server';
import type { OpsServer } from './ops-server';
import { runtimeMetricsUrl } from '../temporal/runtime';
import { trace } from '@opentelemetry/api';
import {
  businessIdAttributes,
  runTraceContext,
  tracingActivityInterceptors,
  workflowSpanSinks,
} from '../temporal/tracing';
import { currentTracing, inSpan, SpanKind } from '../services/telemetry/tracing';

/** Every service the activities drive. */
export type BatonServices = PaymentServices &
  NotificationServices &
  EventServices & { findings: FindingStore; watchdog: WatchdogSettings };

/** Every activity baton's workflows call, over the given services; `client` lets a resolution read a payment's run. */
export function createActivities(services: BatonServices, client: Client) {
  return {
    ...createPaymentActivities(services),
    ...createResolutionActivities({ ...services, client }),
    ...createRegistrationActivities(services),
    ...createNotificationActivities(services),
    ...createEventActivities(services),
    ...createWatchdogActivities({
      ...services,
      client,
      settings: services.watchdog,
      ...(services.events === undefined ? {} : { bus: services.events.bus }),
    }),
  };
}

/** Worker concurrency and cache settings; each one left out keeps the SDK's default (the benchmark varies them). */
export type BatonWorkerTuning = Pick<
  WorkerOptions,
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'maxConcurrentActivityTaskPolls'
  | 'maxCachedWorkflows'
  | 'nonStickyToStickyPollRatio'
  | 'maxEagerActivityReservationsPerWorkflowTask'
>;

/** What a worker needs to run. */
export interface BatonWorkerOptions {
  connection: NativeConnection;
  client: Client;
  namespace: string;
  services: BatonServices;
  /** Encrypts every payload the worker writes and decrypts what it reads. */
  codecKeys: KeyRing;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Concurrency and cache settings; the SDK's defaults when omitted. */
  tuning?: BatonWorkerTuning;
  /** The worker deployment version it polls as; an unversioned worker when omitted. */
  deployment?: WorkerDeployment;
  webhook: { host: string; port: number; secret: string };
  /** The operations port (`/metrics`, `/healthz`, `/readyz`); none when omitted. */
  ops?: { host: string; port: number };
  log?: (line: string) => void;
}

/** A running worker and webhook receiver. */
export interface RunningBatonWorker {
  worker: Worker;
  webhookUrl: string;
  /** The operations port's address, when it has one. */
  opsUrl?: string;
  /** Settles when the worker has stopped polling (after `stop()` or a shutdown signal). */
  finished: Promise<void>;
  /** Drains the worker, then stops the webhook receiver; idempotent. */
  stop(): Promise<void>;
}

/**
 * Delivers a verified bank webhook to the payment workflow it concerns, as a signal. Traced, the signal joins the
 * payment's own trace (the bank knows nothing of it), linked to the webhook's HTTP request.
 */
export function deliverBankStatus(client: Client) {
  const signalRun = async (workflowId: string, signal: BankStatusSignal) => {
    try {
      await client.workflow.getHandle(workflowId).signal(bankStatusSignal, signal);
      return 'delivered' as const;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'unknown_payment' as const;
      throw err;
    }
  };
  return async ({ paymentId, signal }: { paymentId: string; signal: BankStatusSignal }) => {
    const workflowId = paymentWorkflowId(paymentId);
    if (currentTracing()?.enabled !== true) return signalRun(workflowId, signal);
    const parent = await runTraceContext(client, workflowId);
    const request = trace.getActiveSpan()?.spanContext();
    return inSpan(
      `bank webhook ${signal.outcome}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: businessIdAttributes(workflowId),
        ...(parent === undefined ? {} : { parent }),
        ...(request === undefined || parent === undefined ? {} : { links: [{ context: request }] }),
      },
      () => signalRun(workflowId, signal),
    );
  };
}

/** `<deployment>:<build id>`, the version as the Temporal CLI and UI name it. */
export function deploymentVersionName(deployment: Pick<WorkerDeployment, 'name' | 'buildId'>): string {
  return `${deployment.name}:${deployment.buildId}`;
}

/**
 * The SDK's options for a worker in `deployment`. It polls as that version and gets work only once an operator makes
 * the version current (or ramps to it). Its runs carry the deployment's behavior, one setting for every workflow type
 * the worker hosts: no workflow names a behavior of its own, since the server refuses every task an unversioned
 * worker completes for a workflow that does.
 */
function workerDeploymentOptions(
  deployment: WorkerDeployment,
): NonNullable<WorkerOptions['workerDeploymentOptions']> {
  return {
    version: { deploymentName: deployment.name, buildId: deployment.buildId },
    useWorkerVersioning: true,
    defaultVersioningBehavior: deployment.behavior === 'pinned' ? 'PINNED' : 'AUTO_UPGRADE',
  };
}

/** Starts the webhook receiver and the worker; the worker runs until `stop()`. */
export async function startBatonWorker(options: BatonWorkerOptions): Promise<RunningBatonWorker> {
  const log = options.log ?? (() => undefined);
  const receiver = await startWebhookReceiver({
    host: options.webhook.host,
    port: options.webhook.port,
    secret: options.webhook.secret,
    deliver: deliverBankStatus(options.client),
    log,
  });
  let worker: Worker;
  let ops: OpsServer | undefined;
  try {
    worker = await Worker.create({
      connection: options.connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue ?? TASK_QUEUE,
      // A worker that exports no spans runs without the tracing interceptors, which would make them all the same.
      workflowBundle:
        options.workflowBundle ?? (await bundleWorkflows({ traced: currentTracing()?.enabled === true })),
      activities: createActivities(options.services, options.client),
      dataConverter: createDataConverter(options.codecKeys),
      // The tracing interceptor first: the correlation one names its ids on the activity's span, and the log
      // line of each attempt carries both.
      interceptors: {
        activity: [tracingActivityInterceptors, correlationActivityInterceptors, activityLogInterceptors],
      },
      sinks: workflowSpanSinks(currentTracing()),
      shutdownGraceTime: '10 seconds',
      ...(options.deployment === undefined
        ? {}
        : { workerDeploymentOptions: workerDeploymentOptions(options.deployment) }),
      ...options.tuning,
    });
    if (options.ops !== undefined) ops = await startOps(options.ops, worker, options.services, log);
  } catch (err) {
    await receiver.close();
    throw err;
  }
  const finished = worker.run().finally(() => Promise.all([receiver.close(), ops?.close()]));
  let stopping: Promise<void> | undefined;
  return {
    worker,
    webhookUrl: receiver.url,
    ...(ops === undefined ? {} : { opsUrl: ops.url }),
    finished,
    stop() {
      stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await finished;
      })();
      return stopping;
    },
  };
}

/** The ops server of one worker: ready while it polls and its database and bus answer. */
function startOps(
  address: { host: string; port: number },
  worker: Worker,
  services: BatonServices,
  log: (line: string) => void,
): Promise<OpsServer> {
  const { bus } = services.events ?? {};
  const url = runtimeMetricsUrl();
  return startOpsServer({
    ...address,
    ...(url === undefined ? {} : { runtimeMetricsUrl: url }),
    live: () => worker.getState() !== 'FAILED',
    checks: {
      worker: () => {
        const state = worker.getState();
        return state === 'RUNNING'
          ? Promise.resolve()
          : Promise.reject(new Error(`the worker is ${state.toLowerCase()}, not polling`));
      },
      database: async () => {
        await services.ledger.database.query('select 1');
      },
      ...(bus === undefined ? {} : { bus: () => bus.ping() }),
    },
    log,
  });
}
