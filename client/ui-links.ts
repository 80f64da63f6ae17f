/** Links into the Temporal Web UI. */

/** Link to a run's page in the Temporal Web UI. */
export function runUiUrl(uiBaseUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBaseUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId === undefined ? base : `${base}/${encodeURIComponent(runId)}/history`;
}
