/** Every run of one business process, found by the correlation id its initiator chose. */
import type { Client } from '@temporalio/client';
import { CORRELATION_ID_PATTERN } from '../domain/correlation';
import { searchAttributeKeys } from '../temporal/search-attributes';
import { runUiUrl } from './ui-links';

/** One run of a business process. */
export interface CorrelatedRun {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** The payment's or the registration's own status. */
  status: string;
  startTime: string;
  uiUrl: string;
}

/** The runs carrying `correlationId`, oldest first: e.g. a registration, then the payments that followed it. */
export async function listByCorrelation(
  client: Client,
  correlationId: string,
  options: { limit: number; uiBaseUrl: string },
): Promise<CorrelatedRun[]> {
  // Checked before it is quoted into the query: the pattern leaves no room for a quote.
  if (!CORRELATION_ID_PATTERN.test(correlationId)) throw new Error('not a correlation id');
  const runs: CorrelatedRun[] = [];
  const query = `${searchAttributeKeys.correlationId.name} = '${correlationId}'`;
  for await (const run of client.workflow.list({ query, pageSize: options.limit })) {
    const attrs = run.typedSearchAttributes;
    const status =
      attrs.get(searchAttributeKeys.paymentStatus) ??
      attrs.get(searchAttributeKeys.registrationStatus) ??
      'unknown';
    runs.push({
      workflowId: run.workflowId,
      runId: run.runId,
      workflowType: run.type,
      status,
      startTime: run.startTime.toISOString(),
      uiUrl: runUiUrl(options.uiBaseUrl, client.options.namespace, run.workflowId, run.runId),
    });
    if (runs.length >= options.limit) break;
  }
  return runs.sort((a, b) => a.startTime.localeCompare(b.startTime));
}
