/**
 * The message bus baton talks to other domains through: durable streams of command events (in) and domain events
 * (out), with acknowledgements, redelivery and de-duplication by message id. One small interface, so the NATS
 * JetStream adapter (nats-bus.ts) could be joined by another broker's without touching its callers.
 */

/** Subject of payment command events: another domain asks baton to pay. */
export const PAYMENT_COMMAND_SUBJECT = 'baton.commands.payment.request';
/** Subject of registration command events: another domain asks baton to register a customer. */
export const REGISTRATION_COMMAND_SUBJECT = 'baton.commands.registration.request';
/** Every command subject starts with this. */
export const COMMAND_SUBJECTS = 'baton.commands.>';
/** Every domain event subject starts with this. */
export const EVENT_SUBJECTS = 'baton.events.>';
/** Dead letters: `baton.deadletters.<the subject the command came on, after "baton.">`. */
export const DEAD_LETTER_SUBJECTS = 'baton.deadletters.>';

/** The subject a command that could not be handled is dead-lettered on. */
export function deadLetterSubject(commandSubject: string): string {
  return `baton.deadletters.${commandSubject.replace(/^baton\./, '')}`;
}

/** The streams baton creates, by role. */
export const STREAMS = {
  /** Command events waiting for (or kept after) the command consumer. */
  commands: 'BATON_COMMANDS',
  /** Domain events: a payment's final outcome, a completed registration. */
  events: 'BATON_EVENTS',
  /** Commands that were refused or could not be handled, each with its reason. */
  deadLetters: 'BATON_DEAD_LETTERS',
} as const;
/** One of the stream names in {@link STREAMS}. */
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

/** The durable consumer that turns command events into workflow starts. */
export const COMMAND_CONSUMER = 'baton-command-consumer';

/**
 * How often the bus offers a command before it is judged poison: a command whose handling never answers (the
 * consumer crashes on it, or Temporal refuses it with a permanent error) this many times is dead-lettered.
 */
export const MAX_DELIVER = 5;

/** What the broker said about a publish. */
export interface PublishReceipt {
  stream: string;
  /** Position of the message in its stream. */
  sequence: number;
  /** True when a message with the same id was already in the stream (inside its duplicate window): nothing added. */
  duplicate: boolean;
}

/** A message handed to a consumer; it is redelivered until acknowledged. */
export interface DeliveredMessage {
  subject: string;
  body: Uint8Array;
  headers: Readonly<Record<string, string>>;
  /** Position in its stream. */
  sequence: number;
  /** 1 on the first delivery, then one more on each redelivery. */
  deliveryCount: number;
  /** Done with it: never delivered again. */
  ack(): void;
  /** Not done: deliver it again after `delayMs`. */
  nak(delayMs: number): void;
  /** Still working on it: restart the redelivery timer. */
  inProgress(): void;
}

/** A message as its stream keeps it (for reading streams back: `events`, tests, the fault suite's checks). */
export interface StoredMessage {
  subject: string;
  body: Uint8Array;
  headers: Readonly<Record<string, string>>;
  sequence: number;
  time: Date;
}

/** How to read a stream back. */
export interface ReadOptions {
  /** Keep waiting for new messages after the last one (until the signal aborts). */
  follow?: boolean;
  /** Stops a following read. */
  signal?: AbortSignal;
}

/** The bus, as baton uses it. */
export interface MessageBus {
  /** Creates the streams and the command consumer, or brings their settings up to date; safe on every start. */
  ensureTopology(): Promise<void>;
  /** Publishes `body`; a second publish of the same `messageId` inside the duplicate window adds nothing. */
  publish(
    subject: string,
    body: Uint8Array,
    options: { messageId: string; headers?: Readonly<Record<string, string>> },
  ): Promise<PublishReceipt>;
  /** Takes up to `max` messages of the command consumer, waiting at most `waitMs` for the first. */
  pullCommands(options: { max: number; waitMs: number }): Promise<DeliveredMessage[]>;
  /** Reads a stream from its first message, oldest first. */
  read(stream: StreamName, options?: ReadOptions): AsyncIterable<StoredMessage>;
  /** How many commands wait for the consumer, and how many it holds unacknowledged. */
  commandBacklog(): Promise<{ pending: number; unacknowledged: number }>;
  /** Resolves once the server answered a round trip: the bus is reachable now. */
  ping(): Promise<void>;
  /** Closes the connection after flushing what was published. */
  close(): Promise<void>;
}
