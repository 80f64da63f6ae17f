/**
 * What OpenTelemetry tracing costs: the same payments measured with tracing off, on, on, off (A B B A, so a drift
 * in the machine's load falls on both sides alike), pooled per side. "On" is a worker and a client exporting to a
 * real Jaeger, checked afterwards to hold each sampled payment's trace; "off" is what baton runs when
 * OTEL_EXPORTER_OTLP_ENDPOINT is unset: the instrumentation loaded and a tracer provider that exports nothing.
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, propagation, trace } from '@opentelemetry/api';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { findTraces } from '../local/jaeger';
import type { Jaeger, JaegerTrace } from '../local/jaeger';
import { TRACE_ATTRIBUTES } from '../services/telemetry/tracing';
import type * as Telemetry from '../services/telemetry/tracing';
import { tracingClientInterceptors } from '../temporal/tracing';
import type { PhaseResult } from './phase';
import { CpuMeter, loadAverage } from './proc';
import { poolPhases, ratio } from './stats';
import type { PooledPhases } from './stats';

/** One side of the comparison. */
export type TracingSide = 'off' | 'on';

/** The order the four phases run in. */
export const TRACING_ORDER: readonly TracingSide[] = ['off', 'on', 'on', 'off'];

/** What `off` and `on` are, as the report states them. */
const MEANING: Record<TracingSide, string> = {
  off:
    'OTEL_EXPORTER_OTLP_ENDPOINT unset, as baton runs by default: the worker process loads the instrumentation ' +
    'first and starts tracing without an endpoint (spans made, none exported); the client has the tracing ' +
    'interceptors and the same exporter-less tracing',
  on:
    'the same, with both the worker (baton-worker) and the client (baton-client) exporting by OTLP/HTTP to a ' +
    'Jaeger v2 on this machine (memory store)',
};

/** How long the spans of an `on` phase may take to show in Jaeger once the worker and the client flushed. */
const TRACE_WAIT_MS = 15_000;

/** The bench's side of one phase: it runs the payments, given the worker's tracing and the client's interceptors. */
export type TracingPhaseRunner = (phase: {
  side: TracingSide;
  /** 1 or 2: which phase of its side. */
  round: number;
  /** Where the worker exports; undefined for `off`. */
  endpoint: string | undefined;
  /** The client's interceptors, made under this phase's tracing. */
  interceptors: WorkflowClientInterceptor[];
}) => Promise<{ result: PhaseResult; paymentId: (index: number) => string }>;

/** What Jaeger held for one payment after its phase. */
export interface TraceCheck {
  payment_id: string;
  /** Traces Jaeger finds for the payment (service baton-worker, tag baton.payment_id): 1 when on, 0 when off. */
  traces: number;
  spans: number;
  services: string[];
  sql_spans: number;
}

/** The pooled figures of one side's two phases. */
export type TracingPool = PooledPhases;

/** The tracing section of the report. */
export interface TracingComparison {
  meaning: Record<TracingSide, string>;
  order: readonly TracingSide[];
  payments: number;
  warmup: number;
  concurrency: number;
  phases: {
    name: string;
    side: TracingSide;
    throughput_per_s: number;
    latency_ms: { p50: number; p99: number };
    worker_cpu_ms_per_payment: number;
    server_cpu_ms_per_payment: number;
    /** Jaeger's and the harness's (client, bank simulator, SMTP sink) CPU over the whole phase, warm-up included. */
    jaeger_cpu_ms_per_payment: number;
    harness_cpu_ms_per_payment: number;
    failed: number;
    load_average_before: [number, number, number];
    load_average_after: [number, number, number];
    traces: TraceCheck[];
  }[];
  off: TracingPool;
  on: TracingPool;
  /** Pooled throughput on ÷ off. */
  throughput_ratio: number | null;
  /** Pooled start → settled, on − off. */
  latency_p50_delta_ms: number;
  latency_p99_delta_ms: number;
  worker_cpu_ms_per_payment_delta: number;
  /** Every `on` payment checked has exactly one trace with the client's and the worker's spans; no `off` one has any. */
  traces_verified: boolean;
}

const load = createRequire(__filename);
const TELEMETRY_MODULE = load.resolve('../services/telemetry/tracing');

/**
 * Starts the harness's client tracing for one phase, as `npm run client` does (`startTracing`, `baton-client`,
 * with or without an endpoint). `startTracing` installs once per process and A B B A needs the harness off again
 * after on, so each phase loads a fresh copy of the module (baton's own code, not an imitation), and `stop()`
 * flushes, shuts the provider down and clears the OpenTelemetry globals it registered. The harness loads no
 * instrumentation: the client makes no pg or http calls, and the bank simulator and SMTP sink it also hosts stand
 * for systems outside baton.
 */
