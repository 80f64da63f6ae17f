/**
 * Payments on a Temporal cluster (`temporal-server` with every service in one process, on a PostgreSQL of its own)
 * with one worker process on the task queue and with two, in the order 1 2 2 1, each side pooled over its two phases:
 * how baton scales out when one worker is not enough. Everything runs on this one machine, so the figures show the
 * shape of scaling out (what a second worker adds, what each payment costs), not what separate machines would reach.
 */
import os from 'node:os';
import { Client as PgClient } from 'pg';
import { startEphemeralCluster } from '../local/ephemeral-cluster';
import { TEMPORAL_SERVER_VERSION } from '../local/temporal-server-tools';
import type { PhaseResult } from './phase';
import { loadAverage, parentPid } from './proc';
import { poolPhases, ratio } from './stats';
import type { PooledPhases } from './stats';

/** How many worker processes poll the task queue in one phase. */
export type WorkerCount = 1 | 2;

/** 1 2 2 1: a drift in the machine's load falls on both sides alike. */
export const CLUSTER_ORDER: readonly WorkerCount[] = [1, 2, 2, 1];

/** The cluster the benchmark runs on, and the two processes whose CPU it reads. */
export interface BenchCluster {
  /** `host:port` of the frontend. */
  address: string;
  namespace: string;
  serverPid: number;
  /** The PostgreSQL server under it (its backends are its children). */
  databasePid: number;
  serverBinary: string;
  stop(): Promise<void>;
}

/** The PostgreSQL server's pid, as the parent of the backend serving this connection. */
async function postmasterPid(postgres: { host: string; port: number; user: string }): Promise<number> {
  const pg = new PgClient({
    host: postgres.host,
    port: postgres.port,
    user: postgres.user,
    database: 'postgres',
  });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const backend = rows[0]?.pid;
    if (backend === undefined) throw new Error('PostgreSQL did not say which backend serves the connection');
    return parentPid(backend);
  } finally {
    await pg.end();
  }
}

