/**
 * One measured phase of the benchmark: start the worker under test (its own process, or inside the harness),
 * warm it up, drive the measured runs while sampling its memory, read the CPU the worker and the Temporal server
 * used, stop the worker, and summarise what the client saw.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { drive, newCounters } from './driver';
import { breakdown } from './history-breakdown';
import type { DriveCounters, Launched, RunRecord } from './driver';
import { ProgressBar } from './progress';
import { CpuMeter, loadAverage, memoryMiB, resetPeakRss } from './proc';
import { overallThroughput, stepDurations, summarize, throughputSeries } from './stats';
import type { LatencySummary, Moment, RatePoint } from './stats';
import { startWorkerHost } from './worker-host';
import type { LedgerCheck, WorkerHostConfig } from './worker-host';
import type { WorkerProcessMessage } from './worker-process';

const PROJECT_ROOT = path.resolve(__dirname, '..');
const WORKER_PROCESS = path.join(__dirname, 'worker-process.ts');
const WORKER_STOP_TIMEOUT_MS = 120_000;
const SAMPLE_EVERY_MS = 500;
/** Runs per phase whose histories are read for the hop-by-hop breakdown. */
const HISTORY_SAMPLE = 20;

/** A worker under test, wherever it runs. */
interface RunningWorker {
  pid: number;
  inProcess: boolean;
  startupMs: number;
  /** A client in the worker's process (for eager start), when it runs in this one. */
  client?: Client;
  stop(): Promise<{ ledger: LedgerCheck | undefined; signalFailures: number }>;
}

