/**
 * `npm run bench`: how fast baton moves payments on this machine, and how much of that is Temporal's own limit.
 * Brings up a Temporal dev server (SQLite file), the ledger (PostgreSQL, or PGlite), the bank simulator settling at
 * once and the SMTP sink, all on free ports; runs the engine ceiling (the payment's shape, no work) and then real
 * payments with the same worker settings; measures tracing off against on (a real Jaeger); replays the history
 * fixtures; writes a JSON report and an SVG chart under bench/results/. `--json` prints the report alone on
 * stdout; progress goes to stderr. `--cluster` runs payments on a Temporal cluster instead (temporal-server on
 * PostgreSQL), with one and with two worker processes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { AML_DEMO_NAMES } from '../local/demo-names';
import { startBankSimulator } from '../local/stand-ins/bank-simulator';
import type { BankSimulator } from '../local/stand-ins/bank-simulator';
import { createDataConverter } from '../temporal/codec';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import { CustomerStore } from '../services/customers';
import { Ledger } from '../services/ledger';
import { startSmtpSink } from '../local/stand-ins/smtp-sink';
import { startPayment } from '../client/payments';
import { bundleWorkflows, untracedBundleFile, writeWorkflowBundle } from '../temporal/bundle';
import { quietWorkerRuntime } from '../temporal/runtime';
import { startDevServer } from '../local/dev-server';
import { resolveJaeger, startJaeger } from '../local/jaeger';
import type { ResolvedJaeger } from '../local/jaeger';
import { freePort } from '../services/ports';
import { resolveTemporalCli } from '../local/temporal-cli';
import { formatMoney } from '../domain/money';
import type { Currency } from '../domain/money';
import { paymentSearchAttributes, PaymentStatus, paymentWorkflowId } from '../workflows/payment-contract';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import type { PaymentRequest, PaymentState } from '../workflows/payment-contract';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs } from './args';
import type { BenchOptions, BenchPhase } from './args';
import type { CeilingCommands, CeilingInput, CeilingState } from './ceiling/contract';
import { renderChart } from './chart';
import type { ChartSeries } from './chart';
import type { Launched } from './driver';
import { runPhase } from './phase';
import { compareWorkerCounts, startBenchCluster } from './cluster';
import type { ClusterComparison } from './cluster';
import { startHttpFront } from '../local/http-front';
import type { HttpFront } from '../local/http-front';
import { withLedgerStats } from './ledger-stats';
import { bundleBeforeLeanSteps } from './revisions';
import type { Launcher, PhaseResult } from './phase';
import { loadAverage } from './proc';
import { compareTracing } from './tracing';
import type { TracingComparison } from './tracing';
import { measureReplaySpeed } from './replay-speed';
import type { ReplaySpeed } from './replay-speed';
import { buildReport, pooledThroughput, summaryText, THROUGHPUT_ORDER } from './report';
import type { ThroughputKind, ThroughputPhase } from './report';
import type { BenchEnvironment } from './report';
import type { WorkerHostConfig } from './worker-host';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { CEILING_WORKFLOWS_PATH } from './worker-host';

const execFileAsync = promisify(execFile);
const PROJECT_ROOT = path.resolve(__dirname, '..');

const NAMESPACE = 'default';
const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789';
/** Every benchmark account starts with this much, far more than any run spends. */
const FUNDING_MINOR = 100_000_000;
/** How long a ceiling run waits for its signal before failing (a lost signal shows as a failure, not a hang). */
const CEILING_SETTLE_TIMEOUT_MS = 120_000;

type Cleanup = () => Promise<unknown>;

function accountId(index: number, currency: string): string {
  return `BENCH-${String(index + 1).padStart(4, '0')}-${currency}`;
}

