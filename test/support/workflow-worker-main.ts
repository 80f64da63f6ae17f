/**
 * A worker process that hosts baton's workflows and no activities, for tests that SIGKILL it: the address, task
 * queue, prebuilt bundle and sticky schedule-to-start timeout (ms) come from the environment. Prints `ready` once
 * it polls.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadWorkflowBundle } from '../../temporal/bundle';
import { quietWorkerRuntime } from '../../temporal/runtime';
import { workflowSpanSinks } from '../../temporal/tracing';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  quietWorkerRuntime();
  const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
  try {
    const worker = await Worker.create({
      connection,
      taskQueue: required('TASK_QUEUE'),
      workflowBundle: await loadWorkflowBundle(required('WORKFLOW_BUNDLE_PATH')),
      sinks: workflowSpanSinks(undefined),
      stickyQueueScheduleToStartTimeout: Number(required('STICKY_TIMEOUT_MS')),
    });
    const running = worker.run();
    console.log('ready');
    await running;
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
