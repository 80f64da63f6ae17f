/**
 * The tuning experiments behind bench/README.md's table: each setting measured before and after, back to back and
 * alternating (A B B A ...) with the same N, so load from other work on the machine falls on both sides alike.
 * Every run is a full `bench.ts --json` in a fresh process; the load average is recorded with each.
 *
 *   npx tsx bench/tune.ts [--payments N] [--rounds R] [--only name,name] [--concurrency C]
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadAverage } from './proc';

/** One before/after pair: the flags each side adds to the common ones. */
interface Experiment {
  name: string;
  question: string;
  /** Flags both sides share (e.g. which phases run). */
  common: string[];
  before: { label: string; args: string[] };
  after: { label: string; args: string[] };
}

// The tracing section is a comparison of its own (off, on, on, off): no experiment here runs it.
const NOT_THROUGHPUT = 'single,at-70,parked,tracing,replay';
const PAYMENTS_ONLY = ['--skip', `ceiling,same-commands,${NOT_THROUGHPUT}`];
const CEILING_ONLY = ['--skip', `payments,same-commands,${NOT_THROUGHPUT}`];
const BOTH = ['--skip', `same-commands,${NOT_THROUGHPUT}`];
const IN_FLIGHT_ONLY = ['--skip', 'ceiling,same-commands,payments,single,at-70,tracing,replay'];
const SINGLE_ONLY = ['--skip', 'ceiling,same-commands,payments,at-70,parked,tracing,replay'];

/** The experiments, in the order the README lists them. */
const EXPERIMENTS: Experiment[] = [
  {
    name: 'lean',
    question:
      'the lean steps: every step a regular activity and an upsert per change (the revision before) against ' +
      'local activities for the short steps and one upsert per state change',
    common: PAYMENTS_ONLY,
    before: { label: 'before-lean', args: ['--payment-revision', 'before-lean'] },
    after: { label: 'lean', args: [] },
  },
  {
    name: 'lean-single',
    question: 'the lean steps, one payment at a time',
    common: SINGLE_ONLY,
    before: { label: 'before-lean', args: ['--payment-revision', 'before-lean'] },
    after: { label: 'lean', args: [] },
  },
  {
    name: 'untraced',
    question:
      'a worker that exports no spans: the bundle with the tracing interceptors (as before) against the one without',
    common: PAYMENTS_ONLY,
    before: { label: 'traced bundle', args: ['--traced-bundle'] },
    after: { label: 'untraced bundle', args: [] },
  },
  {
    name: 'sqlite',
    question:
      'dev server SQLite: its defaults (a synced rollback journal) against WAL with synchronous=NORMAL',
    common: BOTH,
    before: { label: 'default', args: ['--sqlite', 'default'] },
    after: { label: 'wal', args: ['--sqlite', 'wal'] },
  },
  {
    name: 'slots',
    question: 'worker slots and pollers: SDK defaults against 100 workflow slots, 20+20 pollers',
    common: PAYMENTS_ONLY,
    before: { label: 'sdk defaults', args: [] },
    after: {
      label: 'wf 100 / polls 20',
      args: ['--wf-slots', '100', '--wf-polls', '20', '--activity-polls', '20'],
    },
  },
  {
    name: 'cache',
    question: 'sticky cache: 10 cached workflows against the SDK default',
    common: PAYMENTS_ONLY,
    before: { label: 'cache 10', args: ['--cache', '10'] },
    after: { label: 'sdk default', args: [] },
  },
  {
    name: 'bundle',
    question: 'workflow code bundled by the worker at start-up against a bundle built beforehand',
    common: PAYMENTS_ONLY,
    before: { label: 'bundled at start', args: ['--bundle', 'worker'] },
    after: { label: 'prebuilt', args: ['--bundle', 'prebuilt'] },
  },
  {
    name: 'pool',
    question: 'ledger connection pool: 10 (default) against 25',
    common: PAYMENTS_ONLY,
    before: { label: 'pool 10', args: ['--pool-size', '10'] },
    after: { label: 'pool 25', args: ['--pool-size', '25'] },
  },
  {
    name: 'eager',
    question: 'eager workflow start, client and worker sharing one connection in one process',
    common: [...PAYMENTS_ONLY, '--in-process'],
    before: { label: 'in-process', args: [] },
    after: { label: 'in-process + eager', args: ['--eager'] },
  },
  {
    name: 'start',
    question: "the client's start (start, then describe) against one start call",
    common: PAYMENTS_ONLY,
    before: { label: 'start + describe', args: ['--start', 'once'] },
    after: { label: 'start only', args: ['--start', 'direct'] },
  },
  {
    name: 'local',
    question: 'engine side of local activities: ceiling with screen and contact as local activities',
    common: CEILING_ONLY,
    before: { label: 'all regular', args: [] },
    after: { label: 'screen+contact local', args: ['--ceiling-local', 'screen,contact'] },
  },
  {
    name: 'clearing',
    question: 'the clearing:<CUR> row lock: every payment in EUR against payments spread over 4 currencies',
    common: PAYMENTS_ONLY,
    before: { label: '1 currency', args: ['--currencies', 'EUR'] },
    after: { label: '4 currencies', args: ['--currencies', 'EUR,USD,GBP,CHF'] },
  },
  {
    name: 'codec',
    question: "cost of payload encryption on the engine's shape: ceiling without and with baton's codec",
    common: CEILING_ONLY,
    before: { label: 'plain', args: [] },
    after: { label: 'encrypted', args: ['--ceiling-codec'] },
  },
  {
    name: 'memory-cache',
    question:
      'worker memory with every payment in flight: the SDK default cache against 100 cached workflows',
    common: IN_FLIGHT_ONLY,
    before: { label: 'sdk default cache', args: [] },
    after: { label: 'cache 100', args: ['--cache', '100'] },
  },
  {
    name: 'memory-heap',
    question:
      'worker memory with every payment in flight: default V8 young generation against a 2 MiB semi-space',
    common: IN_FLIGHT_ONLY,
    before: { label: 'default', args: [] },
    after: { label: 'semi-space 2 MiB', args: ['--worker-node-options=--max-semi-space-size=2'] },
  },
  {
    name: 'runtime',
    question:
      'worker memory with every payment in flight: the sources under tsx against the compiled release (npm run build)',
    common: IN_FLIGHT_ONLY,
    before: { label: 'tsx', args: [] },
    after: { label: 'compiled', args: ['--worker-runtime', 'compiled'] },
  },
];

