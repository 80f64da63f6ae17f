/**
 * Traces with OpenTelemetry: one tracer provider per process, exporting by OTLP/HTTP to whatever
 * `OTEL_EXPORTER_OTLP_ENDPOINT` names (Jaeger, Tempo, a vendor's collector), and the helpers the services use to
 * put their own work on the current trace and to carry it across the message bus as a W3C `traceparent` header.
 *
 * Versions: `@temporalio/interceptors-opentelemetry` 1.24 is built on OpenTelemetry JS's 1.x line, so every
 * `@opentelemetry/*` package is pinned to that line (sdk-trace-base 1.30.1 with the 0.57.2 exporters and
 * instrumentations, api 1.9.0, which sdk-trace-base 1.30 requires below 1.10); the 2.x line does not mix with it.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Link, Span, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

/** Name of the tracer baton's own spans come from. */
const TRACER_NAME = 'baton';

/** Span attribute names baton adds; never personal data, only ids. */
export const TRACE_ATTRIBUTES = {
  correlationId: 'baton.correlation_id',
  paymentId: 'baton.payment_id',
  registrationId: 'baton.registration_id',
  commandKind: 'baton.command_kind',
} as const;

/** How a process traces. */
export interface TracingOptions {
  /** `service.name` of this process's spans (`baton-worker`, `baton-client`, `baton-consumer`). */
  serviceName: string;
  /**
   * OTLP/HTTP base address (`http://127.0.0.1:4318`); spans go to `<endpoint>/v1/traces`. Without it nothing is
   * exported, and spans cost almost nothing.
   */
  endpoint?: string | undefined;
}

/** This process's tracing: what the Temporal interceptors and the worker's span sink are given. */
export interface Tracing {
  /** Whether spans are exported anywhere. */
  readonly enabled: boolean;
  readonly resource: Resource;
  /** Where finished spans go (the worker hands it the workflow spans that leave the sandbox). */
  readonly spanProcessor: SpanProcessor;
  /** Sends what is buffered; call before a short-lived process exits. */
  flush(): Promise<void>;
  /** Flushes, then stops exporting. */
  shutdown(): Promise<void>;
}

let installed: Tracing | undefined;

/**
 * Installs the process's tracer provider once (as the global one, with W3C trace-context propagation and async
 * context); later calls return the first installation.
 */
export function startTracing(options: TracingOptions): Tracing {
  if (installed !== undefined) return installed;
  const resource = new Resource({
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_VERSION]: process.env.npm_package_version ?? '0.1.0',
  });
  const endpoint = options.endpoint?.replace(/\/+$/, '');
  const spanProcessor: SpanProcessor =
    endpoint === undefined
      ? new NoopSpanProcessor()
      : new BatchSpanProcessor(
          new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, timeoutMillis: 5_000 }),
          {
            scheduledDelayMillis: 1_000,
          },
        );
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  installed = {
    enabled: endpoint !== undefined,
    resource,
    spanProcessor,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
  return installed;
}

/** The installed tracing, if this process started it. */
export function currentTracing(): Tracing | undefined {
  return installed;
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** How {@link inSpan} opens its span. */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent other than the active context (a trace read back from a message or a run). */
  parent?: Context;
  links?: Link[];
}

/**
 * Runs `fn` inside a new span of the current trace (or of `options.parent`), ending it when `fn` settles; a throw
 * marks the span as an error with the exception's type and message, and is rethrown.
 */
export function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
      ...(options.links === undefined ? {} : { links: options.links }),
    },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(error) });
        if (error instanceof Error) span.recordException({ name: error.name, message: error.message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/**
 * Runs one SQL statement of embedded PGlite as a span, named and tagged as the PostgreSQL instrumentation names a
 * server's (`pg.query:SELECT`, `db.system`, `db.statement` with its placeholders, never its values); only inside a
 * trace, as for the server.
 */
export function inSqlSpan<T>(text: string, fn: () => Promise<T>): Promise<T> {
  if (trace.getActiveSpan() === undefined) return fn();
  const verb = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
  return inSpan(
    `pg.query:${verb}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql', 'db.name': 'pglite', 'db.statement': text },
    },
    fn,
  );
}

/** Adds attributes to the span that is active now, if any (ids only). */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** The active trace as message headers (`traceparent`, and `tracestate` when there is one). */
export function traceHeaders(active: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  return carrier;
}

/** The trace a message's headers carry, as a context to start spans under (the root context when none). */
export function contextFromHeaders(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

export { SpanKind };
