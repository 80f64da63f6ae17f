/**
 * The worker under test, for either phase: baton's own worker (workflows, activities, webhook receiver, ledger,
 * mailer) for payments, or the ceiling worker (the no-op workflow of the same shape) with the same settings. It
 * runs in a process of its own (worker-process.ts) so its CPU and memory can be read alone, or inside the harness
 * when eager start needs the client and worker to share one connection. With `tracing`, the payment worker traces
 * as `npm run worker` does.
 */
import { Client, Connection } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createDataConverter } from '../temporal/codec';
import { DEFAULT_MAIL_FROM, LOCAL_TWILIO } from '../config/config';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import type { Ledger } from '../services/ledger';
import { openServices } from '../workers/services';
import { startBatonWorker } from '../workers/worker';
import { loadWorkflowBundle, untracedBundleFile } from '../temporal/bundle';
import { quietWorkerRuntime } from '../temporal/runtime';
import { tracingClientInterceptors } from '../temporal/tracing';
import { startTracing } from '../services/telemetry/tracing';
import type { Tracing } from '../services/telemetry/tracing';
import type { BatonWorkerTuning, RunningBatonWorker } from '../workers/worker';
import { createCeilingActivities } from './ceiling/activities';
import type { CeilingSignalStats } from './ceiling/activities';

const tuningSchema = z
  .object({
    maxConcurrentWorkflowTaskExecutions: z.number().int().min(2),
    maxConcurrentActivityTaskExecutions: z.number().int().min(1),
    maxConcurrentLocalActivityExecutions: z.number().int().min(1),
    maxConcurrentWorkflowTaskPolls: z.number().int().min(2),
    maxConcurrentActivityTaskPolls: z.number().int().min(1),
    maxCachedWorkflows: z.number().int().min(2),
  })
  .partial();

/** Where the payment worker's ledger lives and how it is seeded. */
const ledgerSchema = z.object({
  databaseUrl: z.string().optional(),
  schema: z.string().optional(),
  pgliteDir: z.string().optional(),
  poolSize: z.number().int().min(1).optional(),
});

/** Everything a worker host is told; crosses a process boundary as JSON, so it is validated on arrival. */
export const workerHostConfigSchema = z.object({
  mode: z.enum(['payment', 'ceiling']),
  temporalAddress: z.string(),
  namespace: z.string(),
  taskQueue: z.string(),
  /** A bundle file written beforehand (its source map beside it, `.map`); without it the worker bundles itself. */
  bundlePath: z.string().optional(),
  tuning: tuningSchema,
  /** The client (webhook signals, eager starts) rides on the worker's native connection. */
  shareConnection: z.boolean(),
  /** Every start through this host's client asks for eager start (needs `shareConnection`). */
  eager: z.boolean(),
  /** Ceiling only: encrypt payloads with baton's codec, as the payment worker does. */
  codec: z.boolean(),
  /** Extra Node.js flags when the host runs as a process of its own. */
  nodeOptions: z.array(z.string()),
  payment: z
    .object({
      ledger: ledgerSchema,
      bankUrl: z.string(),
      webhookPort: z.number().int(),
      webhookSecret: z.string(),
      smtpUrl: z.string(),
    })
    .optional(),
  /**
   * Payment only, in a process of its own: trace as `npm run worker` does, with OTEL_EXPORTER_OTLP_ENDPOINT set to
   * `endpoint`, or unset when it is absent (a tracer provider that exports nothing). The process must have loaded
   * services/telemetry/instrument first (phase.ts preloads it). Without `tracing` the worker sets none of it up.
   */
  tracing: z.object({ endpoint: z.string().optional() }).optional(),
});
/** See {@link workerHostConfigSchema}. */
export type WorkerHostConfig = z.infer<typeof workerHostConfigSchema>;

/** The ledger's state after a run: double entry must hold, and it says how many payments settled. */
export interface LedgerCheck {
  settlements: number;
  debits: number;
  /** Sum of all balances per currency: always 0. */
  nonZeroCurrencies: string[];
  unbalancedTransfers: number;
  driftingAccounts: number;
}

/** A running worker host. */
export interface WorkerHost {
  /** A client on this host's connections (on the worker's own when `shareConnection`). */
  client: Client;
  /** Milliseconds from the call to a polling worker (includes bundling when the worker bundles itself). */
  startupMs: number;
  /** Ceiling only: settlement signals that could not be sent. */
  signalFailures(): number;
  /** Drains the worker and closes everything; for the payment worker, checks the ledger first. */
  stop(): Promise<LedgerCheck | undefined>;
}

/** The ceiling's workflow module, bundled into the ceiling worker's sandbox. */
export const CEILING_WORKFLOWS_PATH = require.resolve('./ceiling/workflow');

const requestEagerStart: WorkflowClientInterceptor = {
  startWithDetails: (input, next) =>
    next({ ...input, options: { ...input.options, requestEagerStart: true } }),
};

