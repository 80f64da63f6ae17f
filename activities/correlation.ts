/**
 * The correlation id inside activities. The workflow sets it on every activity it schedules as a header
 * (workflows/correlation.ts); the inbound interceptor here keeps it for the length of the activity, so the
 * activities hand it to the ledger, the bank and the mailer, and the outbound interceptor names it on every log
 * line the activity writes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { defaultPayloadConverter } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  ActivityOutboundCallsInterceptor,
  GetLogAttributesInput,
  Next,
} from '@temporalio/worker';
import { CORRELATION_HEADER, CORRELATION_ID_PATTERN } from '../domain/correlation';
import { annotateActiveSpan, TRACE_ATTRIBUTES } from '../services/telemetry/tracing';
import { businessIdAttributes } from '../temporal/tracing';

const current = new AsyncLocalStorage<string | undefined>();

/** The correlation id of the business process the running activity belongs to, if its run has one. */
export function currentCorrelationId(): string | undefined {
  return current.getStore();
}

/** Runs `fn` as if inside an activity of process `correlationId` (tests, and callers outside an activity). */
export function withCorrelationId<T>(correlationId: string | undefined, fn: () => T): T {
  return current.run(correlationId, fn);
}

function headerValue(input: ActivityExecuteInput): string | undefined {
  const payload = input.headers[CORRELATION_HEADER];
  if (payload === undefined) return undefined;
  const value: unknown = defaultPayloadConverter.fromPayload(payload);
  // A header that is not a correlation id is ignored rather than trusted into logs and SQL.
  return typeof value === 'string' && CORRELATION_ID_PATTERN.test(value) ? value : undefined;
}

class CorrelationInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly workflowId: string | undefined) {}

  execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const correlationId = headerValue(input);
    // The activity's span (opened by the tracing interceptor, outside this one) gets the process's ids.
    annotateActiveSpan({
      ...(this.workflowId === undefined ? {} : businessIdAttributes(this.workflowId)),
      ...(correlationId === undefined ? {} : { [TRACE_ATTRIBUTES.correlationId]: correlationId }),
    });
    return current.run(correlationId, () => next(input));
  }
}

class CorrelationOutbound implements ActivityOutboundCallsInterceptor {
  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    const correlationId = current.getStore();
    return next(correlationId === undefined ? input : { ...input, correlationId });
  }
}

/** The activity interceptors every baton worker installs. */
export const correlationActivityInterceptors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new CorrelationInbound(ctx.info.workflowExecution?.workflowId),
  outbound: new CorrelationOutbound(),
});
