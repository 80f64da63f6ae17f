/** Command events as another domain publishes them, for tests: a payment request, and one the bus must refuse. */
import type { KeyRing } from '../../config/key-ring';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import type { MessageBus } from '../../services/bus';
import { createCloudEvent, encodeCloudEvent, EVENT_KINDS, PAYMENT_COMMAND_SUBJECT } from '../../services/bus';

/**
 * The encoded CloudEvent of a payment request: 12.50 EUR from the demo's A-1001-EUR to a beneficiary who screens
 * clear, with correlation id `order-<paymentId>` unless given; `data` replaces or adds fields of the request.
 */
export function paymentCommand(
  keys: KeyRing,
  command: { paymentId: string; eventId: string; correlationId?: string; data?: Record<string, unknown> },
): Uint8Array {
  const { paymentId } = command;
  const event = createCloudEvent(keys, EVENT_KINDS.paymentRequested, {
    id: command.eventId,
    subject: paymentId,
    correlationId: command.correlationId ?? `order-${paymentId}`,
    time: new Date().toISOString(),
    source: 'urn:test:disbursement',
    data: {
      paymentId,
      fromAccountId: 'A-1001-EUR',
      amountMinor: 1250,
      currency: 'EUR',
      beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
      ...command.data,
    },
  });
  return encodeCloudEvent(event);
}

/** Publishes a payment command with no data: the consumer dead-letters it, naming each missing field. */
export async function publishMalformedPaymentCommand(bus: MessageBus, eventId: string): Promise<void> {
  const body = {
    specversion: '1.0',
    id: eventId,
    type: 'com.example.payment.requested',
    source: 'urn:test',
    data: {},
  };
  await bus.publish(PAYMENT_COMMAND_SUBJECT, new TextEncoder().encode(JSON.stringify(body)), {
    messageId: eventId,
  });
}