/** Starts the worker the config describes and resolves once it polls. */
export async function startWorkerHost(config: WorkerHostConfig): Promise<WorkerHost> {
  const began = Date.now();
  quietWorkerRuntime();
  const codecKeys = parseKeyRing(LOCAL_DEV_KEYS);
  const nativeConnection = await NativeConnection.connect({ address: config.temporalAddress });
  const separate = config.shareConnection
    ? undefined
    : await Connection.connect({ address: config.temporalAddress });
  const usesCodec = config.mode === 'payment' || config.codec;
  if (config.eager && !config.shareConnection) throw new Error('eager start needs a shared connection');
  if (config.tracing !== undefined && config.mode !== 'payment') throw new Error('only payments are traced');
  // Before the client: its tracing interceptors take their tracer from the provider installed here.
  const tracing: Tracing | undefined =
    config.tracing === undefined
      ? undefined
      : startTracing({ serviceName: 'baton-worker', endpoint: config.tracing.endpoint });
  const client = new Client({
    connection: separate ?? nativeConnection,
    namespace: config.namespace,
    ...(usesCodec ? { dataConverter: createDataConverter(codecKeys) } : {}),
    interceptors: {
      workflow: [
        // As workers/main.ts's client (connectClient): the webhook's signals are spans of the payment's trace.
        ...(tracing === undefined ? [] : tracingClientInterceptors()),
        // Added under the client's own start, so a payment started the usual way (startPayment) asks for it too.
        ...(config.eager ? [requestEagerStart] : []),
      ],
    },
  });
  const closeConnections = async () => {
    await separate?.close();
    await nativeConnection.close();
    // Last, as workers/main.ts does: what the drained worker still buffered is sent.
    await tracing?.shutdown();
  };
  // As workers/main.ts chooses: a payment worker that exports no spans loads the untraced bundle written beside.
  const exporting = config.tracing?.endpoint !== undefined;
  const bundleFile =
    config.bundlePath === undefined || config.mode !== 'payment' || exporting
      ? config.bundlePath
      : untracedBundleFile(config.bundlePath);
  const bundle = bundleFile === undefined ? undefined : await loadWorkflowBundle(bundleFile);

  try {
    if (config.mode === 'ceiling') {
      const stats: CeilingSignalStats = { failed: 0 };
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        // Bundled here when no bundle was prebuilt, as the payment worker does.
        workflowBundle:
          bundle ??
          (await bundleWorkflowCode({
            workflowsPath: CEILING_WORKFLOWS_PATH,
            logger: new DefaultLogger('WARN'),
          })),
        activities: createCeilingActivities(client, stats),
        ...(usesCodec ? { dataConverter: createDataConverter(codecKeys) } : {}),
        shutdownGraceTime: '10 seconds',
        ...(config.tuning as BatonWorkerTuning),
      });
      const finished = worker.run();
      return {
        client,
        startupMs: Date.now() - began,
        signalFailures: () => stats.failed,
        async stop() {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await finished;
          await closeConnections();
          return undefined;
        },
      };
    }

    const payment = config.payment;
    if (payment === undefined) throw new Error('the payment worker needs its services');
    // Every benchmark customer is told by email; the SMS client is wired but never called.
    const services = await openServices({
      database: {
        ...(payment.ledger.databaseUrl === undefined
          ? { dataDir: payment.ledger.pgliteDir }
          : { databaseUrl: payment.ledger.databaseUrl, schema: payment.ledger.schema }),
        ...(payment.ledger.poolSize === undefined ? {} : { poolSize: payment.ledger.poolSize }),
      },
      mail: { smtpUrl: payment.smtpUrl, from: DEFAULT_MAIL_FROM },
      sms: { ...LOCAL_TWILIO, apiBaseUrl: 'http://127.0.0.1:9' },
      bank: { baseUrl: payment.bankUrl },
    });
    let running: RunningBatonWorker;
    try {
      running = await startBatonWorker({
        connection: nativeConnection,
        client,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        codecKeys,
        ...(bundle === undefined ? {} : { workflowBundle: bundle }),
        tuning: config.tuning,
        services,
        webhook: { host: '127.0.0.1', port: payment.webhookPort, secret: payment.webhookSecret },
      });
    } catch (err) {
      await services.close();
      throw err;
    }
    return {
      client,
      startupMs: Date.now() - began,
      signalFailures: () => 0,
      async stop() {
        await running.stop();
        try {
          return await checkLedger(services.ledger);
        } finally {
          await services.close();
          await closeConnections();
        }
      },
    };
  } catch (err) {
    await closeConnections();
    throw err;
  }
}

async function checkLedger(ledger: Ledger): Promise<LedgerCheck> {
  const transfers = await ledger.listTransfers();
  return {
    settlements: transfers.filter((t) => t.idempotencyKey.endsWith(':settlement')).length,
    debits: transfers.filter((t) => t.idempotencyKey.endsWith(':debit')).length,
    nonZeroCurrencies: (await ledger.balanceTotals()).filter((t) => t.sum !== 0).map((t) => t.currency),
    unbalancedTransfers: await ledger.entriesImbalance(),
    driftingAccounts: await ledger.balanceDrift(),
  };
}
