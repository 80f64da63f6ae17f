/**
 * One scenario's stack: Temporal (the dev server on a SQLite file, or a cluster on a PostgreSQL of its own; see
 * temporal.ts), the bank simulator, the SMTP sink and the local Twilio in this process (so the harness can flip their
 * faults), baton's database on the real PostgreSQL in a schema of its own, a NATS server with JetStream on a file
 * store, and one or two workers and the command consumer as separate processes (the consumer started only by
 * scenarios that send commands). Two workers share the task queue, each with its own webhook receiver behind one
 * front the bank posts to. Everything it starts, it stops; everything it creates, it removes.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { startBankSimulator } from '../../../local/stand-ins/bank-simulator';
import type { BankSimulator } from '../../../local/stand-ins/bank-simulator';
import { createDataConverter } from '../../../temporal/codec';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../../../config/key-ring';
import type { KeyRing } from '../../../config/key-ring';
import { openNatsBus } from '../../../services/bus';
import type { MessageBus } from '../../../services/bus';
import { CustomerStore } from '../../../services/customers';
import { Ledger } from '../../../services/ledger';
import { startSmtpSink } from '../../../local/stand-ins/smtp-sink';
import type { SmtpSink } from '../../../local/stand-ins/smtp-sink';
import { SendLog } from '../../../services/send-log/send-log';
import { startLocalTwilio } from '../../../local/stand-ins/local-twilio';
import type { LocalTwilio } from '../../../local/stand-ins/local-twilio';
import { resolveNatsServer, startNatsServer } from '../../../local/nats-server';
import type { NatsServer } from '../../../local/nats-server';
import { freePort } from '../../../services/ports';
import { startHttpFront } from '../../../local/http-front';
import { dropSchema, TEST_DATABASE_URL } from '../../support/postgres';
import { buildRelease } from '../../support/release';
import type { BuiltRelease } from '../../support/release';
import { CommandConsumerProcess, LineLog, PROJECT_ROOT, WorkerProcess } from './processes';
import { startTemporalBackend } from './temporal';
import type { Outage, TemporalBackendKind } from './temporal';

const TWILIO_ACCOUNT_SID = 'AC0fa01700000000000000000000000000';
const TWILIO_AUTH_TOKEN = 'fault-suite-twilio-token';
const WEBHOOK_SECRET = 'fault-suite-webhook-secret-0001';

/** Where the scenario's logs are kept after the run (ignored by git). */
export const FAULT_LOG_ROOT = path.join(PROJECT_ROOT, 'test-results', 'faults');

let release: Promise<BuiltRelease> | undefined;

/**
 * Builds the release once per test process, with the script the image runs, so every worker start and every restart
 * after a kill runs what production runs: compiled JavaScript loading a prebuilt bundle.
 */
function builtRelease(): Promise<BuiltRelease> {
  const dir = path.join(PROJECT_ROOT, 'test-results', `release-${process.pid}`);
  if (release === undefined) {
    // The release serves every scenario of this process; it goes with the process.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    release = buildRelease(dir);
  }
  return release;
}

/** What a stack runs on: which Temporal, and how many worker processes poll its task queue. */
export interface StackShape {
  temporal: TemporalBackendKind;
  workers: 1 | 2;
}

/** The fault suite's own stack: the dev server on SQLite and one worker, as `npm start` runs them. */
export const DEV_STACK: StackShape = { temporal: 'dev', workers: 1 };

/** Path of the bank webhook on a worker's receiver. */
const WEBHOOK_PATH = '/webhooks/bank';

/** A running scenario stack. */
export interface FaultStack {
  readonly name: string;
  readonly schema: string;
  readonly shape: StackShape;
  /** `application_name` of the workers' PostgreSQL connections, so the harness can terminate exactly those. */
  readonly workerAppName: string;
  /** Where the bank posts its webhooks: the worker's receiver, or with two workers the front before both. */
  readonly webhookUrl: string;
  readonly webhookSecret: string;
  readonly client: Client;
  readonly ledger: Ledger;
  readonly customers: CustomerStore;
  readonly sendLog: SendLog;
  readonly bank: BankSimulator;
  readonly mailSink: SmtpSink;
  readonly smsSink: LocalTwilio;
  /** The workers polling the task queue, on the same settings but their ports. */
  readonly workers: readonly WorkerProcess[];
  /** The first of {@link workers} (the only one on a one-worker stack). */
  readonly worker: WorkerProcess;
  /** The command consumer, on the worker's settings; not started unless the scenario sends commands. */
  readonly consumer: CommandConsumerProcess;
  /** The harness's own connection to the bus: it publishes commands and reads the streams back. */
  readonly bus: MessageBus;
  /** The keys that seal the personal fields of commands (the consumer's and the worker's). */
  readonly keys: KeyRing;
  /** The prebuilt workflow bundle the worker runs, for replaying what it wrote. */
  readonly workflowBundlePath: string;
  /** The settings the worker runs on, for baton's CLI run as an operator runs it (see test/support/cli.ts). */
  readonly cliEnv: NodeJS.ProcessEnv;
  /** The Temporal CLI binary: the operator's own tool. */
  readonly temporalCliPath: string;
  /** Where the Temporal CLI reaches the server: `--address` and `--namespace`. */
  readonly temporalAddress: { address: string; namespace: string };
  /** The harness's own log: what it injected and when. */
  readonly log: LineLog;
  readonly logDir: string;
  /**
   * SIGKILLs the Temporal server (the dev server or `temporal-server`), waits `downMs`, starts it again on the same
   * port and state (the SQLite file, or the cluster's databases).
   */
  killTemporal(downMs: number): Promise<Outage>;
  /**
   * Stops the PostgreSQL under the Temporal cluster (fast shutdown), waits `downMs`, starts it again on the same data;
   * rejects on the dev server, which has none.
   */
  restartTemporalPostgres(downMs: number): Promise<Outage>;
  /** SIGKILLs the NATS server, waits `downMs`, starts it again on the same port and JetStream store. */
  killNats(downMs: number): Promise<Outage>;
  /** Terminates the worker's PostgreSQL connections on the server; returns how many there were. */
  terminateWorkerConnections(): Promise<number>;
  /** Stops every process, closes every connection, drops the schema and removes the temp folder. */
  stop(): Promise<void>;
}

