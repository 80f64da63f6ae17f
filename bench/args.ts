/**
 * The benchmark's command line: how many payments, how they arrive, where the ledger lives, and the worker and
 * server settings under test. Parsed and validated here, before anything starts.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isCurrency } from '../domain/money';
import { CEILING_STEPS } from './ceiling/contract';
import type { CeilingStep } from './ceiling/contract';

/** A command line the benchmark cannot run; the message says which flag and why. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

/**
 * Phases a run can leave out. `ceiling`, `same-commands` and `payments` run twice each, in the order A B C C B A;
 * `tracing` is four phases; `single`, `at-70` and `parked` check the goals that throughput alone does not show.
 */
export const BENCH_PHASES = [
  'ceiling',
  'same-commands',
  'payments',
  'single',
  'at-70',
  'parked',
  'tracing',
  'replay',
] as const;
/** One of {@link BENCH_PHASES}. */
export type BenchPhase = (typeof BENCH_PHASES)[number];

/** Payments per phase by default. */
export const DEFAULT_PAYMENTS = 1000;
/** Payments per phase of `--cluster` by default: its four phases finish in a few minutes. */
export const DEFAULT_CLUSTER_PAYMENTS = 200;

/** Everything a benchmark run is told. */
export interface BenchOptions {
  payments: number;
  /** Closed loop: this many workflows in flight at all times (ignored when `rate` is set). */
  concurrency: number;
  /** Open loop: starts per second, whatever is in flight. */
  rate: number | undefined;
  warmup: number;
  json: boolean;
  pglite: boolean;
  databaseUrl: string;
  poolSize: number | undefined;
  /** Worker settings; undefined keeps the SDK's default. */
  workflowSlots: number | undefined;
  activitySlots: number | undefined;
  workflowPolls: number | undefined;
  activityPolls: number | undefined;
  cache: number | undefined;
  /** `prebuilt`: the worker loads a bundle made beforehand; `worker`: it bundles at start-up (the default worker). */
  bundle: 'prebuilt' | 'worker';
  /** Worker in the harness's own process (needed for eager start); RSS and CPU then include the harness. */
  inProcess: boolean;
  eager: boolean;
  /** `once`: the client's own start (start, then describe); `direct`: one start call with the same options. */
  start: 'once' | 'direct';
  /** Dev server SQLite settings: WAL with synchronous=NORMAL (measured faster), or the dev server's defaults. */
  sqlite: 'default' | 'wal';
  accounts: number;
  currencies: string[];
  bankDelayMs: number;
  ceilingLocalSteps: CeilingStep[];
  ceilingCodec: boolean;
  skip: BenchPhase[];
  /** Payments started one at a time, each after the last settled (the `single` phase). */
  singlePayments: number;
  /** Payments parked at the bank at once (the `parked` phase). */
  parkedPayments: number;
  /** Payments in each of the tracing section's four phases (off, on, on, off), and the warm-up before each. */
  tracingPayments: number;
  tracingWarmup: number;
  /** Extra Node.js flags for the worker process (e.g. heap limits); not with `--in-process`. */
  workerNodeOptions: string[];
  /** `tsx`: the worker process runs the sources; `compiled`: a release built with `npm run build`, as deployed. */
  workerRuntime: 'tsx' | 'compiled';
  /** `current`: today's payment workflow; `before-lean`: the same code as the revision before the lean steps ran it. */
  paymentRevision: 'current' | 'before-lean';
  /** Payment workers that export nothing load the traced bundle anyway, as every worker did before the untraced one. */
  tracedBundle: boolean;
  /**
   * Instead of every other phase: payments on a Temporal cluster (temporal-server on PostgreSQL) with one and with
   * two worker processes on the task queue, in the order 1 2 2 1.
   */
  cluster: boolean;
  replayRounds: number;
  out: string;
  label: string | undefined;
  help: boolean;
}

