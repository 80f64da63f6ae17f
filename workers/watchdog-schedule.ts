/**
 * The watchdog's Temporal Schedule, created (or brought to the configured interval) idempotently by every worker
 * start and by `watchdog install`.
 */
import type { Client } from '@temporalio/client';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/task-queue';
import { WATCHDOG_SCHEDULE_ID } from '../workflows/watchdog-contract';

/** What the schedule was found as and left as. */
export interface ScheduleSetup {
  scheduleId: string;
  intervalSeconds: number;
  /** `created` when it did not exist, `updated` when its interval or queue changed, `unchanged` otherwise. */
  change: 'created' | 'updated' | 'unchanged';
}

/**
 * Makes sure the watchdog's schedule exists and sweeps every `intervalSeconds` on `taskQueue`. Safe from every
 * worker at once: the first creates it, the others find it. A sweep still running when the next is due makes the
 * next one skip, so sweeps never pile up behind a slow one.
 */
export async function ensureWatchdogSchedule(
  client: Client,
  { intervalSeconds, taskQueue = TASK_QUEUE }: { intervalSeconds: number; taskQueue?: string },
): Promise<ScheduleSetup> {
  const every = intervalSeconds * 1000;
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'watchdogWorkflow',
    workflowId: WATCHDOG_SCHEDULE_ID,
    taskQueue,
    args: [{}],
    staticSummary: 'Watchdog sweep: stuck runs, orphaned debits, bank disagreements, the bus',
  };
  try {
    await client.schedule.create({
      scheduleId: WATCHDOG_SCHEDULE_ID,
      spec: { intervals: [{ every }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
      memo: { purpose: 'baton watchdog' },
    });
    return { scheduleId: WATCHDOG_SCHEDULE_ID, intervalSeconds, change: 'created' };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(WATCHDOG_SCHEDULE_ID);
  const description = await handle.describe();
  const current = description.spec.intervals?.[0]?.every;
  const currentQueue = description.action.type === 'startWorkflow' ? description.action.taskQueue : undefined;
  if (
    current === intervalSeconds * 1000 &&
    description.spec.intervals?.length === 1 &&
    currentQueue === taskQueue
  ) {
    return { scheduleId: WATCHDOG_SCHEDULE_ID, intervalSeconds, change: 'unchanged' };
  }
  await handle.update((previous) => ({
    ...previous,
    spec: { intervals: [{ every }] },
    action,
    policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
  }));
  return { scheduleId: WATCHDOG_SCHEDULE_ID, intervalSeconds, change: 'updated' };
}
