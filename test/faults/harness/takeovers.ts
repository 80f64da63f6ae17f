/**
 * Which worker process completed each workflow task of a run, read from the run's history (a worker's default
 * identity is `<pid>@<host>`): the worker that holds a run in its cache now, and the runs that moved from one process
 * to another, a restart's or another worker's.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { WorkerProcess } from './processes';

type History = temporal.api.history.v1.IHistory;

/** Runs whose workflow tasks were completed by more than one worker process, and by more than one worker. */
export interface Takeovers {
  /** Runs taken over by another process: the same worker started again, or another worker. */
  byAnotherProcess: number;
  /** Runs taken over by another of the stack's workers (always 0 with one worker). */
  byAnotherWorker: number;
}

/** The identities of the processes that completed the run's workflow tasks, in order. */
function completedBy(history: History): string[] {
  return (history.events ?? []).flatMap((event) => {
    const identity = event.workflowTaskCompletedEventAttributes?.identity;
    return identity ? [identity] : [];
  });
}

/** The worker one of whose starts had the identity's pid; undefined for a process the stack did not start. */
function workerOf(workers: readonly WorkerProcess[], identity: string): WorkerProcess | undefined {
  const pid = Number(identity.split('@')[0]);
  return workers.find((w) => w.starts.some((start) => start.pid === pid));
}

/** Counts the runs that moved, from histories seen one by one. */
export class TakeoverCount {
  private readonly counts: Takeovers = { byAnotherProcess: 0, byAnotherWorker: 0 };

  constructor(private readonly workers: readonly WorkerProcess[]) {}

  /** Reads one run's history. */
  observe(history: History): void {
    const identities = new Set(completedBy(history));
    const workers = new Set(
      [...identities].map((identity) => workerOf(this.workers, identity)?.label ?? identity),
    );
    if (identities.size > 1) this.counts.byAnotherProcess += 1;
    if (workers.size > 1) this.counts.byAnotherWorker += 1;
  }

  get takeovers(): Takeovers {
    return { ...this.counts };
  }
}

/** Whether the history ends with the run closed (completed, failed, cancelled, terminated, timed out). */
function closed(history: History): boolean {
  const last = history.events?.at(-1);
  return (
    last !== undefined &&
    Boolean(
      last.workflowExecutionCompletedEventAttributes ??
      last.workflowExecutionFailedEventAttributes ??
      last.workflowExecutionCanceledEventAttributes ??
      last.workflowExecutionTerminatedEventAttributes ??
      last.workflowExecutionTimedOutEventAttributes ??
      last.workflowExecutionContinuedAsNewEventAttributes,
    )
  );
}

/**
 * How many of the runs each worker holds: it completed the last workflow task of a run still open, so the run's
 * next one goes to its sticky queue. A run that has closed, or whose history cannot be read now, is left out.
 */
export async function runsHeld(
  client: Client,
  workers: readonly WorkerProcess[],
  workflowIds: readonly string[],
): Promise<Map<WorkerProcess, number>> {
  const held = new Map<WorkerProcess, number>(workers.map((w) => [w, 0]));
  for (const workflowId of workflowIds) {
    const history = await client.workflow
      .getHandle(workflowId)
      .fetchHistory()
      .catch(() => undefined);
    const last = history === undefined || closed(history) ? undefined : completedBy(history).at(-1);
    const worker = last === undefined ? undefined : workerOf(workers, last);
    if (worker !== undefined) held.set(worker, (held.get(worker) ?? 0) + 1);
  }
  return held;
}
