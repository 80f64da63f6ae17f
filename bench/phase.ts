/**
 * One measured phase of the benchmark: start the worker under test (its own process, or inside the harness; or
 * several processes on one task queue), warm it up, drive the measured runs while sampling its memory, read the CPU
 * the workers and the Temporal server used, stop the workers, and summarise what the client saw.
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
  /**
   * Further worker processes polling the same task queue beside `worker` (scaling out), each a process of its own
   * whatever `inProcess` says; the phase's worker CPU is summed over all of them.
   */
  moreWorkers?: readonly WorkerHostConfig[];
  /** The client the harness starts runs with, unless the worker runs here (its client is used then). */
  client: Client;
  launch: Launcher;
  total: number;
  warmup: number;
  concurrency: number;
  ratePerSec?: number;
  /** The Temporal server's pid, to read its CPU time. */
  serverPid: number;
  /** The pid of the PostgreSQL server under a Temporal cluster, read with its backends (absent on the dev server). */
  serverDatabasePid?: number;
  quiet: boolean;
}

/** A memory sample of the worker while a phase ran. */
export interface MemorySample {
  t: number;
  /** Summed over the worker processes. */
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
    /** Worker processes on the task queue (1 unless the phase scales out). */
    processes: number;
    startupMs: number;
    /** Summed over the worker processes, as is `cores`. */
    cpuSeconds: number;
    cores: number;
    /** CPU milliseconds per measured run: steadier than throughput when the machine is shared. */
    cpuMsPerRun: number;
    /** The largest of the worker processes' peaks. */
    peakRssMiB: number;
    /** Each process alone, when there are several. */
    each?: { startupMs: number; cpuSeconds: number; cpuMsPerRun: number; peakRssMiB: number }[];
    /** What the peak covers: a worker process's whole life, or the harness's (with the worker in it). */
    peakCovers:
      'worker process lifetime' | 'harness process, measured runs only' | 'harness process lifetime';
  };
  server: { cpuSeconds: number; cores: number; cpuMsPerRun: number };
  /** The PostgreSQL under a Temporal cluster, with its backends. */
  serverDatabase?: { cpuSeconds: number; cores: number; cpuMsPerRun: number };
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

/** Starts the phase's workers, one after the other; those started are stopped if a later one fails. */
async function startWorkers(spec: PhaseSpec): Promise<RunningWorker[]> {
  const workers: RunningWorker[] = [];
  try {
    workers.push(
      spec.inProcess
        ? await inProcessWorker(spec.worker)
        : await forkWorker(spec.worker, spec.compiledWorker),
    );
    for (const config of spec.moreWorkers ?? []) workers.push(await forkWorker(config, spec.compiledWorker));
    return workers;
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    throw err;
  }
}

/** Runs one phase and returns what it measured; the workers are stopped whatever happens. */
export async function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  const loadBefore = loadAverage();
  const workers = await startWorkers(spec);
  const [worker] = workers;
  if (worker === undefined) throw new Error('a phase needs a worker');
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
    const workerCpu = workers.map((w) => new CpuMeter(w.pid));
    const serverCpu = new CpuMeter(spec.serverPid);
    const databaseCpu =
      spec.serverDatabasePid === undefined ? undefined : new CpuMeter(spec.serverDatabasePid, { tree: true });
    const counters: DriveCounters = newCounters();
    const began = Date.now();
    const samples: MemorySample[] = [];
    const sampler = setInterval(() => {
      samples.push({
        t: (Date.now() - began) / 1000,
        rssMiB: Math.round(workers.reduce((sum, w) => sum + memoryMiB(w.pid).rss, 0) * 10) / 10,
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
    const workerUses = workerCpu.map((meter) => meter.read());
    const workerUse = {
      cpuSeconds: Math.round(workerUses.reduce((sum, u) => sum + u.cpuSeconds, 0) * 100) / 100,
      cores: Math.round(workerUses.reduce((sum, u) => sum + u.cores, 0) * 1000) / 1000,
    };
    const serverUse = serverCpu.read();
    const databaseUse = databaseCpu?.read();
    const peaks = workers.map((w) => Math.round(memoryMiB(w.pid).peak * 10) / 10);
    const peakRssMiB = Math.max(...peaks);
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
    const stops = await Promise.all(workers.map((w) => w.stop()));
    stopped = {
      // Every worker checks the same ledger once the runs are done; the first one's check stands for all.
      ledger: stops[0]?.ledger,
      signalFailures: stops.reduce((sum, s) => sum + s.signalFailures, 0),
    };

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
        processes: workers.length,
        startupMs: worker.startupMs,
        cpuSeconds: workerUse.cpuSeconds,
        cores: workerUse.cores,
        cpuMsPerRun: perRun(workerUse.cpuSeconds, records.length),
        peakRssMiB,
        peakCovers,
        ...(workers.length === 1
          ? {}
          : {
              each: workers.map((w, i) => ({
                startupMs: w.startupMs,
                cpuSeconds: workerUses[i]?.cpuSeconds ?? 0,
                cpuMsPerRun: perRun(workerUses[i]?.cpuSeconds ?? 0, records.length),
                peakRssMiB: peaks[i] ?? 0,
              })),
            }),
      },
      server: {
        cpuSeconds: serverUse.cpuSeconds,
        cores: serverUse.cores,
        cpuMsPerRun: perRun(serverUse.cpuSeconds, records.length),
      },
      ...(databaseUse === undefined
        ? {}
        : {
            serverDatabase: {
              cpuSeconds: databaseUse.cpuSeconds,
              cores: databaseUse.cores,
              cpuMsPerRun: perRun(databaseUse.cpuSeconds, records.length),
            },
          }),
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
    if (stopped === undefined) await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
  }
}
