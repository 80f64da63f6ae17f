/**
 * The benchmark's report: the headline figures (our throughput and latency against the same-run engine ceiling,
 * worker memory, replay speed), what tracing costs (off against on), where each target stands, the settings and
 * machine it ran on, and every phase in full. Also the few lines printed when `--json` is not asked for.
 */
import type { BenchOptions } from './args';
import type { PhaseResult } from './phase';
import type { ReplaySpeed } from './replay-speed';
import type { TracingComparison } from './tracing';
import { ratio } from './stats';

/** The machine and code a run measured. */
export interface BenchEnvironment {
  startedAt: string;
  commit: string | undefined;
  node: string;
  cpus: number;
  memoryGiB: number;
  loadAverageAtEnd: [number, number, number];
  temporalCli: string;
}

/** Where one target stands: met, missed, or not measured in this run (and why). */
export interface TargetStanding {
  target: string;
  value: number | null;
  met: boolean | null;
  detail: string;
}

/** What the report is built from. */
export interface ReportInput {
  options: BenchOptions;
  environment: BenchEnvironment;
  ceiling: PhaseResult | undefined;
  payments: PhaseResult | undefined;
  atSeventyPercent: PhaseResult | undefined;
  allInFlight: PhaseResult | undefined;
  /** The tracing section: its comparison, and its four phases in full. */
  tracing: { comparison: TracingComparison; results: PhaseResult[] } | undefined;
  replay: ReplaySpeed | undefined;
}

const pick = (phase: PhaseResult | undefined) =>
  phase === undefined
    ? null
    : { p50: phase.latencyMs.p50, p95: phase.latencyMs.p95, p99: phase.latencyMs.p99 };

const cpu = (use: { cpuSeconds: number; cores: number; cpuMsPerRun: number }) => ({
  seconds: use.cpuSeconds,
  cores: use.cores,
  ms_per_run: use.cpuMsPerRun,
});

function phaseDocument(phase: PhaseResult) {
  const { latenciesMs: _raw, ...rest } = phase;
  return rest;
}

function targets(input: ReportInput): Record<string, TargetStanding> {
  const { payments, ceiling, atSeventyPercent, allInFlight } = input;
  const throughputRatio =
    payments && ceiling ? ratio(payments.throughputPerSec, ceiling.throughputPerSec) : null;
  const tail = atSeventyPercent
    ? ratio(atSeventyPercent.latencyMs.p99, atSeventyPercent.latencyMs.p50)
    : null;
  const inFlightPeak = allInFlight?.peakInFlight ?? 0;
  const rss = allInFlight?.worker.peakRssMiB ?? null;
  const rssMeasured = allInFlight !== undefined && !allInFlight.worker.inProcess;
  return {
    throughput_vs_ceiling: {
      target: 'throughput at least 0.8 of the same-run ceiling',
      value: throughputRatio,
      met: throughputRatio === null ? null : throughputRatio >= 0.8,
      detail:
        payments && ceiling
          ? `${payments.throughputPerSec}/s against ${ceiling.throughputPerSec}/s`
          : 'needs both the payments and the ceiling phase',
    },
    tail_latency_at_70_percent: {
      target: 'p99 start → settled at most 3 × p50, arriving at 70 % of peak throughput',
      value: tail,
      met: tail === null ? null : tail <= 3,
      detail: atSeventyPercent
        ? `at ${'ratePerSec' in atSeventyPercent.arrival ? atSeventyPercent.arrival.ratePerSec : '?'}/s: ` +
          `p50 ${atSeventyPercent.latencyMs.p50} ms, p99 ${atSeventyPercent.latencyMs.p99} ms`
        : 'not measured: run with --targets',
    },
    worker_rss_with_1000_in_flight: {
      target: 'worker RSS under 300 MiB with 1000 payments in flight',
      value: rss,
      met:
        allInFlight === undefined || !rssMeasured || inFlightPeak < 1000 || rss === null ? null : rss < 300,
      detail:
        allInFlight === undefined
          ? 'not measured: run with --targets'
          : `peak RSS ${rss} MiB with at most ${inFlightPeak} payments in flight` +
            (inFlightPeak < 1000 ? ` (fewer than 1000: use -n 1000 or more)` : '') +
            (rssMeasured ? '' : ' (worker inside the harness: RSS includes it)'),
    },
  };
}

