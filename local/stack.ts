/**
 * The whole of baton on one machine: a Temporal dev server (with its Web UI), the ledger, the bank simulator, the
 * worker and its webhook receiver. `npm start` runs it on the configured ports with state kept in `.data/`;
 * `npm run demo` and the tests run an ephemeral one on free ports that leaves nothing behind.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import { startBankSimulator } from './stand-ins/bank-simulator';
import type { BankSimulator } from './stand-ins/bank-simulator';
import { createDataConverter, startCodecServer } from '../temporal/codec';
import { DEFAULT_MAIL_FROM, LOCAL_TWILIO } from '../config/config';
import type { CustomerStore } from '../services/customers';
import type { Ledger } from '../services/ledger';
import type { SendLog } from '../services/send-log/send-log';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import type { KeyRing } from '../config/key-ring';
import { seedDemoCustomers } from './demo-seed';
import { serveEmbeddedLedger } from './stand-ins/ledger-wire-server';
import { startSmtpSink } from './stand-ins/smtp-sink';
import type { SmtpSink } from './stand-ins/smtp-sink';
import { startLocalTwilio } from './stand-ins/local-twilio';
import type { LocalTwilio } from './stand-ins/local-twilio';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { TASK_QUEUE } from '../workflows/task-queue';
import { openServices } from '../workers/services';
import { startBatonWorker } from '../workers/worker';
import { quietWorkerRuntime } from '../temporal/runtime';
import { Runtime } from '@temporalio/worker';
import type { BatonServices, RunningBatonWorker } from '../workers/worker';
import { startDevServer } from './dev-server';
import type { DevServer } from './dev-server';
import { freePort } from '../services/ports';
import { resolveTemporalCli } from './temporal-cli';
import { resolveNatsServer, startNatsServer } from './nats-server';
import type { NatsServer } from './nats-server';
import type { MessageBus } from '../services/bus';
import { startCommandConsumer } from '../client/command-consumer';
import { ensureWatchdogSchedule } from '../workers/watchdog-schedule';
import type { WatchdogSettings } from '../activities/watchdog';
import type { RunningCommandConsumer } from '../client/command-consumer';

/** How to run the local stack. A port left out is picked free. */
export interface LocalStackOptions {
  /** Where state lives (Temporal SQLite file, PGlite ledger); omitted => a temp folder removed on stop. */
  dataDir?: string;
  /** Use this PostgreSQL instead of the embedded ledger. */
  databaseUrl?: string;
  /** PostgreSQL schema for the ledger (tests isolate themselves this way). */
  databaseSchema?: string;
  temporalPort?: number;
  /**
   * Run on this Temporal server (a cluster, say) instead of starting a dev server; its namespace must have baton's
   * search attributes. The stack then serves no UI of its own.
   */
  temporal?: { address: string; namespace: string };
  /** Serve the Temporal Web UI on this port; omitted => no UI. */
  uiPort?: number;
  bankPort?: number;
  webhookPort?: number;
  /** Serve the embedded ledger to other processes (the CLI's `accounts`) on this port. */
  ledgerPort?: number;
  smtpPort?: number;
  twilioPort?: number;
  /** Port of the codec server the UI decodes payloads through (only with a UI). */
  codecPort?: number;
  /** Port of the Temporal dev server's own Prometheus metrics; a free one when omitted. */
  temporalMetricsPort?: number;
  /** The worker's operations port (`/metrics`, `/healthz`, `/readyz`); a free one when omitted. */
  opsPort?: number;
  /** Port of the NATS server the stack runs (JetStream data in `<dataDir>/nats`). */
  natsPort?: number;
  /** Payload encryption keys; default: the local development ring. */
  codecKeys?: KeyRing;
  webhookSecret?: string;
  /** How long the simulated bank takes to answer. */
  bankDelayMs?: number;
  /** Temporal CLI binary; resolved (and built if needed) when omitted. */
  temporalCliPath?: string;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleWithSourceMap;
  /**
   * The watchdog: its thresholds and operator address, and how often its schedule sweeps. Without it the stack
   * creates no schedule (tests run sweeps by hand); its sweeps then use the default thresholds and mail no one.
   */
  watchdog?: { intervalSeconds: number; settings: WatchdogSettings };
  log?: (line: string) => void;
}

