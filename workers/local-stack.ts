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
import { AmlScreener } from '../services/aml';
import { BankClient, startBankSimulator } from '../services/bank';
import type { BankSimulator } from '../services/bank';
import { Ledger, serveEmbeddedLedger } from '../services/ledger';
import { seedDemoCustomers } from '../services/ledger/demo-seed';
import { SEARCH_ATTRIBUTES, TASK_QUEUE } from '../workflows/payment-contract';
import { quietWorkerRuntime, startBatonWorker } from './baton-worker';
import type { RunningBatonWorker } from './baton-worker';
import { startDevServer } from './dev-server';
import type { DevServer } from './dev-server';
import { freePort } from './ports';
import { resolveTemporalCli } from './temporal-cli';

/** How to run the local stack. A port left out is picked free. */
export interface LocalStackOptions {
  /** Where state lives (Temporal SQLite file, PGlite ledger); omitted => a temp folder removed on stop. */
  dataDir?: string;
  /** Use this PostgreSQL instead of the embedded ledger. */
  databaseUrl?: string;
  /** PostgreSQL schema for the ledger (tests isolate themselves this way). */
  databaseSchema?: string;
  temporalPort?: number;
  /** Serve the Temporal Web UI on this port; omitted => no UI. */
  uiPort?: number;
  bankPort?: number;
  webhookPort?: number;
  /** Serve the embedded ledger to other processes (the CLI's `accounts`) on this port. */
  ledgerPort?: number;
  webhookSecret?: string;
  /** How long the simulated bank takes to answer. */
  bankDelayMs?: number;
  /** Temporal CLI binary; resolved (and built if needed) when omitted. */
  temporalCliPath?: string;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleWithSourceMap;
  log?: (line: string) => void;
}

/** A running local stack and handles on each part. */
export interface LocalStack {
  address: string;
  namespace: string;
  taskQueue: string;
  uiUrl?: string;
  ledgerUrl?: string;
  client: Client;
  ledger: Ledger;
  bank: BankSimulator;
  devServer: DevServer;
  worker: RunningBatonWorker;
  /** Stops every part, newest first; idempotent. */
  stop(): Promise<void>;
}

const NAMESPACE = 'default';

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

    const cliPath = options.temporalCliPath ?? (await resolveTemporalCli({ onProgress: log })).path;
    const devServer = await startDevServer({
      cliPath,
      port: options.temporalPort ?? (await freePort()),
      ...(options.uiPort === undefined ? {} : { uiPort: options.uiPort }),
      dbFile: path.join(dataDir, 'temporal.db'),
      namespace: NAMESPACE,
      searchAttributes: SEARCH_ATTRIBUTES,
      log: (line) => log(`[temporal] ${line}`),
    });
    cleanups.push(() => devServer.stop());
    log(`Temporal dev server on ${devServer.address}${devServer.uiUrl ? `, UI on ${devServer.uiUrl}` : ''}`);

    const ledger = await Ledger.open(
      options.databaseUrl !== undefined
        ? {
            databaseUrl: options.databaseUrl,
            ...(options.databaseSchema === undefined ? {} : { schema: options.databaseSchema }),
          }
        : { dataDir: path.join(dataDir, 'ledger') },
    );
    cleanups.push(() => ledger.close());
    await seedDemoCustomers(ledger);
    let ledgerUrl: string | undefined;
    if (options.databaseUrl === undefined && options.ledgerPort !== undefined) {
      const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: options.ledgerPort });
      cleanups.push(() => served.close());
      ledgerUrl = served.url;
    }

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

    const connection = await Connection.connect({ address: devServer.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: NAMESPACE });
    const nativeConnection = await NativeConnection.connect({ address: devServer.address });
    cleanups.push(() => nativeConnection.close());

    const taskQueue = options.taskQueue ?? TASK_QUEUE;
    const worker = await startBatonWorker({
      connection: nativeConnection,
      client,
      namespace: NAMESPACE,
      taskQueue,
      ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}),
      services: { ledger, aml: await AmlScreener.fromFile(), bank: new BankClient({ baseUrl: bank.url }) },
      webhook: { host: '127.0.0.1', port: webhookPort, secret: webhookSecret },
      log: (line) => log(`[webhook] ${line}`),
    });
    cleanups.push(() => worker.stop());

    let stopping: Promise<void> | undefined;
    return {
      address: devServer.address,
      namespace: NAMESPACE,
      taskQueue,
      ...(devServer.uiUrl === undefined ? {} : { uiUrl: devServer.uiUrl }),
      ...(ledgerUrl === undefined ? {} : { ledgerUrl }),
      client,
      ledger,
      bank,
      devServer,
      worker,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
