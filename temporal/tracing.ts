/**
 * Temporal's side of a trace: the SDK's OpenTelemetry interceptors on the client (start, signal, update, query),
 * on the worker's activities, and inside the workflow sandbox, whose spans leave through the `exporter` sink. With
 * them one business process is one trace: the start, each workflow task, each activity and each signal. baton adds
 * its ids (correlation, payment, registration) as span attributes, and joins a bank webhook's signal to the trace
 * of the payment it concerns.
 */
import { propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import { Resource } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Client, Next, WorkflowClientInterceptor, WorkflowStartInput } from '@temporalio/client';
import { defaultPayloadConverter, TypedSearchAttributes } from '@temporalio/common';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { Tracing } from '../services/telemetry/tracing';
import { TRACE_ATTRIBUTES } from '../services/telemetry/tracing';
import { searchAttributeKeys } from './search-attributes';

/** The header the SDK's interceptors carry a trace in (from the client to the run, from the run to activities). */
const TRACE_HEADER = '_tracer-data';

/** The SDK's workflow interceptors; a prebuilt bundle must carry them (temporal/bundle.ts). */
export const TRACING_WORKFLOW_INTERCEPTORS =
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/**
 * The business id a workflow id names, as a span attribute: `payment:<id>` and `registration:<id>`, the shape the
 * workflow contracts build (a unit test holds the two together; this layer may not import them).
 */
export function businessIdAttributes(workflowId: string): Record<string, string> {
  const match = /^(payment|registration):(.+)$/.exec(workflowId);
  if (match?.[2] === undefined) return {};
  return {
    [match[1] === 'payment' ? TRACE_ATTRIBUTES.paymentId : TRACE_ATTRIBUTES.registrationId]: match[2],
  };
}

/** Names the started run's business ids and correlation id on the SDK's start span (which is active here). */
class BusinessIdsOnStart implements WorkflowClientInterceptor {
  start(input: WorkflowStartInput, next: Next<WorkflowClientInterceptor, 'start'>): Promise<string> {
    const attributes = input.options.typedSearchAttributes;
    const correlationId =
      attributes instanceof TypedSearchAttributes
        ? attributes.get(searchAttributeKeys.correlationId)
        : attributes?.find((pair) => pair.key.name === searchAttributeKeys.correlationId.name)?.value;
    trace.getActiveSpan()?.setAttributes({
      ...businessIdAttributes(input.options.workflowId),
      ...(typeof correlationId === 'string' ? { [TRACE_ATTRIBUTES.correlationId]: correlationId } : {}),
    });
    return next(input);
  }
}

/** The workflow-client interceptors of a traced client: the SDK's spans, then baton's ids on them. */
export function tracingClientInterceptors(): WorkflowClientInterceptor[] {
  return [new OpenTelemetryWorkflowClientInterceptor(), new BusinessIdsOnStart()];
}

/** The SDK's activity interceptors: a span per activity attempt, child of the workflow's schedule span. */
export const tracingActivityInterceptors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
  outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
});

/**
 * The sink the workflow interceptors hand their spans to. Every worker registers it, traced or not, because the
 * bundle always carries the interceptors; untraced, the spans are dropped here.
 */
export function workflowSpanSinks(tracing: Tracing | undefined): InjectedSinks<OpenTelemetrySinks> {
  return {
    exporter: tracing
      ? makeWorkflowExporter(tracing.spanProcessor, tracing.resource)
      : makeWorkflowExporter(new NoopSpanProcessor(), new Resource({})),
  };
}

/**
 * The trace a run was started in, read from the header of its first history event; undefined when it was started
 * untraced or cannot be read. One small history read, done only when tracing is on.
 */
export async function runTraceContext(client: Client, workflowId: string): Promise<Context | undefined> {
  try {
    const response = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId },
      maximumPageSize: 1,
    });
    const payload =
      response.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.header?.fields?.[TRACE_HEADER];
    if (payload === undefined || payload === null) return undefined;
    const carrier: unknown = defaultPayloadConverter.fromPayload(payload);
    if (typeof carrier !== 'object' || carrier === null) return undefined;
    const extracted = propagation.extract(ROOT_CONTEXT, carrier as Record<string, string>);
    return trace.getSpanContext(extracted) === undefined ? undefined : extracted;
  } catch {
    // The trace is a convenience: a run that cannot be read is signalled untraced, never refused.
    return undefined;
  }
}
