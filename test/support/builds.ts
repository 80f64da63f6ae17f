/**
 * Workflow builds from before a patched change: today's workflows bundled with a stand-in for the workflow API
 * whose `patched()` answers false for that change, which is the branch (and the absent marker) the revision before
 * it had. The upgrade tests run payments "on the old build" with them.
 */
import path from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../temporal/codec';
import { workflowInterceptorPaths, WORKFLOWS_PATH } from '../../temporal/bundle';

const VARIANTS = path.join(__dirname, '..', 'replay', 'variants');

/** The stand-in workflow APIs, one per change they take back. */
export const WORKFLOW_API_BEFORE = {
  domainEvents: path.join(VARIANTS, 'workflow-api-before-domain-events.ts'),
  leanSteps: path.join(VARIANTS, 'workflow-api-before-lean-steps.ts'),
} as const;

/** Today's workflows, bundled with `workflowApi` in place of `@temporalio/workflow`; `traced` as a release's. */
export function bundleOldBuild(
  workflowApi: string,
  { traced = true }: { traced?: boolean } = {},
): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: workflowInterceptorPaths({ traced }),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({
      ...config,
      resolve: {
        ...config.resolve,
        alias: {
          ...(config.resolve?.alias as Record<string, string> | undefined),
          // Exactly the package's own name: the module above imports the SDK through a deeper path.
          '@temporalio/workflow$': workflowApi,
        },
      },
    }),
  });
}