function startClientTracing(endpoint: string | undefined): { stop(): Promise<void> } {
  delete load.cache[TELEMETRY_MODULE];
  const telemetry = load(TELEMETRY_MODULE) as typeof Telemetry;
  const tracing = telemetry.startTracing({ serviceName: 'baton-client', endpoint });
  return {
    async stop() {
      await tracing.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The measured payments of a phase whose traces are looked up in Jaeger: the first, the middle and the last. */
function checkedIndices(total: number): number[] {
  return [...new Set([0, Math.floor(total / 2), total - 1])];
}

function describeTrace(paymentId: string, traces: JaegerTrace[]): TraceCheck {
  const found = traces.find((t) => t.spans.some((s) => s.operationName === 'StartWorkflow:paymentWorkflow'));
  const spans = found?.spans ?? [];
  return {
    payment_id: paymentId,
    traces: traces.length,
    spans: spans.length,
    services: [...new Set(Object.values(found?.processes ?? {}).map((p) => p.serviceName))].sort(),
    sql_spans: spans.filter((s) => s.tags.some((t) => t.key === 'db.system' && t.value === 'postgresql'))
      .length,
  };
}

/**
 * What Jaeger holds for these payments. After an `on` phase, waits until each has a trace (the worker and the
 * client flushed when they stopped; Jaeger stores what it receives at once); after an `off` phase, asks once.
 */
async function checkTraces(jaeger: Jaeger, side: TracingSide, paymentIds: string[]): Promise<TraceCheck[]> {
  const look = (paymentId: string) =>
    findTraces(jaeger.queryUrl, {
      service: 'baton-worker',
      tags: { [TRACE_ATTRIBUTES.paymentId]: paymentId },
    });
  const deadline = Date.now() + (side === 'on' ? TRACE_WAIT_MS : 0);
  for (;;) {
    const checks = await Promise.all(paymentIds.map(async (id) => describeTrace(id, await look(id))));
    if (side === 'off' || checks.every((c) => c.traces > 0) || Date.now() >= deadline) return checks;
    await sleep(500);
  }
}

function traced(side: TracingSide, checks: readonly TraceCheck[]): boolean {
  return side === 'off'
    ? checks.every((c) => c.traces === 0)
    : checks.every(
        (c) => c.traces === 1 && c.services.includes('baton-client') && c.services.includes('baton-worker'),
      );
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Runs the four phases in {@link TRACING_ORDER} and compares the sides; every phase's full result comes back too. */
export async function compareTracing(spec: {
  jaeger: Jaeger;
  payments: number;
  warmup: number;
  concurrency: number;
  run: TracingPhaseRunner;
  say: (line: string) => void;
}): Promise<{ comparison: TracingComparison; results: PhaseResult[] }> {
  const rounds: Record<TracingSide, number> = { off: 0, on: 0 };
  const phases: TracingComparison['phases'] = [];
  const results: { side: TracingSide; result: PhaseResult }[] = [];
  for (const side of TRACING_ORDER) {
    rounds[side] += 1;
    const endpoint = side === 'on' ? spec.jaeger.otlpEndpoint : undefined;
    spec.say(
      `tracing ${side} (${rounds[side]} of 2): ${spec.payments} payments` +
        (endpoint === undefined ? ', nothing exported' : `, worker and client exporting to ${endpoint}`),
    );
    const loadBefore = loadAverage();
    const jaegerCpu = new CpuMeter(spec.jaeger.pid);
    const harnessCpu = new CpuMeter(process.pid);
    const clientTracing = startClientTracing(endpoint);
    let phase: Awaited<ReturnType<TracingPhaseRunner>>;
    try {
      phase = await spec.run({
        side,
        round: rounds[side],
        endpoint,
        interceptors: tracingClientInterceptors(),
      });
    } finally {
      // The client's last spans are sent here; the worker's went when its process stopped.
      await clientTracing.stop();
    }
    const { result } = phase;
    const allPayments = spec.warmup + result.runs;
    const perPayment = (cpuSeconds: number) =>
      allPayments === 0 ? 0 : round1((cpuSeconds * 1000) / allPayments);
    const jaegerUse = jaegerCpu.read();
    const harnessUse = harnessCpu.read();
    const checks = await checkTraces(spec.jaeger, side, checkedIndices(spec.payments).map(phase.paymentId));
    if (!traced(side, checks)) {
      spec.say(`  tracing ${side}: Jaeger does not hold what it should: ${JSON.stringify(checks)}`);
    }
    results.push({ side, result });
    phases.push({
      name: result.name,
      side,
      throughput_per_s: result.throughputPerSec,
      latency_ms: { p50: result.latencyMs.p50, p99: result.latencyMs.p99 },
      worker_cpu_ms_per_payment: result.worker.cpuMsPerRun,
      server_cpu_ms_per_payment: result.server.cpuMsPerRun,
      jaeger_cpu_ms_per_payment: perPayment(jaegerUse.cpuSeconds),
      harness_cpu_ms_per_payment: perPayment(harnessUse.cpuSeconds),
      failed: result.failed,
      load_average_before: loadBefore,
      load_average_after: loadAverage(),
      traces: checks,
    });
  }

  const off = poolPhases(results.filter((r) => r.side === 'off').map((r) => r.result));
  const on = poolPhases(results.filter((r) => r.side === 'on').map((r) => r.result));
  return {
    comparison: {
      meaning: MEANING,
      order: TRACING_ORDER,
      payments: spec.payments,
      warmup: spec.warmup,
      concurrency: spec.concurrency,
      phases,
      off,
      on,
      throughput_ratio: ratio(on.throughput_per_s, off.throughput_per_s),
      latency_p50_delta_ms: round1(on.latency_ms.p50 - off.latency_ms.p50),
      latency_p99_delta_ms: round1(on.latency_ms.p99 - off.latency_ms.p99),
      worker_cpu_ms_per_payment_delta: round1(on.worker_cpu_ms_per_payment - off.worker_cpu_ms_per_payment),
      traces_verified: phases.every((p) => traced(p.side, p.traces)),
    },
    results: results.map((r) => r.result),
  };
}
