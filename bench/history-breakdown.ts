/**
 * Where the time of a run goes, read from its event history: how long each workflow task and activity waited for
 * a worker (the engine's hops) and how long it ran (the worker's own work). Read from a sample of runs of each
 * phase, so ours and the ceiling can be compared hop by hop.
 */
import { temporal } from '@temporalio/proto';
import { summarize } from './stats';
import type { LatencySummary } from './stats';

type History = temporal.api.history.v1.IHistory;
type Timestamp = temporal.api.history.v1.IHistoryEvent['eventTime'];
const EventType = temporal.api.enums.v1.EventType;

function toMs(ts: Timestamp): number {
  if (ts === null || ts === undefined) return Number.NaN;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? NaN);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

function eventId(id: temporal.api.history.v1.IHistoryEvent['eventId']): string {
  return String(id ?? '');
}

/** Durations in one history, keyed by hop: `workflow task wait`, `activity screen run`, and so on. */
export function historyDurations(history: History): Map<string, number[]> {
  const durations = new Map<string, number[]>();
  const add = (key: string, ms: number) => {
    if (!Number.isFinite(ms)) return;
    durations.set(key, [...(durations.get(key) ?? []), ms]);
  };
  const at = new Map<string, number>();
  const activityType = new Map<string, string>();
  const events = history.events ?? [];
  for (const event of events) {
    const time = toMs(event.eventTime);
    at.set(eventId(event.eventId), time);
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
        const scheduled = at.get(eventId(event.workflowTaskStartedEventAttributes?.scheduledEventId));
        if (scheduled !== undefined) add('workflow task: wait for a worker', time - scheduled);
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        const started = at.get(eventId(event.workflowTaskCompletedEventAttributes?.startedEventId));
        if (started !== undefined) add('workflow task: run', time - started);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activityType.set(
          eventId(event.eventId),
          event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
        );
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const scheduledId = eventId(event.activityTaskStartedEventAttributes?.scheduledEventId);
        const scheduled = at.get(scheduledId);
        if (scheduled !== undefined) add('activity: wait for a worker', time - scheduled);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const attributes = event.activityTaskCompletedEventAttributes;
        const started = at.get(eventId(attributes?.startedEventId));
        const type = activityType.get(eventId(attributes?.scheduledEventId)) ?? '?';
        if (started !== undefined) add(`activity ${type}: run`, time - started);
        break;
      }
      default:
        break;
    }
  }
  const first = events[0];
  const last = events[events.length - 1];
  if (first && last) add('whole run (first to last event)', toMs(last.eventTime) - toMs(first.eventTime));
  add('events', events.length);
  return durations;
}

/** Summaries per hop over many histories. */
export function breakdown(
  histories: readonly History[],
): Record<string, Pick<LatencySummary, 'count' | 'p50' | 'p95'>> {
  const merged = new Map<string, number[]>();
  for (const history of histories) {
    for (const [key, values] of historyDurations(history))
      merged.set(key, [...(merged.get(key) ?? []), ...values]);
  }
  const result: Record<string, Pick<LatencySummary, 'count' | 'p50' | 'p95'>> = {};
  for (const [key, values] of [...merged].sort(([a], [b]) => a.localeCompare(b))) {
    const { count, p50, p95 } = summarize(values);
    result[key] = { count, p50, p95 };
  }
  return result;
}