/** The `--help` text. */
export const BENCH_USAGE = `npm run bench -- [options]

  -n, --payments N        payments (and ceiling workflows) to measure (default 1000; with --cluster 200)
  -c, --concurrency C     closed loop: keep C workflows in flight (default 50)
      --rate R            open loop: start R workflows per second instead
      --warmup W          unmeasured workflows first (default min(50, N/10))
      --json              print only the JSON report on stdout
      --pglite            ledger on embedded PGlite instead of PostgreSQL
      --database-url URL  PostgreSQL (default $TEST_DATABASE_URL or postgres://root@127.0.0.1:5432/test)
      --pool-size P       ledger connection pool size (default 10)
      --wf-slots S        maxConcurrentWorkflowTaskExecutions (SDK default 40)
      --activity-slots S  maxConcurrentActivityTaskExecutions (SDK default 100)
      --wf-polls P        maxConcurrentWorkflowTaskPolls (SDK default 10)
      --activity-polls P  maxConcurrentActivityTaskPolls (SDK default 10)
      --cache K           maxCachedWorkflows, at least 2 (SDK default from heap size)
      --bundle MODE       prebuilt (default) | worker: bundle workflow code at worker start-up
      --in-process        run the worker inside the harness process
      --eager             eager workflow start (implies --in-process: client and worker share a connection)
      --start MODE        once (default: the client's start + describe) | direct (one start call)
      --sqlite MODE       wal (default: journal_mode=WAL, synchronous=NORMAL) | default (the dev server's own)
      --accounts K        customer accounts the payments are spread over (default 200)
      --currencies LIST   currencies of those accounts, comma-separated (default EUR)
      --bank-delay-ms D   how long the simulated bank takes to settle (default 0: at once)
      --ceiling-local S   ceiling steps run as local activities: ${CEILING_STEPS.join(',')}
      --ceiling-codec     the ceiling encrypts its payloads with baton's codec too
      --skip LIST         leave out phases: ${BENCH_PHASES.join(',')}
      --single-n N        payments of the one-at-a-time phase (default 60)
      --parked-n N        payments parked at the bank at once in the parked phase (default 1000)
      --tracing-n N       payments in each phase of the tracing section (off, on, on, off; default 200);
                          --skip tracing leaves the section out
      --worker-node-options "FLAGS"
                          extra Node.js flags for the worker process, e.g. "--max-semi-space-size=2"
      --worker-runtime R  tsx (default: the worker process runs the sources) | compiled (a release from
                          npm run build, run by plain node, as the image runs it)
      --payment-revision R
                          current (default) | before-lean: payments run as the revision before the lean steps
                          (regular activities, an upsert per change), to measure that change A B B A
      --traced-bundle     payment workers that export no spans load the bundle with the tracing interceptors
                          anyway (as before the untraced bundle), to measure that change
      --cluster           instead of the phases above: payments on a Temporal cluster (temporal-server with
                          every service in one process, on a PostgreSQL of its own) with one and with two
                          worker processes on the task queue, 1 2 2 1, -n payments each at -c in flight (or
                          --rate); on a small machine the figures are for shape, not absolute speed: the
                          workers share its cores with the server and PostgreSQL
      --replay-rounds R   times the fixture set is replayed (default 5)
      --out DIR           where the report and chart go (default bench/results)
      --label TEXT        a name for this run in the report
  -h, --help              this text`;

const positiveInt = (flag: string) =>
  z.coerce
    .number({ error: `${flag} must be a number` })
    .int(`${flag} must be a whole number`)
    .min(1, `${flag} must be at least 1`);
const optionalPositiveInt = (flag: string) => positiveInt(flag).optional();

function listOf<T extends string>(flag: string, allowed: readonly T[], raw: string | undefined): T[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((item) => {
    const value = item.trim();
    if (!(allowed as readonly string[]).includes(value)) {
      throw new BenchUsageError(`${flag}: "${value}" is not one of ${allowed.join(', ')}`);
    }
    return value as T;
  });
}