/** Starts a throwaway cluster through the shipped files (deploy/temporal/) on free ports. */
export async function startBenchCluster(): Promise<BenchCluster> {
  const cluster = await startEphemeralCluster();
  try {
    return {
      address: cluster.server.address,
      namespace: cluster.server.namespace,
      serverPid: cluster.server.pid(),
      databasePid: await postmasterPid(cluster.postgres),
      serverBinary: cluster.tools.server.path,
      stop: () => cluster.stop(),
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** What the figures of a run on one machine can and cannot say; printed with them and kept in the report. */
export function shapeNote(cpus: number): string {
  return (
    `on ${cpus} cores these figures are for shape, not absolute speed: the two workers share the same ${cpus} ` +
    `cores with the Temporal server and its PostgreSQL (and the ledger's PostgreSQL, the bank simulator and the ` +
    `harness), where a deployment gives each worker cores of its own`
  );
}

/** One side pooled over its two phases. */
export interface ClusterSide extends PooledPhases {
  workers: WorkerCount;
  /** The cluster's PostgreSQL with its backends, per measured payment. */
  server_database_cpu_ms_per_payment: number;
  /** The 1-minute load average, lowest and highest read before and after the side's phases. */
  load_average_1m: { min: number; max: number };
}

/** The cluster section of the report. */
export interface ClusterComparison {
  server: string;
  meaning: Record<'one_worker' | 'two_workers', string>;
  note: string;
  order: readonly WorkerCount[];
  payments: number;
  warmup: number;
  arrival: { concurrency: number } | { ratePerSec: number };
  phases: {
    name: string;
    workers: WorkerCount;
    throughput_per_s: number;
    latency_ms: { p50: number; p95: number; p99: number };
    worker_cpu_ms_per_payment: number;
    /** Each worker process's share, when there are two. */
    worker_cpu_ms_per_payment_each: number[];
    server_cpu_ms_per_payment: number;
    server_database_cpu_ms_per_payment: number;
    failed: number;
    load_average_before: [number, number, number];
    load_average_after: [number, number, number];
  }[];
  one_worker: ClusterSide;
  two_workers: ClusterSide;
  /** Pooled throughput with two workers ÷ with one. */
  throughput_ratio: number | null;
}

/** Runs one phase with this many worker processes on a task queue of its own. */
export type ClusterPhaseRunner = (phase: { workers: WorkerCount; round: number }) => Promise<PhaseResult>;

const round1 = (value: number) => Math.round(value * 10) / 10;

function databaseCpuMsPerPayment(results: readonly PhaseResult[]): number {
  const runs = results.reduce((n, r) => n + r.runs, 0);
  const seconds = results.reduce((s, r) => s + (r.serverDatabase?.cpuSeconds ?? 0), 0);
  return runs === 0 ? 0 : round1((seconds * 1000) / runs);
}

function side(workers: WorkerCount, results: readonly PhaseResult[]): ClusterSide {
  const loads = results.flatMap((r) => [r.loadAverageBefore[0], r.loadAverageAfter[0]]);
  return {
    workers,
    ...poolPhases(results),
    server_database_cpu_ms_per_payment: databaseCpuMsPerPayment(results),
    load_average_1m: { min: Math.min(...loads), max: Math.max(...loads) },
  };
}

/** Runs the four phases in {@link CLUSTER_ORDER} and compares the sides; every phase's full result comes back too. */
export async function compareWorkerCounts(spec: {
  serverBinary: string;
  payments: number;
  warmup: number;
  arrival: { concurrency: number } | { ratePerSec: number };
  run: ClusterPhaseRunner;
  say: (line: string) => void;
}): Promise<{ comparison: ClusterComparison; results: PhaseResult[] }> {
  const cpus = os.cpus().length;
  const note = shapeNote(cpus);
  spec.say(`cluster: ${note}`);
  const rounds: Record<WorkerCount, number> = { 1: 0, 2: 0 };
  const results: { workers: WorkerCount; result: PhaseResult }[] = [];
  for (const workers of CLUSTER_ORDER) {
    rounds[workers] += 1;
    spec.say(
      `cluster, ${workers === 1 ? 'one worker' : 'two workers'} (${rounds[workers]} of 2): ${spec.payments} ` +
        `payments, load average ${loadAverage().join(' ')}`,
    );
    results.push({ workers, result: await spec.run({ workers, round: rounds[workers] }) });
  }
  const of = (workers: WorkerCount) => results.filter((r) => r.workers === workers).map((r) => r.result);
  const one = side(1, of(1));
  const two = side(2, of(2));
  return {
    comparison: {
      server:
        `temporal-server ${TEMPORAL_SERVER_VERSION} (${spec.serverBinary}), every service in one process, ` +
        'PostgreSQL persistence and SQL visibility, deploy/temporal/config/baton.yaml',
      meaning: {
        one_worker: 'one worker process on the task queue, as in every other phase of the benchmark',
        two_workers:
          "two worker processes on the same task queue; the bank's webhooks go to their receivers in turn, as a " +
          'load balancer in front of them would send them (so do the one-worker phases, to their one receiver)',
      },
      note,
      order: CLUSTER_ORDER,
      payments: spec.payments,
      warmup: spec.warmup,
      arrival: spec.arrival,
      phases: results.map(({ workers, result }) => ({
        name: result.name,
        workers,
        throughput_per_s: result.throughputPerSec,
        latency_ms: { p50: result.latencyMs.p50, p95: result.latencyMs.p95, p99: result.latencyMs.p99 },
        worker_cpu_ms_per_payment: result.worker.cpuMsPerRun,
        worker_cpu_ms_per_payment_each: result.worker.each?.map((w) => w.cpuMsPerRun) ?? [
          result.worker.cpuMsPerRun,
        ],
        server_cpu_ms_per_payment: result.server.cpuMsPerRun,
        server_database_cpu_ms_per_payment: result.serverDatabase?.cpuMsPerRun ?? 0,
        failed: result.failed,
        load_average_before: result.loadAverageBefore,
        load_average_after: result.loadAverageAfter,
      })),
      one_worker: one,
      two_workers: two,
      throughput_ratio: ratio(two.throughput_per_s, one.throughput_per_s),
    },
    results: results.map((r) => r.result),
  };
}
