/** Commands for tests that need the bus to refuse one. */
import type { MessageBus } from '../../services/bus';
import { PAYMENT_COMMAND_SUBJECT } from '../../services/bus';

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