/** Creates the benchmark's customers (email channel) and funds one account each, spread over the currencies. */
async function seedLedger(
  ledger: Ledger,
  options: BenchOptions,
): Promise<{ id: string; currency: string }[]> {
  const customers = new CustomerStore(ledger.database);
  const accounts: { id: string; currency: string }[] = [];
  for (const currency of options.currencies) await ledger.ensureSystemAccounts(currency);
  for (let i = 0; i < options.accounts; i++) {
    const currency = options.currencies[i % options.currencies.length] ?? 'EUR';
    const number = String(i + 1).padStart(4, '0');
    const customer = await customers.create({
      id: `C-BENCH-${number}`,
      registrationId: `bench-${number}`,
      name: `Bench Customer ${number}`,
      email: `bench-${number}@example.com`,
      channel: 'email',
    });
    const id = accountId(i, currency);
    await ledger.openAccount({ id, kind: 'customer', customerId: customer.id, currency });
    await ledger.transfer({
      idempotencyKey: `bench-seed:${id}`,
      fromAccountId: Ledger.systemAccountId('funding', currency),
      toAccountId: id,
      amountMinor: FUNDING_MINOR,
      currency,
    });
    accounts.push({ id, currency });
  }
  return accounts;
}

function paymentRequest(
  paymentId: string,
  index: number,
  accounts: readonly { id: string; currency: string }[],
): PaymentRequest {
  const account = accounts[index % accounts.length] ?? { id: accountId(0, 'EUR'), currency: 'EUR' };
  return {
    paymentId,
    fromAccountId: account.id,
    amountMinor: 100 + (index % 50),
    currency: account.currency as Currency,
    // A name that screens clear, so every payment takes the straight path to the bank.
    beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
  };
}

/**
 * One start call with the options the client's own start uses, without its describe afterwards: what the start
 * costs when the server's answer is trusted (the `--start direct` experiment).
 */
async function startPaymentDirect(client: Client, request: PaymentRequest, taskQueue: string) {
  return client.workflow.start('paymentWorkflow', {
    workflowId: paymentWorkflowId(request.paymentId),
    taskQueue,
    args: [request],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    memo: { startToken: randomUUID() },
    staticSummary: `Pay ${formatMoney(request.amountMinor, request.currency)} from ${request.fromAccountId} to a beneficiary in ${request.beneficiary.country}`,
    staticDetails: `**Payment** \`${request.paymentId}\``,
    typedSearchAttributes: [
      { key: paymentSearchAttributes.status, value: PaymentStatus.Received },
      { key: paymentSearchAttributes.amount, value: request.amountMinor },
      { key: paymentSearchAttributes.currency, value: request.currency },
    ],
  });
}

function eagerly(handle: WorkflowHandle): boolean {
  return 'eagerlyStarted' in handle && handle.eagerlyStarted === true;
}

/** The payment id of one run of a phase: what the launcher starts, and what the tracing check looks up. */
function benchPaymentId(tag: string, index: number, warmup: boolean): string {
  return `bench-${tag}-${warmup ? 'w' : 'm'}${index}`;
}

function paymentLauncher(
  options: BenchOptions,
  tag: string,
  taskQueue: string,
  accounts: readonly { id: string; currency: string }[],
  beforeStart?: (paymentId: string) => void,
): Launcher {
  return async (client, index, warmup): Promise<Launched> => {
    const paymentId = benchPaymentId(tag, index, warmup);
    const request = paymentRequest(paymentId, index, accounts);
    beforeStart?.(paymentId);
    if (options.start === 'direct') {
      const handle = await startPaymentDirect(client, request, taskQueue);
      return {
        workflowId: handle.workflowId,
        eagerlyStarted: handle.eagerlyStarted,
        result: handle.result() as Promise<PaymentState>,
      };
    }
    const started = await startPayment(client, request, taskQueue);
    return {
      workflowId: started.workflowId,
      eagerlyStarted: eagerly(started.handle),
      result: started.handle.result(),
    };
  };
}

