/**
 * The correlation id inside workflows: read from the run's `CorrelationId` search attribute (set at start by the
 * client or the command consumer), put as a header on every activity the run schedules, and named on every log
 * line the workflow writes. Headers and log attributes issue no command, so runs from before it replay unchanged.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import type {
  ActivityInput,
  GetLogAttributesInput,
  LocalActivityInput,
  Next,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { CORRELATION_HEADER } from '../domain/correlation';
import { searchAttributeKeys } from '../temporal/search-attributes';

/** The correlation id of the running workflow, or undefined for a run started without one. */
export function runCorrelationId(): string | undefined {
  const value = workflowInfo().typedSearchAttributes.get(searchAttributeKeys.correlationId);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function withHeader<T extends ActivityInput | LocalActivityInput>(input: T): T {
  const correlationId = runCorrelationId();
  if (correlationId === undefined) return input;
  return {
    ...input,
    headers: { ...input.headers, [CORRELATION_HEADER]: defaultPayloadConverter.toPayload(correlationId) },
  };
}

class CorrelationOutbound implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(
    input: ActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ): Promise<unknown> {
    return next(withHeader(input));
  }

  scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ): Promise<unknown> {
    return next(withHeader(input));
  }

  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    const correlationId = runCorrelationId();
    return next(correlationId === undefined ? input : { ...input, correlationId });
  }
}

/** The workflow interceptors that carry the correlation id. */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [new CorrelationOutbound()],
});
