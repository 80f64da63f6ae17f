/**
 * Earlier revisions of the payment workflow, for measuring a change against the code before it: today's workflows
 * bundled with the workflow API the upgrade tests use to run "the build before" a patch.
 */
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleOldBuild, WORKFLOW_API_BEFORE } from '../test/support/builds';

/** The payment workflow as the revision before the lean steps ran it (`patched('lean-steps')` false). */
export function bundleBeforeLeanSteps({ traced }: { traced: boolean }): Promise<WorkflowBundleWithSourceMap> {
  return bundleOldBuild(WORKFLOW_API_BEFORE.leanSteps, { traced });
}