/** Builds the report document and the chart's subtitle. */
export function buildReport(input: ReportInput) {
  const { options, ceiling, payments, replay } = input;
  const phases = [
    ceiling,
    payments,
    ...(input.tracing?.results ?? []),
    input.atSeventyPercent,
    input.allInFlight,
  ].filter((p): p is PhaseResult => p !== undefined);
  const arrival =
    options.rate === undefined ? `${options.concurrency} in flight` : `${options.rate}/s arriving`;
  const document = {
    payments: options.payments,
    throughput: {
      ours: payments?.throughputPerSec ?? null,
      ceiling: ceiling?.throughputPerSec ?? null,
      ratio: payments && ceiling ? ratio(payments.throughputPerSec, ceiling.throughputPerSec) : null,
    },
    latency_ms: pick(payments),
    ceiling_latency_ms: pick(ceiling),
    latency_p50_ratio: payments && ceiling ? ratio(payments.latencyMs.p50, ceiling.latencyMs.p50) : null,
    worker_rss_mib: payments?.worker.peakRssMiB ?? null,
    worker_cpu: payments ? cpu(payments.worker) : null,
    server_cpu: payments ? cpu(payments.server) : null,
    ceiling_worker_rss_mib: ceiling?.worker.peakRssMiB ?? null,
    ceiling_worker_cpu: ceiling ? cpu(ceiling.worker) : null,
    ceiling_server_cpu: ceiling ? cpu(ceiling.server) : null,
    replay_per_s: replay?.perSecond ?? null,
    tracing: input.tracing?.comparison ?? null,
    steps_ms: payments?.stepsMs ?? null,
    ceiling_steps_ms: ceiling?.stepsMs ?? null,
    failed: { payments: payments?.failed ?? null, ceiling: ceiling?.failed ?? null },
    ledger: payments?.ledger ?? null,
    targets: targets(input),
    settings: {
      label: options.label ?? null,
      arrival:
        options.rate === undefined ? { concurrency: options.concurrency } : { ratePerSec: options.rate },
      warmup: options.warmup,
      ledger: options.pglite ? 'pglite' : 'postgres',
      pool_size: options.poolSize ?? 10,
      worker: {
        in_process: options.inProcess,
        bundle: options.bundle,
        runtime: options.workerRuntime,
        workflow_slots: options.workflowSlots ?? 'sdk default (40)',
        activity_slots: options.activitySlots ?? 'sdk default (100)',
        workflow_polls: options.workflowPolls ?? 'sdk default (10)',
        activity_polls: options.activityPolls ?? 'sdk default (10)',
        cache: options.cache ?? 'sdk default',
      },
      start: options.start,
      eager: options.eager,
      sqlite: options.sqlite,
      accounts: options.accounts,
      currencies: options.currencies,
      bank_delay_ms: options.bankDelayMs,
      ceiling_local_steps: options.ceilingLocalSteps,
      ceiling_codec: options.ceilingCodec,
      tracing_payments: options.tracingPayments,
      tracing_warmup: options.tracingWarmup,
    },
    environment: input.environment,
    replay: replay ?? null,
    phases: phases.map(phaseDocument),
  };
  const subtitle =
    `${arrival}, ledger on ${options.pglite ? 'PGlite' : 'PostgreSQL'}, ${input.environment.cpus} CPUs, ` +
    `load ${input.environment.loadAverageAtEnd[0]} at end, commit ${input.environment.commit ?? '?'}`;
  return { document, phases, subtitle };
}

/** The report document's type. */
export type BenchReport = ReturnType<typeof buildReport>['document'];

/** A few readable lines about a report, for a person at a terminal. */
export function summaryText(report: BenchReport): string {
  const lines = [`baton benchmark: ${report.payments} payments`];
  const t = report.throughput;
  lines.push(
    `  throughput: ours ${t.ours ?? '-'}/s, ceiling ${t.ceiling ?? '-'}/s, ratio ${t.ratio ?? '-'}`,
    `  start → settled: ours p50/p95/p99 ${fmt(report.latency_ms)}; ceiling ${fmt(report.ceiling_latency_ms)}; ` +
      `p50 ratio ${report.latency_p50_ratio ?? '-'}`,
    `  worker: peak RSS ${report.worker_rss_mib ?? '-'} MiB, CPU ${report.worker_cpu?.cores ?? '-'} cores ` +
      `(${report.worker_cpu?.ms_per_run ?? '-'} ms/payment, ceiling ${report.ceiling_worker_cpu?.ms_per_run ?? '-'}); ` +
      `server CPU ${report.server_cpu?.cores ?? '-'} cores (${report.server_cpu?.ms_per_run ?? '-'} ms/payment, ` +
      `ceiling ${report.ceiling_server_cpu?.ms_per_run ?? '-'})`,
    `  replay: ${report.replay_per_s ?? '-'} histories/s`,
  );
  const tracing = report.tracing;
  if (tracing !== null) {
    const side = (pool: TracingComparison['off']) =>
      `${pool.throughput_per_s}/s, p50/p99 ${pool.latency_ms.p50}/${pool.latency_ms.p99} ms, ` +
      `worker ${pool.worker_cpu_ms_per_payment} ms CPU/payment`;
    lines.push(
      `  tracing (${tracing.order.join(' ')}, ${tracing.payments} payments each): ` +
        tracing.phases.map((p) => `${p.side} ${p.throughput_per_s}/s`).join(', '),
      `    off ${side(tracing.off)}`,
      `    on  ${side(tracing.on)}`,
      `    on/off throughput ${tracing.throughput_ratio ?? '-'}, p50 ${signed(tracing.latency_p50_delta_ms)} ms, ` +
        `p99 ${signed(tracing.latency_p99_delta_ms)} ms, worker CPU ${signed(tracing.worker_cpu_ms_per_payment_delta)} ` +
        `ms/payment; traces in Jaeger ${tracing.traces_verified ? 'verified' : 'NOT as expected (see tracing.phases)'}`,
    );
  }
  for (const standing of Object.values(report.targets)) {
    const mark = standing.met === null ? 'n/a ' : standing.met ? 'MET ' : 'MISS';
    lines.push(`  [${mark}] ${standing.target}: ${standing.value ?? '-'} (${standing.detail})`);
  }
  return lines.join('\n');
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : String(value);
}

function fmt(latency: { p50: number; p95: number; p99: number } | null): string {
  return latency === null ? '-' : `${latency.p50}/${latency.p95}/${latency.p99} ms`;
}
