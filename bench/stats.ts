/**
 * The arithmetic of the benchmark report: percentiles, latency summaries, per-step durations and throughput over
 * time. Pure functions over plain numbers, so they are unit-tested without any server.
 */

/** Percentiles and extremes of a set of durations, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * The `p`-th percentile (0..100) of ascending `sorted` values, interpolating linearly between the two nearest
 * ranks (the definition spreadsheets and numpy use by default). NaN for an empty list.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0] ?? Number.NaN;
  if (p >= 100) return sorted[sorted.length - 1] ?? Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower] ?? Number.NaN;
  const high = sorted[upper] ?? Number.NaN;
  return low + (high - low) * (rank - lower);
}

/** Summarises durations (any order); every figure is rounded to 0.1 ms. */
export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  const sum = sorted.reduce((total, v) => total + v, 0);
  return {
    count: sorted.length,
    min: round(sorted[0] ?? Number.NaN),
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(sorted.length === 0 ? Number.NaN : sum / sorted.length),
  };
}

/** A named moment in a run (a workflow's recorded step, or a moment the client saw), in epoch milliseconds. */
export interface Moment {
  name: string;
  at: number;
}

/**
 * Durations between consecutive moments, keyed `from→to`, over many runs. Runs that skip a step simply do not
 * contribute to the pairs they lack.
 */
export function stepDurations(runs: readonly (readonly Moment[])[]): Map<string, number[]> {
  const durations = new Map<string, number[]>();
  for (const moments of runs) {
    for (let i = 1; i < moments.length; i++) {
      const from = moments[i - 1];
      const to = moments[i];
      if (from === undefined || to === undefined) continue;
      const key = `${from.name}→${to.name}`;
      const list = durations.get(key) ?? [];
      list.push(to.at - from.at);
      durations.set(key, list);
    }
  }
  return durations;
}

/** One bin of a throughput series: seconds since the phase began, and completions per second in that bin. */
export interface RatePoint {
  t: number;
  perSec: number;
}

/** Completions per second in consecutive bins of `binMs`, from `origin` to the last completion. */
export function throughputSeries(completions: readonly number[], origin: number, binMs: number): RatePoint[] {
  if (completions.length === 0 || binMs <= 0) return [];
  const last = Math.max(...completions);
  const bins = Math.max(1, Math.ceil((last - origin) / binMs));
  const counts = new Array<number>(bins).fill(0);
  for (const at of completions) {
    const index = Math.min(bins - 1, Math.max(0, Math.floor((at - origin) / binMs)));
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts.map((count, i) => ({ t: ((i + 1) * binMs) / 1000, perSec: count / (binMs / 1000) }));
}

/** Completed runs per second between the first start and the last completion; 0 when nothing completed. */
export function overallThroughput(starts: readonly number[], completions: readonly number[]): number {
  if (starts.length === 0 || completions.length === 0) return 0;
  const elapsedMs = Math.max(...completions) - Math.min(...starts);
  return elapsedMs <= 0 ? 0 : completions.length / (elapsedMs / 1000);
}

/** `ours / base`, rounded to 3 decimals; NaN-safe (null when either side is missing or the base is 0). */
export function ratio(ours: number, base: number): number | null {
  if (!Number.isFinite(ours) || !Number.isFinite(base) || base === 0) return null;
  return Math.round((ours / base) * 1000) / 1000;
}

/** Phases of one kind taken as one sample (A B B A pairs): what each figure is over all of them together. */
export interface PooledPhases {
  /** All completed runs over the phases' measured time together. */
  throughput_per_s: number;
  /** Start → settled over every run of every phase. */
  latency_ms: { p50: number; p95: number; p99: number };
  worker_cpu_ms_per_payment: number;
  server_cpu_ms_per_payment: number;
  failed: number;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Pools phases of one kind: their runs together, over their measured time together. */
export function poolPhases(
  results: readonly {
    completed: number;
    runs: number;
    failed: number;
    throughputPerSec: number;
    latenciesMs: number[];
    worker: { cpuSeconds: number };
    server: { cpuSeconds: number };
  }[],
): PooledPhases {
  const completed = results.reduce((n, r) => n + r.completed, 0);
  const seconds = results.reduce(
    (s, r) => s + (r.throughputPerSec > 0 ? r.completed / r.throughputPerSec : 0),
    0,
  );
  const runs = results.reduce((n, r) => n + r.runs, 0);
  const latency = summarize(results.flatMap((r) => r.latenciesMs));
  const perRun = (cpuSeconds: (r: (typeof results)[number]) => number) =>
    runs === 0 ? 0 : round1((results.reduce((s, r) => s + cpuSeconds(r), 0) * 1000) / runs);
  return {
    throughput_per_s: seconds > 0 ? Math.round((completed / seconds) * 100) / 100 : 0,
    latency_ms: { p50: latency.p50, p95: latency.p95, p99: latency.p99 },
    worker_cpu_ms_per_payment: perRun((r) => r.worker.cpuSeconds),
    server_cpu_ms_per_payment: perRun((r) => r.server.cpuSeconds),
    failed: results.reduce((n, r) => n + r.failed, 0),
  };
}
