/**
 * Domain events out: the activities that tell the other domains how a payment ended and that a registration
 * completed. The workflow calls them after the ledger effect committed. The event id and the bus message id are
 * both `<workflowId>:<event>`, so a retried activity adds nothing to the stream and a consumer that de-duplicates
 * by id sees each outcome once.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { KeyRing } from '../config/key-ring';
import { createCloudEvent, encodeCloudEvent, EVENT_KINDS } from '../services/bus';
import type { EventKind, MessageBus, PublishReceipt } from '../services/bus';
import { currentCorrelationId } from './correlation';

/** Where domain events go: the bus, and the keys that seal their personal fields. */
export interface EventServices {
  /** Absent on a worker started without a bus (some tests): then no event is published, and the result says so. */
  events?: { bus: MessageBus; keys: KeyRing };
}

/** A payment's final status, as its event names it. */
export type PaymentOutcome = 'settled' | 'failed' | 'rejected' | 'cancelled';

const PAYMENT_KINDS: Record<PaymentOutcome, EventKind> = {
  settled: EVENT_KINDS.paymentSettled,
  failed: EVENT_KINDS.paymentFailed,
  rejected: EVENT_KINDS.paymentRejected,
  cancelled: EVENT_KINDS.paymentCancelled,
};

/** Input of {@link EventActivities.publishPaymentOutcome}: ids, status and amounts only, nothing personal. */
export interface PaymentOutcomeInput {
  workflowId: string;
  /** Workflow time of the outcome. */
  occurredAt: string;
  outcome: PaymentOutcome;
  data: {
    paymentId: string;
    status: PaymentOutcome;
    reason?: string;
    fromAccountId: string;
    customerId?: string;
    amountMinor: number;
    currency: string;
    bankReference?: string;
    ledger: { debitTransferId?: string; settlementTransferId?: string; reversalTransferId?: string };
  };
}

/** Input of {@link EventActivities.publishRegistrationCompleted}; name, email and phone leave sealed. */
export interface RegistrationCompletedInput {
  workflowId: string;
  occurredAt: string;
  data: {
    registrationId: string;
    customerId: string;
    accountId: string;
    currency: string;
    channel: string;
    welcome: string;
    name: string;
    email: string;
    phone?: string;
  };
}

/** What became of a publish. */
export interface PublishResult {
  published: boolean;
  eventId: string;
  /** True when the stream already held this event (an earlier attempt of the activity got it there). */
  duplicate?: boolean;
  sequence?: number;
}

// An event of a run started with no correlation id (before they existed, or by a bare `temporal workflow start`)
// still needs one: its own workflow id names the process.
function correlationFor(workflowId: string): string {
  return currentCorrelationId() ?? workflowId;
}

async function publish(
  services: EventServices,
  kind: EventKind,
  fields: { workflowId: string; event: string; subject: string; time: string; data: Record<string, unknown> },
): Promise<PublishResult> {
  const id = `${fields.workflowId}:${fields.event}`;
  if (services.events === undefined) return { published: false, eventId: id };
  const { bus, keys } = services.events;
  const event = createCloudEvent(keys, kind, {
    id,
    subject: fields.subject,
    correlationId: correlationFor(fields.workflowId),
    time: fields.time,
    data: fields.data,
  });
  let receipt: PublishReceipt;
  try {
    receipt = await bus.publish(kind.subject, encodeCloudEvent(event), { messageId: id });
  } catch (error) {
    // The bus being away is an outage: the activity retries until it is back, and the event is late, not lost.
    throw ApplicationFailure.retryable(
      `could not publish ${kind.type} ${id}: ${error instanceof Error ? error.message : String(error)}`,
      'BusUnavailable',
    );
  }
  return { published: true, eventId: id, duplicate: receipt.duplicate, sequence: receipt.sequence };
}

/** The domain event activities, over the bus. */
export function createEventActivities(services: EventServices) {
  return {
    /** Publishes `payment.<outcome>` for a payment that reached its final status. */
    publishPaymentOutcome(input: PaymentOutcomeInput): Promise<PublishResult> {
      return publish(services, PAYMENT_KINDS[input.outcome], {
        workflowId: input.workflowId,
        event: `payment.${input.outcome}`,
        subject: input.data.paymentId,
        time: input.occurredAt,
        data: input.data,
      });
    },
    /** Publishes `registration.completed`. */
    publishRegistrationCompleted(input: RegistrationCompletedInput): Promise<PublishResult> {
      return publish(services, EVENT_KINDS.registrationCompleted, {
        workflowId: input.workflowId,
        event: 'registration.completed',
        subject: input.data.registrationId,
        time: input.occurredAt,
        data: input.data,
      });
    },
  };
}

/** The domain event activities, as the workflows see them. */
export type EventActivities = ReturnType<typeof createEventActivities>;