function ceilingLauncher(
  options: BenchOptions,
  tag: string,
  taskQueue: string,
  commands: CeilingCommands,
): Launcher {
  return async (client, index, warmup): Promise<Launched> => {
    const id = `${tag}-${warmup ? 'w' : 'm'}${index}`;
    const input: CeilingInput = {
      id,
      commands,
      settleTimeoutMs: CEILING_SETTLE_TIMEOUT_MS,
      localSteps: options.ceilingLocalSteps,
    };
    const handle = await client.workflow.start('ceilingWorkflow', {
      workflowId: `ceiling:${id}`,
      taskQueue,
      args: [input],
    });
    return {
      workflowId: handle.workflowId,
      eagerlyStarted: handle.eagerlyStarted,
      result: handle.result() as Promise<CeilingState>,
    };
  };
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Runs every phase the options ask for and returns the report; stops everything it started. */
async function runBenchmark(options: BenchOptions, say: (line: string) => void) {
  const cleanups: Cleanup[] = [];
  const tag = randomBytes(3).toString('hex');
  const startedAt = new Date();
  quietWorkerRuntime();
  try {
    const tempDir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-'));
    cleanups.push(() => rm(tempDir, { recursive: true, force: true }));

    // --cluster measures the cluster section alone; every other phase runs on the dev server.
    const runs = (phase: BenchPhase) => !options.cluster && !options.skip.includes(phase);
    const cli = await resolveTemporalCli({ onProgress: say });
    let temporal: { address: string; serverPid: number; databasePid?: number; serverBinary?: string };
    if (options.cluster) {
      say('starting a Temporal cluster: PostgreSQL of its own, temporal-server (deploy/temporal/)');
      const cluster = await startBenchCluster();
      cleanups.push(() => cluster.stop());
      if (cluster.namespace !== NAMESPACE) throw new Error(`the cluster serves ${cluster.namespace}`);
      temporal = cluster;
      say(
        `Temporal cluster on ${cluster.address} (temporal-server pid ${cluster.serverPid}, ` +
          `its PostgreSQL pid ${cluster.databasePid})`,
      );
    } else {
      const devServer = await startDevServer({
        cliPath: cli.path,
        port: await freePort(),
        dbFile: path.join(tempDir, 'temporal.db'),
        namespace: NAMESPACE,
        searchAttributes: SEARCH_ATTRIBUTES,
        sqliteJournal: options.sqlite,
      });
      cleanups.push(() => devServer.stop());
      temporal = { address: devServer.address, serverPid: devServer.pid };
      say(`Temporal dev server on ${devServer.address} (SQLite file, pid ${devServer.pid})`);
    }

    // Found (or built) before any phase runs, so a missing Jaeger stops the run at once, not after the others.
    let jaegerBinary: ResolvedJaeger | undefined;
    if (runs('tracing')) {
      jaegerBinary = await resolveJaeger({ onProgress: say }).catch((err: unknown) => {
        throw new Error(
          `the tracing section needs Jaeger (or leave it out with --skip tracing): ${String(err)}`,
        );
      });
    }

    // The deployed form: the release `npm run build` makes, with the benchmark's own worker process compiled in.
    let compiledWorker: string | undefined;
    if (options.workerRuntime === 'compiled') {
      const releaseDir = path.join(PROJECT_ROOT, 'test-results', `bench-release-${process.pid}`);
      say(`building a release in ${path.relative(PROJECT_ROOT, releaseDir)} for the compiled worker`);
      await execFileAsync(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(PROJECT_ROOT, 'workers', 'build-main.ts'),
          releaseDir,
          '--include',
          'bench',
        ],
        { cwd: PROJECT_ROOT },
      );
      cleanups.push(() => rm(releaseDir, { recursive: true, force: true }));
      compiledWorker = path.join(releaseDir, 'js', 'bench', 'worker-process.js');
    }

    // Bundles are written once; with --bundle worker each worker bundles at its own start instead.
    const paymentBundle =
      options.paymentRevision === 'before-lean'
        ? await bundleBeforeLeanSteps({ traced: true })
        : await bundleWorkflows();
    const paymentBundlePath = path.join(tempDir, 'payment-workflows.js');
    const ceilingBundlePath = path.join(tempDir, 'ceiling-workflows.js');
    if (options.bundle === 'prebuilt') {
      const ceilingBundle = await bundleWorkflowCode({
        workflowsPath: CEILING_WORKFLOWS_PATH,
        logger: new DefaultLogger('WARN'),
      });
      await writeWorkflowBundle(paymentBundlePath, paymentBundle);
      // Beside it, as a release writes it: the bundle a worker that exports no spans loads.
      // --traced-bundle writes the traced one there too, as every worker ran before the untraced bundle existed.
      const untraced = options.tracedBundle
        ? paymentBundle
        : options.paymentRevision === 'before-lean'
          ? await bundleBeforeLeanSteps({ traced: false })
          : await bundleWorkflows({ traced: false });
      await writeWorkflowBundle(untracedBundleFile(paymentBundlePath), untraced);
      await writeWorkflowBundle(ceilingBundlePath, ceilingBundle);
    }

    const schema = `bench_${process.pid}_${tag}`;
    const ledgerConfig = options.pglite
      ? {
          pgliteDir: path.join(tempDir, 'ledger'),
          ...(options.poolSize ? { poolSize: options.poolSize } : {}),
        }
      : {
          databaseUrl: options.databaseUrl,
          schema,
          ...(options.poolSize ? { poolSize: options.poolSize } : {}),
        };
    if (!options.pglite) {
      cleanups.push(async () => {
        const pg = new PgClient({ connectionString: options.databaseUrl });
        await pg.connect();
        try {
          await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await pg.end();
        }
      });
    }
    const seeding = await Ledger.open(
      options.pglite
        ? { dataDir: path.join(tempDir, 'ledger') }
        : { databaseUrl: options.databaseUrl, schema },
    );
    let accounts: { id: string; currency: string }[];
    try {
      accounts = await seedLedger(seeding, options);
    } finally {
      // PGlite allows one process at a time, and the worker opens it next.
      await seeding.close();
    }
    say(
      `ledger on ${options.pglite ? 'PGlite' : 'PostgreSQL'}: ${accounts.length} funded accounts in ${options.currencies.join(', ')}`,
    );

    const webhookPort = await freePort();
    // On the cluster, the bank posts to a front (a load balancer's stand-in) that passes each webhook on to the
    // phase's workers' receivers in turn; each phase points it at its own workers.
    let balancer: HttpFront | undefined;
    let receivers: readonly string[] = [];
    if (options.cluster) {
      const started = await startHttpFront({ targets: () => receivers, rotate: true });
      cleanups.push(() => started.close());
      balancer = started;
    }
    const bank: BankSimulator = await startBankSimulator({
      port: 0,
      webhookUrl: `${balancer?.url ?? `http://127.0.0.1:${webhookPort}`}/webhooks/bank`,
      webhookSecret: WEBHOOK_SECRET,
      defaultOutcome: 'settled',
      defaultDelayMs: options.bankDelayMs,
    });
    cleanups.push(() => bank.close());
    const mailSink = await startSmtpSink({ port: 0 });
    cleanups.push(() => mailSink.close());
    // The sink keeps every message; the benchmark only needs them accepted.
    const clearMail = setInterval(() => mailSink.clear(), 5_000);
    cleanups.push(() => Promise.resolve(clearInterval(clearMail)));

    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const codecKeys = parseKeyRing(LOCAL_DEV_KEYS);
    const paymentClient = new Client({
      connection,
      namespace: NAMESPACE,
      dataConverter: createDataConverter(codecKeys),
    });
    const ceilingClient = options.ceilingCodec
      ? paymentClient
      : new Client({ connection, namespace: NAMESPACE });

    const tuning = {
      ...(options.workflowSlots === undefined
        ? {}
        : { maxConcurrentWorkflowTaskExecutions: options.workflowSlots }),
      ...(options.activitySlots === undefined
        ? {}
        : { maxConcurrentActivityTaskExecutions: options.activitySlots }),
      ...(options.workflowPolls === undefined
        ? {}
        : { maxConcurrentWorkflowTaskPolls: options.workflowPolls }),
      ...(options.activityPolls === undefined
        ? {}
        : { maxConcurrentActivityTaskPolls: options.activityPolls }),
      ...(options.cache === undefined ? {} : { maxCachedWorkflows: options.cache }),
    };
    const workerConfig = (
      mode: 'payment' | 'ceiling',
      taskQueue: string,
      receiverPort = webhookPort,
    ): WorkerHostConfig => ({
      mode,
      temporalAddress: temporal.address,
      namespace: NAMESPACE,
      taskQueue,
      ...(options.bundle === 'prebuilt'
        ? { bundlePath: mode === 'payment' ? paymentBundlePath : ceilingBundlePath }
        : {}),
      tuning,
      shareConnection: options.eager,
      eager: options.eager,
      codec: options.ceilingCodec,
      nodeOptions: options.workerNodeOptions,
      ...(mode === 'payment'
        ? {
            payment: {
              ledger: ledgerConfig,
              bankUrl: bank.url,
              webhookPort: receiverPort,
              webhookSecret: WEBHOOK_SECRET,
              smtpUrl: mailSink.url,
            },
          }
        : {}),
    });
    const arrival = options.rate === undefined ? {} : { ratePerSec: options.rate };
    const common = {
      inProcess: options.inProcess,
      ...(compiledWorker === undefined ? {} : { compiledWorker }),
      total: options.payments,
      warmup: options.warmup,
      concurrency: options.concurrency,
      serverPid: temporal.serverPid,
      ...(temporal.databasePid === undefined ? {} : { serverDatabasePid: temporal.databasePid }),
      quiet: false,
    };

    // On the cluster: one worker process against two on the same task queue, 1 2 2 1, each side pooled.
    let cluster: { comparison: ClusterComparison; results: PhaseResult[] } | undefined;
    if (options.cluster && balancer !== undefined) {
      cluster = await compareWorkerCounts({
        serverBinary: temporal.serverBinary ?? 'temporal-server',
        payments: options.payments,
        warmup: options.warmup,
        arrival:
          options.rate === undefined ? { concurrency: options.concurrency } : { ratePerSec: options.rate },
        say,
        run: async ({ workers, round }) => {
          const taskQueue = `bench-cluster-${workers}w${round}-${tag}`;
          // A webhook receiver per worker process, each on a port of its own.
          const ports: number[] = [];
          while (ports.length < workers) {
            const port = await freePort();
            if (!ports.includes(port)) ports.push(port);
          }
          receivers = ports.map((port) => `http://127.0.0.1:${port}`);
          const [first, ...more] = ports.map((port) => workerConfig('payment', taskQueue, port));
          if (first === undefined) throw new Error('a cluster phase needs a worker');
          return runPhase({
            ...common,
            ...arrival,
            name: `cluster ${workers === 1 ? '1 worker' : `${workers} workers`} #${round}`,
            worker: first,
            moreWorkers: more,
            client: paymentClient,
            launch: paymentLauncher(options, `k${workers}${round}${tag}`, taskQueue, accounts),
          });
        },
      });
    }

    // Throughput, A B C C B A: the straightforward ceiling, baton's own commands as no-ops, then real payments, and
    // back, so a drift in the machine's load falls on every kind alike; each kind is pooled over its two phases.
    const kinds: Record<ThroughputKind, { skip: BenchPhase; start: () => Promise<PhaseResult> }> = {
      ceiling: {
        skip: 'ceiling',
        start: () => {
          const taskQueue = `bench-ceiling-${tag}-${throughputRound('ceiling')}`;
          say(`ceiling: ${options.payments} no-op workflows of the payment's shape, task queue ${taskQueue}`);
          return runPhase({
            ...common,
            ...arrival,
            name: `ceiling ${throughputRound('ceiling')}`,
            worker: workerConfig('ceiling', taskQueue),
            client: ceilingClient,
            launch: ceilingLauncher(options, `c${taskQueue}`, taskQueue, 'straightforward'),
          });
        },
      },
      'same-commands': {
        skip: 'same-commands',
        start: () => {
          const taskQueue = `bench-same-${tag}-${throughputRound('same-commands')}`;
          say(
            `same commands: ${options.payments} no-op workflows issuing baton's commands, task queue ${taskQueue}`,
          );
          return runPhase({
            ...common,
            ...arrival,
            name: `same commands ${throughputRound('same-commands')}`,
            worker: workerConfig('ceiling', taskQueue),
            client: ceilingClient,
            launch: ceilingLauncher(options, `s${taskQueue}`, taskQueue, 'baton'),
          });
        },
      },
      payments: {
        skip: 'payments',
        start: () => {
          const round = throughputRound('payments');
          const taskQueue = `bench-payments-${tag}-${round}`;
          say(`payments: ${options.payments} payments, task queue ${taskQueue}`);
          return runPhase({
            ...common,
            ...arrival,
            name: `payments ${round}`,
            worker: workerConfig('payment', taskQueue),
            client: paymentClient,
            launch: paymentLauncher(options, `p${round}${tag}`, taskQueue, accounts),
          });
        },
      },
    };
    const measure = async (kind: ThroughputKind): Promise<ThroughputPhase> => {
      // The ledger's work per payment, from PostgreSQL's own statistics (PGlite keeps none worth reading).
      if (kind !== 'payments' || options.pglite) return { kind, result: await kinds[kind].start() };
      const { result, stats } = await withLedgerStats(
        options.databaseUrl,
        schema,
        () => kinds[kind].start(),
        (phase) => phase.runs + options.warmup,
      );
      return { kind, result, ledgerStats: stats };
    };
    const rounds: Record<ThroughputKind, number> = { ceiling: 0, 'same-commands': 0, payments: 0 };
    const throughputRound = (kind: ThroughputKind) => rounds[kind];
    const throughput: ThroughputPhase[] = [];
    for (const kind of THROUGHPUT_ORDER) {
      if (!runs(kinds[kind].skip)) continue;
      rounds[kind] += 1;
      throughput.push(await measure(kind));
    }

    // One payment at a time: each starts once the last settled, so no hop waits behind another payment.
    let single: PhaseResult | undefined;
    if (runs('single')) {
      const taskQueue = `bench-single-${tag}`;
      say(`one at a time: ${options.singlePayments} payments, each after the last`);
      single = await runPhase({
        ...common,
        name: 'one at a time',
        total: options.singlePayments,
        warmup: Math.min(10, Math.ceil(options.singlePayments / 6)),
        concurrency: 1,
        worker: workerConfig('payment', taskQueue),
        client: paymentClient,
        launch: paymentLauncher(options, `o${tag}`, taskQueue, accounts),
      });
    }

    // Tracing off against on, A B B A, each phase with a fresh worker process of its own (never in the harness,
    // whatever --in-process says: tracing is per process), closed loop at -c, on one Jaeger that lives as long.
    let tracing: { comparison: TracingComparison; results: PhaseResult[] } | undefined;
    if (jaegerBinary !== undefined) {
      const jaeger = await startJaeger({
        binaryPath: jaegerBinary.path,
        otlpHttpPort: await freePort(),
        queryPort: await freePort(),
      });
      cleanups.push(() => jaeger.stop());
      say(`Jaeger on ${jaeger.otlpEndpoint} (OTLP/HTTP) and ${jaeger.queryUrl} (query), pid ${jaeger.pid}`);
      try {
        tracing = await compareTracing({
          jaeger,
          payments: options.tracingPayments,
          warmup: options.tracingWarmup,
          concurrency: options.concurrency,
          say,
          run: async ({ side, round, endpoint, interceptors }) => {
            const phaseTag = `t${side}${round}${tag}`;
            const taskQueue = `bench-tracing-${side}${round}-${tag}`;
            const result = await runPhase({
              ...common,
              name: `tracing ${side} ${round}`,
              inProcess: false,
              total: options.tracingPayments,
              warmup: options.tracingWarmup,
              worker: {
                ...workerConfig('payment', taskQueue),
                shareConnection: false,
                eager: false,
                tracing: endpoint === undefined ? {} : { endpoint },
              },
              client: new Client({
                connection,
                namespace: NAMESPACE,
                dataConverter: createDataConverter(codecKeys),
                interceptors: { workflow: interceptors },
              }),
              launch: paymentLauncher(options, phaseTag, taskQueue, accounts),
            });
            return { result, paymentId: (index) => benchPaymentId(phaseTag, index, false) };
          },
        });
      } finally {
        await jaeger.stop();
      }
    }

    // Latency at 70 % of the measured peak as an open-loop arrival rate, and memory with payments parked at the bank
    // (it holds each until all could have started).
    let atSeventyPercent: PhaseResult | undefined;
    let parked: PhaseResult | undefined;
    const peak = pooledThroughput(throughput, 'payments');
    if (runs('at-70') && peak > 0) {
      const rate = Math.round(peak * 0.7 * 100) / 100;
      const taskQueue = `bench-rate-${tag}`;
      say(`open loop: ${options.payments} payments arriving at ${rate}/s (70 % of ${peak}/s)`);
      atSeventyPercent = await runPhase({
        ...common,
        name: 'at 70%',
        ratePerSec: rate,
        worker: workerConfig('payment', taskQueue),
        client: paymentClient,
        launch: paymentLauncher(options, `r${tag}`, taskQueue, accounts),
      });
    }
    if (runs('parked')) {
      // Long enough for every payment to reach the bank (at the measured rate when there is one), with room.
      const count = options.parkedPayments;
      const holdMs = Math.max(30_000, Math.ceil(peak > 0 ? (count / peak) * 1000 * 1.5 : count * 150));
      const holdQueue = `bench-hold-${tag}`;
      say(`parked: ${count} payments in flight at once (the bank holds each ${holdMs / 1000}s)`);
      parked = await runPhase({
        ...common,
        name: 'parked',
        total: count,
        concurrency: count,
        warmup: 0,
        worker: workerConfig('payment', holdQueue),
        client: paymentClient,
        launch: paymentLauncher(options, `h${tag}`, holdQueue, accounts, (paymentId) =>
          bank.setScenario(paymentId, { delayMs: holdMs }),
        ),
      });
    }

    let replay: ReplaySpeed | undefined;
    if (runs('replay')) {
      say(`replay: the fixture set, ${options.replayRounds} rounds`);
      replay = await measureReplaySpeed(
        options.paymentRevision === 'current' ? paymentBundle : await bundleWorkflows(),
        options.replayRounds,
      );
    }

    const environment: BenchEnvironment = {
      startedAt: startedAt.toISOString(),
      commit: gitCommit(),
      node: process.version,
      cpus: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      loadAverageAtEnd: loadAverage(),
      temporalCli: cli.path,
      temporalServer: temporal.serverBinary ?? null,
    };
    return buildReport({
      options,
      environment,
      throughput,
      single,
      atSeventyPercent,
      parked,
      tracing,
      cluster,
      replay,
    });
  } finally {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop();
      if (cleanup) await cleanup().catch((err: unknown) => say(`while stopping: ${String(err)}`));
    }
  }
}

