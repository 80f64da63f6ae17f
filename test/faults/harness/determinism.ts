/** Every history a fault scenario wrote, replayed at its end by a worker with nothing cached. */
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createDataConverter } from '../../../temporal/codec';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../../../config/key-ring';
import { loadWorkflowBundle } from '../../../temporal/bundle';
import type { FaultStack } from './stack';
import { workflowSpanSinks } from '../../../temporal/tracing';

/**
 * Replays the history of every run the scenario started with the worker's own workflow bundle and nothing cached;
 * returns one line per run that does not replay, or whose history could not be read. `onHistory` sees each history
 * read.
 */
export async function replayEveryRun(
  stack: FaultStack,
  workflowIds: readonly string[],
  onHistory: (history: temporal.api.history.v1.IHistory) => void = () => undefined,
): Promise<string[]> {
  const problems: string[] = [];
  async function* histories() {
    for (const workflowId of workflowIds) {
      try {
        const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
        onHistory(history);
        yield { workflowId, history };
      } catch (err) {
        problems.push(`${workflowId}: its history could not be read: ${String(err)}`);
      }
    }
  }
  let replayed = 0;
  const results = Worker.runReplayHistories(
    {
      workflowBundle: await loadWorkflowBundle(stack.workflowBundlePath),
      sinks: workflowSpanSinks(undefined),
      dataConverter: createDataConverter(parseKeyRing(LOCAL_DEV_KEYS)),
      replayName: `faults-${stack.name}`,
    },
    histories(),
  );
  for await (const result of results) {
    replayed += 1;
    if (result.error !== undefined) problems.push(`${result.workflowId}: ${result.error.message}`);
  }
  stack.log.write(`[harness] replayed ${replayed} of ${workflowIds.length} histories with nothing cached`);
  return problems;
}
