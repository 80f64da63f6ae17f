/**
 * The workflow bundle: baton's workflow code and its interceptors packed for the worker's sandbox, written to a file
 * by a release and loaded from it by a worker, so a deployed worker runs exactly the code that was replay-tested.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from './codec';
import { TRACING_WORKFLOW_INTERCEPTORS } from './tracing';

/** The workflows module the worker bundles into its sandbox (source under tsx, compiled under plain node). */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * The workflow interceptors bundled beside them: signals and updates handled after their activation's other jobs,
 * the correlation id carried to every activity and log line, and the SDK's tracing (innermost, so a signal's span
 * covers its handling, not its wait). None issues a command: runs from before each one replay unchanged, and a
 * history replays the same with the tracing interceptors or without them.
 */
export const WORKFLOW_INTERCEPTOR_PATHS = [
  require.resolve('../workflows/message-order'),
  require.resolve('../workflows/correlation'),
  TRACING_WORKFLOW_INTERCEPTORS,
];

/** The interceptors of a traced bundle, or of an untraced one (for a worker that exports no spans). */
export function workflowInterceptorPaths({ traced }: { traced: boolean }): string[] {
  return traced
    ? WORKFLOW_INTERCEPTOR_PATHS
    : WORKFLOW_INTERCEPTOR_PATHS.filter((module) => module !== TRACING_WORKFLOW_INTERCEPTORS);
}

// The bundler reports every module it packs at info level; only problems are worth a line.
const quietBundlerLogger = new DefaultLogger('WARN');

/**
 * Bundles the workflow code once, so several workers (tests) can share the bundle. `traced: false` leaves the
 * tracing interceptors out: in the sandbox they make every run's spans (and, through the SDK's stack capture, a stack
 * for each promise they create) whether or not the worker exports them, about a third of a payment's worker CPU, so
 * a worker that exports nothing runs without them.
 */
export function bundleWorkflows({
  traced = true,
}: { traced?: boolean } = {}): Promise<WorkflowBundleWithSourceMap> {
  // The failure converter runs inside the sandbox too, so a prebuilt bundle must carry it.
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: workflowInterceptorPaths({ traced }),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quietBundlerLogger,
  });
}

/** Where the untraced bundle lives beside a traced one: `workflow-bundle.js` → `workflow-bundle.untraced.js`. */
export function untracedBundleFile(file: string): string {
  return `${file.replace(/\.js$/, '')}.untraced.js`;
}

/** Writes both bundles: the traced one as `file`, the untraced one beside it (see {@link untracedBundleFile}). */
export async function writeWorkflowBundles(file: string): Promise<void> {
  const [traced, untraced] = await Promise.all([bundleWorkflows(), bundleWorkflows({ traced: false })]);
  await writeWorkflowBundle(file, traced);
  await writeWorkflowBundle(untracedBundleFile(file), untraced);
}

/** Writes a bundle as `<file>` and its source map as `<file>.map`, for workers that load it instead of bundling. */
export async function writeWorkflowBundle(file: string, bundle: WorkflowBundleWithSourceMap): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, bundle.code);
  await writeFile(`${file}.map`, bundle.sourceMap);
}

/** Reads a bundle written by {@link writeWorkflowBundle}. */
export async function loadWorkflowBundle(file: string): Promise<WorkflowBundleWithSourceMap> {
  const [code, sourceMap] = await Promise.all([readFile(file, 'utf8'), readFile(`${file}.map`, 'utf8')]);
  return { code, sourceMap };
}
