/**
 * Client-side resolution of a payment whose run ended with its money in flight: start it (once per payment), and
 * read how it ended, refusals included.
 */
import type { Client } from '@temporalio/client';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { paymentResolutionWorkflowId, ResolutionRefusal } from '../workflows/payment-resolution-contract';
import type { Resolution, ResolutionRequest } from '../workflows/payment-resolution-contract';
import { TASK_QUEUE } from '../workflows/task-queue';
import { startOnce } from './start-once';
import type { StartedRun } from './start-once';

/** A resolution run as the client found or started it. */
export type StartedResolution = StartedRun<ResolutionRequest, Resolution>;

/** How a resolution ended: done (now or earlier), or refused with nothing moved. */
export type ResolutionAnswer =
  | { kind: 'resolved'; resolution: Resolution; existing: boolean; workflowId: string; runId: string }
  | { kind: 'refused'; refusal: ResolutionRefusal; message: string; workflowId: string; runId: string };

const REFUSALS: readonly string[] = Object.values(ResolutionRefusal);

/**
 * Starts the resolution of `request.paymentId` and waits for its end. A payment is resolved once: a second start
 * finds the finished resolution. A refused one ended as failed, and may be started again.
 */
export async function resolvePayment(
  client: Client,
  request: ResolutionRequest,
  taskQueue: string = TASK_QUEUE,
): Promise<ResolutionAnswer> {
  const started: StartedResolution = await startOnce<ResolutionRequest, Resolution>(client, {
    workflowType: 'paymentResolutionWorkflow',
    workflowId: paymentResolutionWorkflowId(request.paymentId),
    taskQueue,
    input: request,
    reusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    summary: `Resolve payment ${request.paymentId} by what the bank says`,
    details: [
      `**Resolution** of payment \`${request.paymentId}\``,
      '',
      '- settles or reverses the debit under the payment’s own idempotency keys',
      '- who and why: the run’s memo and result',
    ].join('\n'),
    searchAttributes: [],
  });
  const { workflowId, runId } = started;
  try {
    const resolution = await started.handle.result();
    return { kind: 'resolved', resolution, existing: started.existing, workflowId, runId };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type !== null && cause.type !== undefined) {
      if (REFUSALS.includes(cause.type)) {
        return {
          kind: 'refused',
          refusal: cause.type as ResolutionRefusal,
          message: cause.message,
          workflowId,
          runId,
        };
      }
    }
    throw err;
  }
}

/** The resolution of a payment, when one finished; undefined when none was made or none succeeded. */
export async function resolutionOf(client: Client, paymentId: string): Promise<Resolution | undefined> {
  const handle = client.workflow.getHandle<(input: ResolutionRequest) => Promise<Resolution>>(
    paymentResolutionWorkflowId(paymentId),
  );
  try {
    if ((await handle.describe()).status.name !== 'COMPLETED') return undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  return handle.result();
}
