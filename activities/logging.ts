/**
 * One log line per activity attempt, at its end: which activity of which run, how long it took, and how it ended
 * (a failure by its type only: failure messages can quote what a server answered, addresses and numbers included).
 * The SDK's activity logger adds the workflow id, run id, activity id and type; the correlation interceptor adds the
 * correlation id; the tracing one the trace.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  Next,
} from '@temporalio/worker';

/** What a failure is called in a log line: its ApplicationFailure type, else its class name. */
function failureKind(error: unknown): string {
  if (error instanceof ApplicationFailure) return error.type ?? 'ApplicationFailure';
  if (error instanceof CancelledFailure) return 'cancelled';
  return error instanceof Error ? error.name : 'unknown';
}

class ActivityLog implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
    const started = performance.now();
    const attempt = this.ctx.info.attempt;
    try {
      const result = await next(input);
      this.ctx.log.info('activity completed', {
        attempt,
        durationMs: Math.round(performance.now() - started),
      });
      return result;
    } catch (error) {
      this.ctx.log.info('activity did not complete', {
        attempt,
        durationMs: Math.round(performance.now() - started),
        failure: failureKind(error),
      });
      throw error;
    }
  }
}

/** The activity interceptor that writes each attempt's line. */
export const activityLogInterceptors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new ActivityLog(ctx),
});