function chartSeries(report: ReturnType<typeof buildReport>): ChartSeries[] {
  const colors: Record<string, string> = {
    'ceiling 1': '#1f77b4',
    'same commands 1': '#17becf',
    'payments 1': '#ff7f0e',
    'one at a time': '#8c564b',
    'at 70%': '#2ca02c',
    'cluster 1 worker #1': '#ff7f0e',
    'cluster 2 workers #1': '#9467bd',
  };
  // One phase of each kind; the parked and tracing phases are in the report in full.
  return report.phases
    .filter((phase) => phase.name in colors)
    .map((phase) => ({
      label: phase.name,
      color: colors[phase.name] ?? '#333',
      throughput: phase.throughputSeries,
      latenciesMs: phase.latenciesMs,
    }));
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${BENCH_USAGE}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // The bank simulator ties every pending settlement to one abort signal; a thousand in flight is expected here.
  setMaxListeners(100_000);
  const report = await runBenchmark(options, say);

  const outDir = path.resolve(options.out);
  await mkdir(outDir, { recursive: true });
  const stamp = report.document.environment.startedAt.replace(/[:.]/g, '-');
  const base = options.label ? `${stamp}-${options.label.replace(/[^\w.-]+/g, '_')}` : stamp;
  const json = `${JSON.stringify(report.document, null, 2)}\n`;
  const svg = renderChart({
    title: `baton benchmark: ${options.payments} payments`,
    subtitle: report.subtitle,
    series: chartSeries(report),
  });
  await writeFile(path.join(outDir, `${base}.json`), json);
  await writeFile(path.join(outDir, `${base}.svg`), svg);
  await writeFile(path.join(outDir, 'latest.json'), json);
  await writeFile(path.join(outDir, 'latest.svg'), svg);
  say(`report: ${path.join(options.out, `${base}.json`)}, chart: ${path.join(options.out, `${base}.svg`)}`);

  if (options.json) process.stdout.write(json);
  else process.stdout.write(`${summaryText(report.document)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
