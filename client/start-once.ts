/**
 * Starting a workflow under a business key, at most once: a second start of the same key returns the run that
 * exists, running or finished, instead of starting another.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import { searchAttributeKeys } from '../temporal/search-attributes';

/** A workflow that takes one named input object, as every baton workflow does. */
type OneInputWorkflow<I, R> = (input: I) => Promise<R>;

/** A run as the client found or started it. */
export interface StartedRun<I, R> {
  handle: WorkflowHandle<OneInputWorkflow<I, R>>;
  workflowId: string;
  runId: string;
  /** True when the key already had a run, which is returned instead of starting another. */
  existing: boolean;
}

/** Starts `workflowType` as `workflowId` unless a run of that id exists. */
export async function startOnce<I, R>(
  client: Client,
  options: {
    workflowType: string;
    workflowId: string;
    taskQueue: string;
    input: I;
    searchAttributes: SearchAttributePair[];
    /** One line the Temporal UI shows for the run (no personal data: it is kept as long as the run). */
    summary: string;
    /** Markdown the UI shows under the summary. */
    details: string;
    /** The business process the run belongs to; kept in the `CorrelationId` search attribute and the memo. */
    correlationId?: string;
    /**
     * Whether a finished run of the key may be followed by another: by default never. A process whose refusals
     * end its run as failed takes `ALLOW_DUPLICATE_FAILED_ONLY`, so a refused attempt can be made again later.
     */
    reusePolicy?: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE_FAILED_ONLY';
  },
): Promise<StartedRun<I, R>> {
  const { workflowId, correlationId } = options;
  // The server does not say whether USE_EXISTING started a run or found one; a per-start token in the memo does.
  const startToken = randomUUID();
  try {
    const handle = await client.workflow.start<OneInputWorkflow<I, R>>(options.workflowType, {
      workflowId,
      taskQueue: options.taskQueue,
      args: [options.input],
      // Running: hand back the run in progress. Finished: refuse a second run of the same key.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: options.reusePolicy ?? 'REJECT_DUPLICATE',
      memo: { startToken, ...(correlationId === undefined ? {} : { correlationId }) },
      staticSummary: options.summary,
      staticDetails: options.details,
      typedSearchAttributes:
        correlationId === undefined
          ? options.searchAttributes
          : [...options.searchAttributes, { key: searchAttributeKeys.correlationId, value: correlationId }],
    });
    const described = await handle.describe();
    return {
      handle,
      workflowId,
      runId: described.runId,
      existing: described.memo?.startToken !== startToken,
    };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const handle = client.workflow.getHandle<OneInputWorkflow<I, R>>(workflowId);
    const described = await handle.describe();
    return { handle, workflowId, runId: described.runId, existing: true };
  }
}
