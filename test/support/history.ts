/**
 * What a run's history says it did: the activities it ran, regular ones (a scheduled event each) and local ones (a
 * marker each, written by the worker's core with the activity's type in its `data` detail).
 */
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The marker name the SDK's core gives a local activity's result. */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** The type of the local activity a marker records, or undefined when the event is no such marker. */
export function localActivityType(event: HistoryEvent): string | undefined {
  const marker = event.markerRecordedEventAttributes;
  if (marker?.markerName !== LOCAL_ACTIVITY_MARKER) return undefined;
  const data = marker.details?.data?.payloads?.[0]?.data;
  if (data == null) return undefined;
  const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: unknown };
  return typeof parsed.activity_type === 'string' ? parsed.activity_type : undefined;
}

/** The type of the regular activity an event schedules, or undefined. */
export function scheduledActivityType(event: HistoryEvent): string | undefined {
  return event.activityTaskScheduledEventAttributes?.activityType?.name ?? undefined;
}

/** One activity a run ran: its type, how, and the event that scheduled it (regular) or recorded it (local). */
export interface ActivityRun {
  type: string;
  local: boolean;
  eventId: number;
}

/** Every activity the run ran, in history order, regular and local alike. */
export function activitiesRun(history: History): ActivityRun[] {
  return (history.events ?? []).flatMap((event): ActivityRun[] => {
    const eventId = Number(event.eventId ?? 0);
    const scheduled = scheduledActivityType(event);
    if (scheduled !== undefined) return [{ type: scheduled, local: false, eventId }];
    const local = localActivityType(event);
    return local === undefined ? [] : [{ type: local, local: true, eventId }];
  });
}