async function forkWorker(
  config: WorkerHostConfig,
  compiledEntry: string | undefined,
): Promise<RunningWorker> {
  // Node itself (with tsx as a loader for the sources), so the pid measured is the worker's and not a launcher's.
  const child = fork(compiledEntry ?? WORKER_PROCESS, [], {
    cwd: PROJECT_ROOT,
    execArgv: compiledEntry === undefined ? ['--import', 'tsx', ...config.nodeOptions] : config.nodeOptions,
    env: { ...process.env, BENCH_WORKER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Whatever the worker prints goes to stderr, so stdout stays the JSON report's.
  child.stdout?.pipe(process.stderr);
  child.stderr?.pipe(process.stderr);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const message = (type: WorkerProcessMessage['type'][]) =>
    new Promise<WorkerProcessMessage>((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const m = raw as WorkerProcessMessage;
        if (type.includes(m.type)) {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
      void exited.then(() => reject(new Error(`the ${config.mode} worker process exited early`)));
    });

  const first = await message(['ready', 'failed']);
  if (first.type !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(
      `the ${config.mode} worker did not start: ${first.type === 'failed' ? first.message : ''}`,
    );
  }
  return {
    pid: child.pid ?? -1,
    inProcess: false,
    startupMs: first.startupMs,
    async stop() {
      const stopped = message(['stopped']);
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_STOP_TIMEOUT_MS);
      try {
        const m = await stopped;
        await exited;
        return m.type === 'stopped'
          ? { ledger: m.ledger, signalFailures: m.signalFailures }
          : { ledger: undefined, signalFailures: 0 };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function inProcessWorker(config: WorkerHostConfig): Promise<RunningWorker> {
  // Tracing installs a process-wide provider and must be loaded first: the harness is neither a worker nor first.
  if (config.tracing !== undefined) throw new Error('a traced worker runs in a process of its own');
  const host = await startWorkerHost(config);
  return {
    pid: process.pid,
    inProcess: true,
    startupMs: host.startupMs,
    client: host.client,
    async stop() {
      const ledger = await host.stop();
      return { ledger, signalFailures: host.signalFailures() };
    },
  };
}

/** How a phase starts one run: given the client to start it with and its index. */
export type Launcher = (client: Client, index: number, warmup: boolean) => Promise<Launched>;

/** What one phase is. */
export interface PhaseSpec {
  name: string;
  worker: WorkerHostConfig;
  inProcess: boolean;
  /** A release's compiled `bench/worker-process.js` to fork instead of the sources under tsx. */
  compiledWorker?: string;
  /** The client the harness starts runs with, unless the worker runs here (its client is used then). */
  client: Client;
  launch: Launcher;
  total: number;
  warmup: number;
  concurrency: number;
  ratePerSec?: number;
  /** The Temporal dev server's pid, to read its CPU time. */
  serverPid: number;
  quiet: boolean;
}

/** A memory sample of the worker while a phase ran. */
export interface MemorySample {
  t: number;
  rssMiB: number;
  inFlight: number;
}

/** Everything one phase measured. */
export interface PhaseResult {
  name: string;
  runs: number;
  completed: number;
  failed: number;
  /** The first few distinct errors, for the reader. */
  errors: string[];
  arrival: { concurrency: number } | { ratePerSec: number };
  wallSeconds: number;
  throughputPerSec: number;
  /** Client's start call → the workflow recorded `settled`. */
  latencyMs: LatencySummary;
  /** Client's start call → the client saw the result (the run closed). */
  closedLatencyMs: LatencySummary;
  startCallMs: LatencySummary;
  /** Between consecutive moments: start, each recorded step, closed. */
  stepsMs: Record<string, Pick<LatencySummary, 'p50' | 'p95' | 'p99'>>;
  /** From the event histories of a sample of runs: each hop's wait for a worker and run time. */
  historyMs: ReturnType<typeof breakdown>;
  eagerlyStarted: number;
  peakInFlight: number;
  worker: {
    inProcess: boolean;
    startupMs: number;
    cpuSeconds: number;
    cores: number;
    /** CPU milliseconds per measured run: steadier than throughput when the machine is shared. */
    cpuMsPerRun: number;
    peakRssMiB: number;
    /** What the peak covers: a worker process's whole life, or the harness's (with the worker in it). */
    peakCovers:
      'worker process lifetime' | 'harness process, measured runs only' | 'harness process lifetime';
  };
  server: { cpuSeconds: number; cores: number; cpuMsPerRun: number };
  loadAverageBefore: [number, number, number];
  loadAverageAfter: [number, number, number];
  ledger?: LedgerCheck;
  signalFailures: number;
  throughputSeries: RatePoint[];
  memorySamples: MemorySample[];
  /** Raw latencies for the chart (not printed). */
  latenciesMs: number[];
}

/** Up to `count` items spread evenly over the list. */
function sample<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]).filter(
    (item): item is T => item !== undefined,
  );
}

function perRun(cpuSeconds: number, runs: number): number {
  return runs === 0 ? 0 : Math.round((cpuSeconds * 1000 * 10) / runs) / 10;
}

function moments(record: RunRecord): Moment[] {
  const list: Moment[] = [{ name: 'start', at: record.startedAt }, ...record.steps];
  if (record.closedAt !== undefined) list.push({ name: 'closed', at: record.closedAt });
  return list;
}

/** Runs one phase and returns what it measured; the worker is stopped whatever happens. */
export async function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  const loadBefore = loadAverage();
  const worker = spec.inProcess
    ? await inProcessWorker(spec.worker)
    : await forkWorker(spec.worker, spec.compiledWorker);
  let stopped: { ledger: LedgerCheck | undefined; signalFailures: number } | undefined;
  try {
    const client = worker.client ?? spec.client;
    const bar = spec.quiet ? undefined : new ProgressBar(spec.name);
    const arrival = spec.ratePerSec === undefined ? {} : { ratePerSec: spec.ratePerSec };

    if (spec.warmup > 0) {
      await drive({
        total: spec.warmup,
        concurrency: Math.min(spec.concurrency, spec.warmup),
        launch: (index) => spec.launch(client, index, true),
      });
    }

    // A worker process of its own is fresh, so its peak (start-up included) is the phase's; in the harness the
    // mark is reset once warmed up, where Linux allows it.
    const peakCovers: PhaseResult['worker']['peakCovers'] = !worker.inProcess
      ? 'worker process lifetime'
      : resetPeakRss(worker.pid)
        ? 'harness process, measured runs only'
        : 'harness process lifetime';
    const workerCpu = new CpuMeter(worker.pid);
    const serverCpu = new CpuMeter(spec.serverPid);
    const counters: DriveCounters = newCounters();
    const began = Date.now();
    const samples: MemorySample[] = [];
    const sampler = setInterval(() => {
      samples.push({
        t: (Date.now() - began) / 1000,
        rssMiB: Math.round(memoryMiB(worker.pid).rss * 10) / 10,
        inFlight: counters.inFlight,
      });
      bar?.update({ ...counters, total: spec.total, elapsedMs: Date.now() - began });
    }, SAMPLE_EVERY_MS);

    let records: RunRecord[];
    try {
      records = await drive({
        total: spec.total,
        concurrency: spec.concurrency,
        ...arrival,
        launch: (index) => spec.launch(client, index, false),
        counters,
        onChange: (c) => bar?.update({ ...c, total: spec.total, elapsedMs: Date.now() - began }),
      });
    } finally {
      clearInterval(sampler);
    }
    bar?.finish({ ...counters, total: spec.total, elapsedMs: Date.now() - began });
    const wallSeconds = (Date.now() - began) / 1000;
    const workerUse = workerCpu.read();
    const serverUse = serverCpu.read();
    const peakRssMiB = Math.round(memoryMiB(worker.pid).peak * 10) / 10;
    // Histories are read while the worker (whose client may be the one in use) still runs.
    const historyMs = breakdown(
      await Promise.all(
        sample(
          records.filter((r) => r.error === undefined && r.closedAt !== undefined),
          HISTORY_SAMPLE,
        ).flatMap((r) =>
          r.workflowId === undefined ? [] : [client.workflow.getHandle(r.workflowId).fetchHistory()],
        ),
      ),
    );
    stopped = await worker.stop();

    const ok = records.filter((r) => r.error === undefined && r.closedAt !== undefined);
    const settledLatency = ok
      .map((r) => {
        const settled = r.steps.find((s) => s.name === 'settled');
        return settled === undefined ? Number.NaN : settled.at - r.startedAt;
      })
      .filter((v) => Number.isFinite(v));
    const steps = stepDurations(ok.map(moments));
    const stepsMs: PhaseResult['stepsMs'] = {};
    for (const [key, values] of steps) {
      const { p50, p95, p99 } = summarize(values);
      stepsMs[key] = { p50, p95, p99 };
    }
    const errors = [...new Set(records.flatMap((r) => (r.error === undefined ? [] : [r.error])))].slice(0, 5);

    return {
      name: spec.name,
      runs: records.length,
      completed: ok.length,
      failed: records.length - ok.length,
      errors,
      arrival:
        spec.ratePerSec === undefined ? { concurrency: spec.concurrency } : { ratePerSec: spec.ratePerSec },
      wallSeconds: Math.round(wallSeconds * 100) / 100,
      throughputPerSec:
        Math.round(
          overallThroughput(
            records.map((r) => r.startedAt),
            ok.map((r) => r.closedAt ?? Number.NaN),
          ) * 100,
        ) / 100,
      latencyMs: summarize(settledLatency),
      closedLatencyMs: summarize(ok.map((r) => (r.closedAt ?? Number.NaN) - r.startedAt)),
      startCallMs: summarize(ok.map((r) => (r.startReturnedAt ?? Number.NaN) - r.startedAt)),
      stepsMs,
      historyMs,
      eagerlyStarted: records.filter((r) => r.eagerlyStarted).length,
      peakInFlight: counters.peakInFlight,
      worker: {
        inProcess: worker.inProcess,
        startupMs: worker.startupMs,
        cpuSeconds: workerUse.cpuSeconds,
        cores: workerUse.cores,
        cpuMsPerRun: perRun(workerUse.cpuSeconds, records.length),
        peakRssMiB,
        peakCovers,
      },
      server: {
        cpuSeconds: serverUse.cpuSeconds,
        cores: serverUse.cores,
        cpuMsPerRun: perRun(serverUse.cpuSeconds, records.length),
      },
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAverage(),
      ...(stopped.ledger === undefined ? {} : { ledger: stopped.ledger }),
      signalFailures: stopped.signalFailures,
      throughputSeries: throughputSeries(
        ok.map((r) => r.closedAt ?? began),
        began,
        Math.max(1000, Math.ceil((wallSeconds * 1000) / 60 / 1000) * 1000),
      ),
      memorySamples: samples,
      latenciesMs: settledLatency,
    };
  } finally {
    if (stopped === undefined) await worker.stop().catch(() => undefined);
  }
}