const phaseSchema = z.object({
  name: z.string(),
  throughputPerSec: z.number(),
  latencyMs: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
  failed: z.number(),
  worker: z.object({
    cores: z.number(),
    cpuMsPerRun: z.number(),
    peakRssMiB: z.number(),
    startupMs: z.number(),
  }),
  server: z.object({ cores: z.number(), cpuMsPerRun: z.number() }),
});
const reportSchema = z.object({ phases: z.array(phaseSchema) });

interface Measured {
  experiment: string;
  side: 'before' | 'after';
  label: string;
  round: number;
  loadBefore: number;
  loadAfter: number;
  phases: z.infer<typeof phaseSchema>[];
}

function runBench(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bench.ts'), ...args], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0)
        return reject(new Error(`bench ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function row(experiment: Experiment, side: 'before' | 'after', runs: Measured[]): string[] {
  const label = experiment[side].label;
  const mine = runs.filter((r) => r.side === side);
  const phaseNames = [...new Set(mine.flatMap((r) => r.phases.map((p) => p.name)))];
  return phaseNames.map((phaseName) => {
    const phases = mine.flatMap((r) => r.phases.filter((p) => p.name === phaseName));
    const m = (f: (p: (typeof phases)[number]) => number | null) =>
      Math.round(median(phases.map((p) => f(p) ?? NaN)) * 10) / 10;
    const loads = mine.map((r) => `${r.loadBefore.toFixed(1)}→${r.loadAfter.toFixed(1)}`).join(', ');
    return (
      `| ${experiment.name} | ${side}: ${label} | ${phaseName} | ${m((p) => p.throughputPerSec)} | ` +
      `${m((p) => p.latencyMs.p50)} | ${m((p) => p.latencyMs.p99)} | ${m((p) => p.worker.peakRssMiB)} | ` +
      `${m((p) => p.worker.cpuMsPerRun)} | ${m((p) => p.server.cpuMsPerRun)} | ${m((p) => p.worker.startupMs)} | ` +
      `${phases.reduce((n, p) => n + p.failed, 0)} | ${phases.map((p) => p.throughputPerSec).join(' / ')} | ${loads} |`
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      payments: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '25' },
      rounds: { type: 'string', default: '2' },
      only: { type: 'string' },
      extra: { type: 'string', default: '' },
    },
  });
  const only = values.only?.split(',');
  const rounds = Number(values.rounds);
  const base = [
    '--json',
    '-n',
    values.payments,
    '-c',
    values.concurrency,
    '--parked-n',
    values.payments,
    ...values.extra.split(' ').filter(Boolean),
  ];
  const outDir = path.join(__dirname, 'results');
  await mkdir(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const tableFile = path.join(outDir, `tuning-${stamp}.md`);
  const rawFile = path.join(outDir, `tuning-${stamp}.jsonl`);
  await appendFile(
    tableFile,
    `N=${values.payments}, concurrency ${values.concurrency}, ${rounds} rounds per side, alternating; medians.\n\n` +
      '| experiment | side | phase | throughput/s | p50 ms | p99 ms | worker peak RSS MiB | worker CPU ms/run | ' +
      'server CPU ms/run | worker start ms | failed | each run /s | load avg (before→after each run) |\n' +
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n',
  );

  for (const experiment of EXPERIMENTS) {
    if (only && !only.includes(experiment.name)) continue;
    process.stderr.write(`${experiment.name}: ${experiment.question}\n`);
    const runs: Measured[] = [];
    for (let round = 0; round < rounds; round++) {
      // A B, then B A: whichever side goes first alternates, so a drift in load does not favour one side.
      const order: ('before' | 'after')[] = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
      for (const side of order) {
        const loadBefore = loadAverage()[0];
        const report = reportSchema.parse(
          await runBench([
            ...base,
            ...experiment.common,
            ...experiment[side].args,
            '--label',
            `${experiment.name}-${side}`,
          ]),
        );
        const measured: Measured = {
          experiment: experiment.name,
          side,
          label: experiment[side].label,
          round,
          loadBefore,
          loadAfter: loadAverage()[0],
          phases: report.phases,
        };
        runs.push(measured);
        await appendFile(rawFile, `${JSON.stringify(measured)}\n`);
        process.stderr.write(
          `  ${side} (${experiment[side].label}): ` +
            measured.phases
              .map((p) => `${p.name} ${p.throughputPerSec}/s p50 ${p.latencyMs.p50}`)
              .join(', ') +
            ` load ${loadBefore}→${measured.loadAfter}\n`,
        );
      }
    }
    const lines = [...row(experiment, 'before', runs), ...row(experiment, 'after', runs)];
    await appendFile(tableFile, `${lines.join('\n')}\n`);
  }
  process.stderr.write(`table: ${tableFile}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
