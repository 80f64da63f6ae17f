/**
 * The CLI's bus commands: `publish pay|register` hands baton a command event as a disbursement or onboarding system
 * would, and `events` prints the domain events and dead letters, oldest first, `--follow` waiting for more.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/config';
import { createCloudEvent, encodeCloudEvent, EVENT_KINDS, eventKindOf, STREAMS } from '../../services/bus';
import type { EventKind, MessageBus, StoredMessage } from '../../services/bus';
import { busSettingsFrom, openBus } from '../../workers/services';
import { PAYMENT_REQUEST_OPTIONS, paymentRequestFromFlags } from './payment-commands';
import { REGISTRATION_REQUEST_OPTIONS, registrationRequestFromFlags } from './registration-commands';
import { correlationIdFlag, noPositionals, output, parse, traced, UsageError } from './support';

/** Where another domain's commands say they come from, unless `--source` names it. */
const CLI_SOURCE = 'urn:baton:cli';

async function withBus<T>(config: Config, fn: (bus: MessageBus) => Promise<T>): Promise<T> {
  return traced(config, async () => {
    const bus = await openBus({ ...busSettingsFrom(config), name: 'baton-cli' });
    try {
      return await fn(bus);
    } finally {
      await bus.close();
    }
  });
}

/** `publish pay|register <the flags of pay or register> [--event-id <id>] [--source <uri>]`. */
export async function publish(config: Config, args: string[]): Promise<number> {
  const [what, ...rest] = args;
  const extra = { 'event-id': { type: 'string' }, source: { type: 'string' } } as const;
  let kind: EventKind;
  let businessId: string;
  let data: Record<string, unknown>;
  let values: Record<string, string | boolean | undefined>;
  if (what === 'pay') {
    const parsed = parse(rest, { ...PAYMENT_REQUEST_OPTIONS, ...extra });
    noPositionals(parsed.positionals);
    values = parsed.values;
    const request = paymentRequestFromFlags(values);
    [kind, businessId, data] = [EVENT_KINDS.paymentRequested, request.paymentId, { ...request }];
  } else if (what === 'register') {
    const parsed = parse(rest, { ...REGISTRATION_REQUEST_OPTIONS, ...extra });
    noPositionals(parsed.positionals);
    values = parsed.values;
    const request = registrationRequestFromFlags(values);
    [kind, businessId, data] = [EVENT_KINDS.registrationRequested, request.registrationId, { ...request }];
  } else {
    throw new UsageError('publish needs "pay" or "register", then the flags of that command');
  }
  const correlationId = correlationIdFlag(values['correlation-id']);
  const id = typeof values['event-id'] === 'string' ? values['event-id'] : randomUUID();
  const source = typeof values.source === 'string' ? values.source : CLI_SOURCE;
  const event = createCloudEvent(config.codecKeys, kind, {
    id,
    subject: businessId,
    correlationId,
    time: new Date().toISOString(),
    source,
    data,
  });
  return withBus(config, async (bus) => {
    const receipt = await bus.publish(kind.subject, encodeCloudEvent(event), { messageId: id });
    output(values.json === true)(
      [
        `${receipt.duplicate ? 'already in the stream (same event id): ' : 'published '}${kind.type} ` +
          `for ${businessId} on ${kind.subject}`,
        `  event id: ${id}`,
        `  correlation id: ${correlationId}`,
        `  stream: ${receipt.stream} #${receipt.sequence}`,
      ].join('\n'),
      { eventId: id, type: kind.type, subject: businessId, correlationId, ...receipt },
    );
    return 0;
  });
}

/** One stored event as a line: when, what, whose, which process, and the readable part of what it says. */
function eventLine(message: StoredMessage): { text: string; json: unknown } {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
  } catch {
    return { text: `${message.time.toISOString()}  (not JSON) on ${message.subject}`, json: null };
  }
  const type = typeof event.type === 'string' ? event.type : '?';
  const data = (typeof event.data === 'object' && event.data !== null ? event.data : {}) as Record<
    string,
    unknown
  >;
  const short =
    eventKindOf(type) === undefined ? type : type.replace(/^com\.baton\./, '').replace(/\.v\d+$/, '');
  const detail = ['status', 'reason', 'amountMinor', 'currency', 'customerId', 'accountId', 'welcome']
    .filter((field) => data[field] !== undefined && data[field] !== '')
    .map((field) => `${field}=${String(data[field])}`)
    .join(' ');
  const text = [
    message.time.toISOString(),
    short.padEnd(26),
    (typeof event.subject === 'string' ? event.subject : '').padEnd(24),
    `correlation=${typeof event.correlationid === 'string' ? event.correlationid : ''}`,
    typeof data.reason === 'string' && type === EVENT_KINDS.commandDeadLettered.type ? '' : detail,
  ]
    .join('  ')
    .trimEnd();
  const reason =
    type === EVENT_KINDS.commandDeadLettered.type && typeof data.reason === 'string'
      ? `\n    reason: ${data.reason}`
      : '';
  return { text: text + reason, json: event };
}

/** `events [--follow] [--json]`: the domain events and the dead letters. */
export async function events(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    follow: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const json = values.json === true;
  const follow = values.follow === true;
  return withBus(config, async (bus) => {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let printed = 0;
    const show = async (stream: (typeof STREAMS)[keyof typeof STREAMS]) => {
      for await (const message of bus.read(stream, { follow, signal: stop.signal })) {
        const line = eventLine(message);
        console.log(json ? JSON.stringify(line.json) : line.text);
        printed += 1;
      }
    };
    try {
      await Promise.all([show(STREAMS.events), show(STREAMS.deadLetters)]);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (printed === 0 && !json) console.log('no events yet');
    return 0;
  });
}