function oneOf<T extends string>(
  flag: string,
  allowed: readonly T[],
  raw: string | undefined,
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new BenchUsageError(`${flag}: "${raw}" is not one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function numberFlag<T>(schema: z.ZodType<T>, raw: string | undefined): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BenchUsageError(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

/** Parses the benchmark's arguments (without `node` and the script); throws {@link BenchUsageError}. */
export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        payments: { type: 'string', short: 'n' },
        concurrency: { type: 'string', short: 'c' },
        rate: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'boolean' },
        pglite: { type: 'boolean' },
        'database-url': { type: 'string' },
        'pool-size': { type: 'string' },
        'wf-slots': { type: 'string' },
        'activity-slots': { type: 'string' },
        'wf-polls': { type: 'string' },
        'activity-polls': { type: 'string' },
        cache: { type: 'string' },
        bundle: { type: 'string' },
        'in-process': { type: 'boolean' },
        eager: { type: 'boolean' },
        start: { type: 'string' },
        sqlite: { type: 'string' },
        accounts: { type: 'string' },
        currencies: { type: 'string' },
        'bank-delay-ms': { type: 'string' },
        'ceiling-local': { type: 'string' },
        'ceiling-codec': { type: 'boolean' },
        skip: { type: 'string' },
        'single-n': { type: 'string' },
        'parked-n': { type: 'string' },
        'tracing-n': { type: 'string' },
        'replay-rounds': { type: 'string' },
        'worker-node-options': { type: 'string' },
        'worker-runtime': { type: 'string' },
        'payment-revision': { type: 'string' },
        'traced-bundle': { type: 'boolean' },
        cluster: { type: 'boolean' },
        out: { type: 'string' },
        label: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new BenchUsageError(err instanceof Error ? err.message : String(err));
  }

  const cluster = values.cluster ?? false;
  if (cluster) {
    // Two worker processes share the ledger and poll the same queue: neither can run inside the harness, and PGlite
    // takes one process at a time. Every other phase is left out, so there is nothing to skip.
    const refused = (['pglite', 'in-process', 'eager', 'skip'] as const).filter(
      (flag) => values[flag] !== undefined,
    );
    if (refused.length > 0) {
      throw new BenchUsageError(
        `--cluster runs two worker processes on one ledger and no other phase: not with ${refused.map((f) => `--${f}`).join(', ')}`,
      );
    }
  }
  const payments = numberFlag(
    positiveInt('--payments').default(cluster ? DEFAULT_CLUSTER_PAYMENTS : DEFAULT_PAYMENTS),
    values.payments,
  );
  const concurrency = numberFlag(positiveInt('--concurrency').default(50), values.concurrency);
  const rate = numberFlag(
    z.coerce.number({ error: '--rate must be a number' }).positive('--rate must be above 0').optional(),
    values.rate,
  );
  const warmup = numberFlag(
    z.coerce.number().int('--warmup must be a whole number').min(0, '--warmup cannot be negative').optional(),
    values.warmup,
  );
  const wfSlots = numberFlag(optionalPositiveInt('--wf-slots'), values['wf-slots']);
  const wfPolls = numberFlag(optionalPositiveInt('--wf-polls'), values['wf-polls']);
  // The SDK refuses fewer than two of either (sticky and normal queues each need a poller).
  if (wfSlots !== undefined && wfSlots < 2) throw new BenchUsageError('--wf-slots must be at least 2');
  if (wfPolls !== undefined && wfPolls < 2) throw new BenchUsageError('--wf-polls must be at least 2');
  if (wfPolls !== undefined && wfPolls > (wfSlots ?? 40)) {
    throw new BenchUsageError('--wf-polls cannot exceed --wf-slots (default 40)');
  }
  const cache = numberFlag(optionalPositiveInt('--cache'), values.cache);
  // As WORKER_MAX_CACHED_WORKFLOWS: below two the SDK drops the local activities a workflow task waits for.
  if (cache !== undefined && cache < 2) throw new BenchUsageError('--cache must be at least 2');
  const currencies = (values.currencies ?? 'EUR').split(',').map((c) => c.trim().toUpperCase());
  for (const currency of currencies) {
    if (!isCurrency(currency)) throw new BenchUsageError(`--currencies: unknown currency "${currency}"`);
  }
  const accounts = numberFlag(positiveInt('--accounts').default(200), values.accounts);
  if (accounts < currencies.length) {
    throw new BenchUsageError('--accounts must be at least the number of currencies');
  }
  const tracingPayments = numberFlag(positiveInt('--tracing-n').default(200), values['tracing-n']);
  const eager = values.eager ?? false;
  if (values['worker-runtime'] === 'compiled' && (eager || values['in-process'] === true)) {
    throw new BenchUsageError(
      '--worker-runtime compiled needs the worker in a process of its own (no --in-process, --eager)',
    );
  }

  return {
    payments,
    concurrency,
    rate,
    warmup: warmup ?? Math.min(50, Math.ceil(payments / 10)),
    json: values.json ?? false,
    pglite: values.pglite ?? false,
    databaseUrl:
      values['database-url'] ??
      env.TEST_DATABASE_URL ??
      env.DATABASE_URL ??
      'postgres://root@127.0.0.1:5432/test',
    poolSize: numberFlag(optionalPositiveInt('--pool-size'), values['pool-size']),
    workflowSlots: wfSlots,
    activitySlots: numberFlag(optionalPositiveInt('--activity-slots'), values['activity-slots']),
    workflowPolls: wfPolls,
    activityPolls: numberFlag(optionalPositiveInt('--activity-polls'), values['activity-polls']),
    cache,
    bundle: oneOf('--bundle', ['prebuilt', 'worker'] as const, values.bundle, 'prebuilt'),
    inProcess: eager || (values['in-process'] ?? false),
    eager,
    start: oneOf('--start', ['once', 'direct'] as const, values.start, 'once'),
    sqlite: oneOf('--sqlite', ['default', 'wal'] as const, values.sqlite, 'wal'),
    accounts,
    currencies,
    bankDelayMs: numberFlag(
      z.coerce.number().int().min(0, '--bank-delay-ms cannot be negative').default(0),
      values['bank-delay-ms'],
    ),
    ceilingLocalSteps: listOf('--ceiling-local', CEILING_STEPS, values['ceiling-local']),
    ceilingCodec: values['ceiling-codec'] ?? false,
    skip: listOf('--skip', BENCH_PHASES, values.skip),
    singlePayments: numberFlag(positiveInt('--single-n').default(60), values['single-n']),
    parkedPayments: numberFlag(positiveInt('--parked-n').default(1000), values['parked-n']),
    tracingPayments,
    tracingWarmup: warmup ?? Math.min(50, Math.ceil(tracingPayments / 10)),
    workerNodeOptions: (values['worker-node-options'] ?? '').split(' ').filter((flag) => flag !== ''),
    workerRuntime: oneOf('--worker-runtime', ['tsx', 'compiled'] as const, values['worker-runtime'], 'tsx'),
    paymentRevision: oneOf(
      '--payment-revision',
      ['current', 'before-lean'] as const,
      values['payment-revision'],
      'current',
    ),
    tracedBundle: values['traced-bundle'] ?? false,
    cluster,
    replayRounds: numberFlag(positiveInt('--replay-rounds').default(5), values['replay-rounds']),
    out: values.out ?? 'bench/results',
    label: values.label,
    help: values.help ?? false,
  };
}