function withAppName(url: string, appName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', appName);
  return parsed.toString();
}

/** Starts a scenario stack; on failure, stops whatever had started and rethrows. */
export async function startFaultStack(
  name: string,
  schema: string,
  /** Settings of this scenario's workers on top of the stack's own (a zero cache, say). */
  workerEnv: NodeJS.ProcessEnv = {},
  shape: StackShape = DEV_STACK,
): Promise<FaultStack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const logDir = path.join(FAULT_LOG_ROOT, name);
  await rm(logDir, { recursive: true, force: true });
  await mkdir(logDir, { recursive: true });
  const log = new LineLog(path.join(logDir, 'harness.log'));
  const temporalLog = new LineLog(path.join(logDir, 'temporal.log'));
  const stopAll = async () => {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop();
      if (cleanup)
        await cleanup().catch((err: unknown) => log.write(`[harness] while stopping: ${String(err)}`));
    }
    await temporalLog.close();
    await log.close();
  };

  try {
    const tempDir = await mkdtemp(path.join(os.tmpdir(), `baton-faults-${name}-`));
    cleanups.push(() => rm(tempDir, { recursive: true, force: true }));
    const temporal = await startTemporalBackend(shape.temporal, tempDir, log, temporalLog);
    cleanups.push(() => temporal.stop());

    cleanups.push(() => dropSchema(schema));
    const harnessUrl = withAppName(TEST_DATABASE_URL, `baton_faults_harness_${process.pid}`);
    const ledger = await Ledger.open({ databaseUrl: harnessUrl, schema, poolSize: 4 });
    cleanups.push(() => ledger.close());

    // Each worker's receiver on a port of its own; with two, the bank posts to a front before them, as a load
    // balancer: each webhook goes to the next receiver in turn, and on to the other when that one's worker is down.
    const webhookPorts: number[] = [];
    for (let n = 0; n < shape.workers; n++) webhookPorts.push(await freePort());
    let webhookUrl = `http://127.0.0.1:${webhookPorts[0] ?? 0}${WEBHOOK_PATH}`;
    if (shape.workers > 1) {
      const receivers = webhookPorts.map((port) => `http://127.0.0.1:${port}`);
      const front = await startHttpFront({ targets: () => receivers, rotate: true });
      cleanups.push(() => front.close());
      webhookUrl = `${front.url}${WEBHOOK_PATH}`;
    }
    const bank = await startBankSimulator({
      port: 0,
      webhookUrl,
      webhookSecret: WEBHOOK_SECRET,
      defaultOutcome: 'settled',
      defaultDelayMs: 400,
      log: (line) => log.write(`[bank] ${line}`),
    });
    cleanups.push(() => bank.close());
    const mailSink = await startSmtpSink({ port: 0, log: (line) => log.write(`[smtp] ${line}`) });
    cleanups.push(() => mailSink.close());
    const smsSink = await startLocalTwilio({
      port: 0,
      accountSid: TWILIO_ACCOUNT_SID,
      authToken: TWILIO_AUTH_TOKEN,
      log: (line) => log.write(`[twilio] ${line}`),
    });
    cleanups.push(() => smsSink.close());

    // The worker publishes each outcome on the bus, so it gets a NATS server of its own.
    const natsBinary = (await resolveNatsServer({ onProgress: (line) => log.write(`[nats] ${line}`) })).path;
    const natsOptions = {
      binaryPath: natsBinary,
      port: await freePort(),
      // A restart on the same store finds every stream, message and consumer position the killed server held.
      storeDir: path.join(tempDir, 'nats'),
      log: (line: string) => log.write(`[nats] ${line}`),
    };
    let nats: NatsServer = await startNatsServer(natsOptions);
    cleanups.push(() => nats.stop());
    const keys = parseKeyRing(LOCAL_DEV_KEYS);
    const bus = await openNatsBus({ url: nats.url, name: 'baton-fault-harness' });
    // Closing drains what is in flight; with the server gone (a failed restart) it would wait for ever.
    cleanups.push(() =>
      Promise.race([bus.close(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]),
    );
    await bus.ensureTopology();

    const release = await builtRelease();

    const workerAppName = `baton_faults_worker_${process.pid}_${name.replace(/[^a-z0-9]/g, '_')}`;
    const serviceEnv: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      DATABASE_URL: withAppName(TEST_DATABASE_URL, workerAppName),
      DATABASE_SCHEMA: schema,
      BANK_URL: bank.url,
      NATS_URL: nats.url,
      BANK_WEBHOOK_SECRET: WEBHOOK_SECRET,
      WEBHOOK_HOST: '127.0.0.1',
      SMTP_URL: mailSink.url,
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM: '+15005550006',
      TWILIO_MESSAGING_SERVICE_SID: '',
      TWILIO_API_BASE_URL: smsSink.url,
      BATON_CODEC_KEYS: LOCAL_DEV_KEYS,
      BATON_CODEC_ACTIVE_KEY: '',
      TEMPORAL_API_KEY: '',
      TEMPORAL_TLS_CERT_PATH: '',
      TEMPORAL_TLS_KEY_PATH: '',
      TEMPORAL_TLS_CA_PATH: '',
      TEMPORAL_TLS_SERVER_NAME: '',
      AML_WATCHLIST_PATH: '',
      WORKFLOW_BUNDLE_PATH: release.bundle,
      // No watchdog schedule: a scenario that wants a sweep runs one by hand (`watchdog run`), and no alert mail
      // reaches the SMTP sink, whose every message must belong to a run.
      WATCHDOG_INTERVAL_SECONDS: '0',
      OPS_EMAIL: '',
      ...workerEnv,
    };
    const workers: WorkerProcess[] = [];
    for (const [index, webhookPort] of webhookPorts.entries()) {
      const label = shape.workers === 1 ? 'worker' : `worker-${index + 1}`;
      const workerLog = new LineLog(path.join(logDir, `${label}.log`));
      cleanups.push(() => workerLog.close());
      const env = {
        ...serviceEnv,
        WEBHOOK_PORT: String(webhookPort),
        // A port of its own for metrics and health, so no worker meets another's (or npm start's) on the default.
        WORKER_OPS_PORT: String(await freePort()),
      };
      const worker = new WorkerProcess(release.worker, env, workerLog, label);
      cleanups.push(() => worker.stop());
      workers.push(worker);
    }
    const [worker] = workers;
    if (worker === undefined) throw new Error('a stack runs at least one worker');
    const consumerLog = new LineLog(path.join(logDir, 'consumer.log'));
    cleanups.push(() => consumerLog.close());
    // The same settings as the worker's: one Temporal, one bus, one key ring, one task queue.
    const consumer = new CommandConsumerProcess(release.consumer, serviceEnv, consumerLog);
    cleanups.push(() => consumer.stop());

    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: temporal.namespace,
      dataConverter: createDataConverter(parseKeyRing(LOCAL_DEV_KEYS)),
    });

    let stopping: Promise<void> | undefined;
    return {
      name,
      schema,
      shape,
      workerAppName,
      webhookUrl,
      webhookSecret: WEBHOOK_SECRET,
      client,
      ledger,
      customers: new CustomerStore(ledger.database),
      sendLog: new SendLog(ledger.database),
      bank,
      mailSink,
      smsSink,
      workers,
      worker,
      consumer,
      bus,
      keys,
      workflowBundlePath: release.bundle,
      cliEnv: serviceEnv,
      temporalCliPath: temporal.cliPath,
      // The port survives a restart of the server (see killTemporal), so the address stays valid.
      temporalAddress: { address: temporal.address, namespace: temporal.namespace },
      log,
      logDir,
      killTemporal: (downMs) => temporal.kill(downMs),
      restartTemporalPostgres: (downMs) => temporal.restartPostgres(downMs),
      async killNats(downMs) {
        const killedAt = Date.now();
        log.write(`[harness] SIGKILL to the NATS server (pid ${nats.pid})`);
        nats.kill('SIGKILL');
        await nats.exited;
        await new Promise((resolve) => setTimeout(resolve, downMs));
        nats = await startNatsServer(natsOptions);
        log.write(`[harness] NATS server back on ${nats.url} (pid ${nats.pid})`);
        return { killedAt, readyAt: Date.now() };
      },
      async terminateWorkerConnections() {
        const pg = new PgClient({ connectionString: TEST_DATABASE_URL });
        await pg.connect();
        try {
          // Only this scenario's worker connections (the server is shared with every other test on the machine):
          // the pids are read first and terminated one by one, so no plan can apply the kill to another row.
          const found = await pg.query<{ pid: number }>(
            'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
            [workerAppName],
          );
          let terminated = 0;
          for (const { pid } of found.rows) {
            const done = await pg.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
            if (done.rows[0]?.ok === true) terminated += 1;
          }
          log.write(`[harness] terminated ${terminated} worker PostgreSQL connection(s)`);
          return terminated;
        } finally {
          await pg.end();
        }
      },
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
