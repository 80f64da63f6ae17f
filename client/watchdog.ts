/**
 * Client side of the watchdog: a sweep run now, apart from its schedule, and waited for (`watchdog run`). The
 * schedule itself is the worker's to set up (workers/watchdog-schedule.ts).
 */
import type { Client } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/task-queue';
import { manualSweepWorkflowId } from '../workflows/watchdog-contract';
import type { SweepSummary } from '../workflows/watchdog-contract';
import type { watchdogWorkflow } from '../workflows/watchdog';

/** Runs one sweep now, apart from the schedule, and waits for what it found. */
export async function runSweep(client: Client, taskQueue: string = TASK_QUEUE): Promise<SweepSummary> {
  return client.workflow.execute<typeof watchdogWorkflow>('watchdogWorkflow', {
    workflowId: manualSweepWorkflowId(new Date()),
    taskQueue,
    args: [{ trigger: 'manual' }],
    staticSummary: 'Watchdog sweep, started by hand',
  });
}
