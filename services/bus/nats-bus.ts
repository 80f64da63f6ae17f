/**
 * The message bus on NATS JetStream: file-backed streams with a duplicate window (publishes carry `Nats-Msg-Id`),
 * a durable pull consumer for commands with explicit acknowledgement, and ordered consumers to read streams back.
 */
import { readFile } from 'node:fs/promises';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { Consumer, JetStreamClient, JetStreamManager, JsMsg, StreamConfig } from '@nats-io/jetstream';
import { credsAuthenticator, headers as natsHeaders, nanos } from '@nats-io/nats-core';
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { inSpan, SpanKind, traceHeaders } from '../telemetry/tracing';
import {
  COMMAND_CONSUMER,
  COMMAND_SUBJECTS,
  DEAD_LETTER_SUBJECTS,
  EVENT_SUBJECTS,
  MAX_DELIVER,
  STREAMS,
} from './bus';
import type {
  DeliveredMessage,
  MessageBus,
  PublishReceipt,
  ReadOptions,
  StoredMessage,
  StreamName,
} from './bus';

/** Where the bus is and how to authenticate. */
export interface NatsBusOptions {
  /** One or more `nats://host:port` URLs, comma-separated; user and password may sit in the URL. */
  url: string;
  /** A NATS credentials file (JWT and seed), for clusters that use decentralised auth. */
  credsPath?: string;
  /** Name the connection shows in the server's monitoring. */
  name?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Inside this window a second publish of one message id adds nothing: the exactly-once handover of a command (a
 * publisher retrying) and of a domain event (an activity retrying).
 */
export const DUPLICATE_WINDOW_MS = 10 * 60 * 1000;
/** The broker refuses a message larger than this; the command consumer's own limit is lower. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** How long an unacknowledged command waits before it is offered again. */
export const ACK_WAIT_MS = 30_000;

const commonStream = {
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  max_msg_size: MAX_MESSAGE_BYTES,
  num_replicas: 1,
} satisfies Partial<StreamConfig>;

/** Every stream's settings. Limits retention keeps what was consumed, so commands and events can be read back. */
export const STREAM_CONFIGS: readonly (Partial<StreamConfig> & { name: string })[] = [
  { ...commonStream, name: STREAMS.commands, subjects: [COMMAND_SUBJECTS], max_age: nanos(30 * DAY_MS) },
  { ...commonStream, name: STREAMS.events, subjects: [EVENT_SUBJECTS], max_age: nanos(30 * DAY_MS) },
  {
    ...commonStream,
    name: STREAMS.deadLetters,
    subjects: [DEAD_LETTER_SUBJECTS],
    max_age: nanos(90 * DAY_MS),
  },
];

/** Opens a connection that reconnects for as long as the process lives: a broker restart delays, never stops. */
export async function openNatsBus(options: NatsBusOptions): Promise<MessageBus> {
  const servers = options.url
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  const nc = await connect({
    servers,
    name: options.name ?? 'baton',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(options.credsPath === undefined
      ? {}
      : { authenticator: credsAuthenticator(await readFile(options.credsPath)) }),
  });
  return new NatsBus(nc, jetstream(nc), await jetstreamManager(nc));
}

function toRecord(hdrs: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (hdrs === undefined) return record;
  for (const key of hdrs.keys()) record[key] = hdrs.get(key);
  return record;
}

function delivered(msg: JsMsg): DeliveredMessage {
  return {
    subject: msg.subject,
    body: msg.data,
    headers: toRecord(msg.headers),
    sequence: msg.seq,
    deliveryCount: msg.info.deliveryCount,
    ack: () => msg.ack(),
    nak: (delayMs) => msg.nak(delayMs),
    inProgress: () => msg.working(),
  };
}

function isAlreadyInUse(error: unknown): boolean {
  return error instanceof Error && /already in use|already exists/i.test(error.message);
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && /not found/i.test(error.message);
}

class NatsBus implements MessageBus {
  private commandConsumer: Consumer | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  async ensureTopology(): Promise<void> {
    for (const config of STREAM_CONFIGS) {
      const { name } = config;
      const exists = await this.jsm.streams.info(name).then(
        () => true,
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
      if (!exists) {
        // Two workers starting together may both try: the loser updates what the winner created.
        const added = await this.jsm.streams.add(config).then(
          () => true,
          (error: unknown) => {
            if (isAlreadyInUse(error)) return false;
            throw error;
          },
        );
        if (added) continue;
      }
      await this.jsm.streams.update(name, config);
    }
    const consumer = {
      durable_name: COMMAND_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: COMMAND_SUBJECTS,
      ack_wait: nanos(ACK_WAIT_MS),
      // One more than the consumer's own poison limit, so the delivery that finds the limit passed can dead-letter it.
      max_deliver: MAX_DELIVER + 1,
      max_ack_pending: 512,
    };
    await this.jsm.consumers.add(STREAMS.commands, consumer).catch(async (error: unknown) => {
      if (!isAlreadyInUse(error)) throw error;
      await this.jsm.consumers.update(STREAMS.commands, COMMAND_CONSUMER, consumer);
    });
  }

  async publish(
    subject: string,
    body: Uint8Array,
    options: { messageId: string; headers?: Readonly<Record<string, string>> },
  ): Promise<PublishReceipt> {
    return inSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER }, async () => {
      const hdrs = natsHeaders();
      // The trace goes with the message (W3C `traceparent`), so whoever consumes it continues this trace.
      const all = { ...options.headers, ...traceHeaders() };
      for (const [key, value] of Object.entries(all)) hdrs.set(key, value);
      const ack = await this.js.publish(subject, body, { msgID: options.messageId, headers: hdrs });
      return { stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate };
    });
  }

  async pullCommands(options: { max: number; waitMs: number }): Promise<DeliveredMessage[]> {
    this.commandConsumer ??= await this.js.consumers.get(STREAMS.commands, COMMAND_CONSUMER);
    const batch = await this.commandConsumer.fetch({ max_messages: options.max, expires: options.waitMs });
    const messages: DeliveredMessage[] = [];
    for await (const msg of batch) messages.push(delivered(msg));
    return messages;
  }

  async *read(stream: StreamName, options: ReadOptions = {}): AsyncIterable<StoredMessage> {
    const info = await this.jsm.streams.info(stream);
    const lastBefore = info.state.last_seq;
    if (!options.follow && info.state.messages === 0) return;
    const consumer = await this.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    const stop = () => void messages.close();
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      if (options.signal?.aborted) return;
      for await (const msg of messages) {
        yield {
          subject: msg.subject,
          body: msg.data,
          headers: toRecord(msg.headers),
          sequence: msg.seq,
          time: msg.time,
        };
        if (!options.follow && msg.seq >= lastBefore) break;
      }
    } finally {
      options.signal?.removeEventListener('abort', stop);
      await messages.close();
    }
  }

  async commandBacklog(): Promise<{ pending: number; unacknowledged: number }> {
    const info = await this.jsm.consumers.info(STREAMS.commands, COMMAND_CONSUMER);
    return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
  }

  async ping(): Promise<void> {
    await this.nc.rtt();
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain();
  }
}
