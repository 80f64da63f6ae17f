/**
 * The domain events the workflows publish when a process ends (a payment's final status, a completed
 * registration), through activities, after the ledger effect committed.
 */
import type { EventActivities } from '../activities/events';
import { proxySummarizedActivities, proxySummarizedLocalActivities } from './activity-summary';
import { retryForever } from './retry-presets';

/**
 * The patch that added the events. Runs from before it replay without them (their histories have no such
 * activity) and finish as they always did; a run that reaches its end after the change publishes.
 */
export const DOMAIN_EVENTS = 'domain-events';

// The other domains hear an outcome late rather than never: publishing retries until the bus answers.
/** The publishing activities, each called as `(summary, input)`. */
export const { publishPaymentOutcome, publishRegistrationCompleted } =
  proxySummarizedActivities<EventActivities>({
    startToCloseTimeout: '30 seconds',
    retry: retryForever,
  });

/**
 * The same publishing as local activities, for runs under the payment's lean steps: a publish is short and safe to
 * repeat (the event id is the bus's deduplication key), so it needs no task of its own.
 */
export const { publishPaymentOutcome: publishPaymentOutcomeLocally } =
  proxySummarizedLocalActivities<EventActivities>({
    startToCloseTimeout: '30 seconds',
    retry: retryForever,
  });