/** A running local stack and handles on each part. */
export interface LocalStack {
  address: string;
  namespace: string;
  taskQueue: string;
  uiUrl?: string;
  ledgerUrl?: string;
  codecUrl?: string;
  /** The keys every payload is encrypted with. */
  codecKeys: KeyRing;
  client: Client;
  ledger: Ledger;
  customers: CustomerStore;
  sendLog: SendLog;
  bank: BankSimulator;
  mailSink: SmtpSink;
  smsSink: LocalTwilio;
  /** The dev server, unless the stack runs on a Temporal server of the caller's (`temporal`). */
  devServer?: DevServer;
  worker: RunningBatonWorker;
  /** What the worker's activities talk to, for another worker on the same stack (a new build taking over). */
  services: BatonServices;
  /** The webhook receiver's address the bank posts to; a worker taking over listens there. */
  webhook: { host: string; port: number; secret: string };
  /** The NATS server, and the bus every part of the stack talks to. */
  nats: NatsServer;
  bus: MessageBus;
  /** Turns command events into workflow starts. */
  commandConsumer: RunningCommandConsumer;
  /** Stops every part, newest first; idempotent. */
  stop(): Promise<void>;
}

const DEV_NAMESPACE = 'default';

/** Starts every part of baton; on failure, stops whatever had started and rethrows. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  quietWorkerRuntime();
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop();
      if (cleanup) await cleanup().catch((err: unknown) => log(`while stopping: ${String(err)}`));
    }
  };

  try {
    let dataDir = options.dataDir;
    if (dataDir === undefined) {
      const tempDir = await mkdtemp(path.join(os.tmpdir(), 'baton-'));
      cleanups.push(() => rm(tempDir, { recursive: true, force: true }));
      dataDir = tempDir;
    }
    await mkdir(dataDir, { recursive: true });

    const codecKeys = options.codecKeys ?? parseKeyRing(LOCAL_DEV_KEYS);
    let codecUrl: string | undefined;
    if (options.uiPort !== undefined) {
      // The UI decodes payloads in the browser by calling this server; only the UI's own origin may.
      const codec = await startCodecServer({
        port: options.codecPort ?? (await freePort()),
        ring: codecKeys,
        allowedOrigins: [`http://localhost:${options.uiPort}`, `http://127.0.0.1:${options.uiPort}`],
      });
      cleanups.push(() => codec.close());
      codecUrl = codec.url;
    }

    let devServer: DevServer | undefined;
    let temporal = options.temporal;
    if (temporal === undefined) {
      const cliPath = options.temporalCliPath ?? (await resolveTemporalCli({ onProgress: log })).path;
      const started = await startDevServer({
        cliPath,
        port: options.temporalPort ?? (await freePort()),
        ...(options.uiPort === undefined ? {} : { uiPort: options.uiPort }),
        ...(codecUrl === undefined ? {} : { uiCodecEndpoint: codecUrl }),
        metricsPort: options.temporalMetricsPort ?? (await freePort()),
        dbFile: path.join(dataDir, 'temporal.db'),
        sqliteJournal: 'wal',
        namespace: DEV_NAMESPACE,
        searchAttributes: SEARCH_ATTRIBUTES,
        log: (line) => log(`[temporal] ${line}`),
      });
      cleanups.push(() => started.stop());
      log(`Temporal dev server on ${started.address}${started.uiUrl ? `, UI on ${started.uiUrl}` : ''}`);
      devServer = started;
      temporal = { address: started.address, namespace: DEV_NAMESPACE };
    }
    const { address, namespace } = temporal;

    const natsBinary = (await resolveNatsServer({ onProgress: log })).path;
    const nats = await startNatsServer({
      binaryPath: natsBinary,
      port: options.natsPort ?? (await freePort()),
      storeDir: path.join(dataDir, 'nats'),
      log: (line) => log(`[nats] ${line}`),
    });
    cleanups.push(() => nats.stop());
    log(`NATS server (JetStream) on ${nats.url}`);

    const webhookPort = options.webhookPort ?? (await freePort());
    const webhookSecret = options.webhookSecret ?? 'local-dev-webhook-secret-change-me';
    const bank = await startBankSimulator({
      port: options.bankPort ?? (await freePort()),
      webhookUrl: `http://127.0.0.1:${webhookPort}/webhooks/bank`,
      webhookSecret,
      defaultOutcome: 'settled',
      defaultDelayMs: options.bankDelayMs ?? 1500,
      log: (line) => log(`[bank] ${line}`),
    });
    cleanups.push(() => bank.close());

    const mailSink = await startSmtpSink({ port: options.smtpPort ?? (await freePort()), log });
    cleanups.push(() => mailSink.close());
    const smsSink = await startLocalTwilio({
      port: options.twilioPort ?? (await freePort()),
      accountSid: LOCAL_TWILIO.accountSid,
      authToken: LOCAL_TWILIO.authToken,
    });
    cleanups.push(() => smsSink.close());
    log(`mail sink on ${mailSink.url}, SMS sink (Twilio API) on ${smsSink.url}`);

    const services = await openServices({
      database:
        options.databaseUrl !== undefined
          ? {
              databaseUrl: options.databaseUrl,
              ...(options.databaseSchema === undefined ? {} : { schema: options.databaseSchema }),
            }
          : { dataDir: path.join(dataDir, 'ledger') },
      mail: { smtpUrl: mailSink.url, from: DEFAULT_MAIL_FROM },
      sms: { ...LOCAL_TWILIO, apiBaseUrl: smsSink.url },
      bank: { baseUrl: bank.url },
      events: { bus: { url: nats.url, name: 'baton-local' }, keys: codecKeys },
      ...(options.watchdog === undefined ? {} : { watchdog: options.watchdog.settings }),
    });
    cleanups.push(() => services.close());
    const bus = services.events?.bus;
    if (bus === undefined) throw new Error('the local stack opened no bus');
    const { ledger, customers, sendLog } = services;
    await seedDemoCustomers(ledger, customers);
    let ledgerUrl: string | undefined;
    if (options.databaseUrl === undefined && options.ledgerPort !== undefined) {
      const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: options.ledgerPort });
      cleanups.push(() => served.close());
      ledgerUrl = served.url;
    }

    const connection = await Connection.connect({ address });
    cleanups.push(() => connection.close());
    const client = new Client({
      connection,
      namespace,
      dataConverter: createDataConverter(codecKeys),
      interceptors: { workflow: tracingClientInterceptors() },
    });
    const nativeConnection = await NativeConnection.connect({ address });
    cleanups.push(() => nativeConnection.close());

    const taskQueue = options.taskQueue ?? TASK_QUEUE;
    const worker = await startBatonWorker({
      connection: nativeConnection,
      client,
      namespace,
      taskQueue,
      codecKeys,
      ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}),
      services,
      webhook: { host: '127.0.0.1', port: webhookPort, secret: webhookSecret },
      ops: { host: '127.0.0.1', port: options.opsPort ?? (await freePort()) },
      log: (line) => log(`[worker] ${line}`),
    });
    cleanups.push(() => worker.stop());

    const commandConsumer = startCommandConsumer({
      bus,
      client,
      keys: codecKeys,
      taskQueue,
      meter: Runtime.instance().metricMeter,
      log: (line) => log(`[commands] ${line}`),
    });
    cleanups.push(() => commandConsumer.stop());

    if (options.watchdog !== undefined && options.watchdog.intervalSeconds > 0) {
      const schedule = await ensureWatchdogSchedule(client, {
        intervalSeconds: options.watchdog.intervalSeconds,
        taskQueue,
      });
      log(
        `watchdog schedule ${schedule.scheduleId} sweeps every ${schedule.intervalSeconds} s (${schedule.change})`,
      );
    }

    let stopping: Promise<void> | undefined;
    return {
      address,
      namespace,
      taskQueue,
      ...(devServer?.uiUrl === undefined ? {} : { uiUrl: devServer.uiUrl }),
      ...(ledgerUrl === undefined ? {} : { ledgerUrl }),
      ...(codecUrl === undefined ? {} : { codecUrl }),
      codecKeys,
      client,
      ledger,
      customers,
      sendLog,
      bank,
      mailSink,
      smsSink,
      ...(devServer === undefined ? {} : { devServer }),
      worker,
      services,
      webhook: { host: '127.0.0.1', port: webhookPort, secret: webhookSecret },
      nats,
      bus,
      commandConsumer,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
import { tracingClientInterceptors } from '../temporal/tracing';
