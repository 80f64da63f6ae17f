/**
 * The one envelope of every message baton sends or accepts: CloudEvents 1.0 in JSON structured mode, with the
 * initiator's correlation id as the `correlationid` extension. The catalog below names each event type baton
 * knows, its subject and which fields of its `data` are personal (sealed, see sealing.ts).
 */
import { z } from 'zod';
import type { KeyRing } from '../../config/key-ring';
import { CORRELATION_ID_PATTERN } from '../../domain/correlation';
import { PAYMENT_COMMAND_SUBJECT, REGISTRATION_COMMAND_SUBJECT } from './bus';
import { openPersonalFields, SealedBoxError, sealPersonalFields } from './sealing';

/** The CloudEvents version baton speaks. */
export const SPEC_VERSION = '1.0';
/** The only content type of `data`. */
export const JSON_CONTENT_TYPE = 'application/json';
/** Where baton's own events come from. */
export const BATON_SOURCE = 'urn:baton:payments-and-registrations';
/** A command larger than this is dead-lettered unread. */
export const MAX_COMMAND_BYTES = 32 * 1024;

/** A CloudEvent as it travels, `data` already sealed. */
export interface CloudEvent {
  specversion: typeof SPEC_VERSION;
  id: string;
  source: string;
  type: string;
  /** The business id: the payment id, the registration id. */
  subject: string;
  time: string;
  datacontenttype: typeof JSON_CONTENT_TYPE;
  /** The business process this event belongs to, as its initiator named it. */
  correlationid: string;
  /** W3C trace context of the publisher, when it traces. */
  traceparent?: string;
  data: Record<string, unknown>;
}

/** What one event type is: where it travels and which of its fields are personal. */
export interface EventKind {
  type: string;
  subject: string;
  /** Dotted paths into `data` that are sealed. */
  personal: readonly string[];
}

/** Every event type baton publishes or accepts. */
export const EVENT_KINDS = {
  paymentRequested: {
    type: 'com.baton.payment.requested.v1',
    subject: PAYMENT_COMMAND_SUBJECT,
    personal: ['beneficiary.name', 'beneficiary.iban', 'beneficiary.accountNumber'],
  },
  registrationRequested: {
    type: 'com.baton.registration.requested.v1',
    subject: REGISTRATION_COMMAND_SUBJECT,
    personal: ['name', 'email', 'phone'],
  },
  paymentSettled: {
    type: 'com.baton.payment.settled.v1',
    subject: 'baton.events.payment.settled',
    personal: [],
  },
  paymentFailed: {
    type: 'com.baton.payment.failed.v1',
    subject: 'baton.events.payment.failed',
    personal: [],
  },
  paymentRejected: {
    type: 'com.baton.payment.rejected.v1',
    subject: 'baton.events.payment.rejected',
    personal: [],
  },
  paymentCancelled: {
    type: 'com.baton.payment.cancelled.v1',
    subject: 'baton.events.payment.cancelled',
    personal: [],
  },
  registrationCompleted: {
    type: 'com.baton.registration.completed.v1',
    subject: 'baton.events.registration.completed',
    personal: ['name', 'email', 'phone'],
  },
  commandDeadLettered: {
    type: 'com.baton.command.dead-lettered.v1',
    // One subject per command subject: see deadLetterSubject().
    subject: 'baton.deadletters.>',
    personal: [],
  },
} as const satisfies Record<string, EventKind>;

/** The command types the command consumer accepts. */
export const COMMAND_KINDS: readonly EventKind[] = [
  EVENT_KINDS.paymentRequested,
  EVENT_KINDS.registrationRequested,
];

/** The kind of an event type, if baton knows it. */
export function eventKindOf(type: string): EventKind | undefined {
  return Object.values(EVENT_KINDS).find((kind) => kind.type === type);
}

/** Builds an event, sealing the personal fields of `data`. */
export function createCloudEvent(
  ring: KeyRing,
  kind: EventKind,
  fields: {
    id: string;
    subject: string;
    correlationId: string;
    time: string;
    data: Record<string, unknown>;
    source?: string;
    traceparent?: string;
  },
): CloudEvent {
  return {
    specversion: SPEC_VERSION,
    id: fields.id,
    source: fields.source ?? BATON_SOURCE,
    type: kind.type,
    subject: fields.subject,
    time: fields.time,
    datacontenttype: JSON_CONTENT_TYPE,
    correlationid: fields.correlationId,
    ...(fields.traceparent === undefined ? {} : { traceparent: fields.traceparent }),
    data: sealPersonalFields(ring, { type: kind.type, id: fields.id }, fields.data, kind.personal),
  };
}

/** The bytes of an event on the wire. */
export function encodeCloudEvent(event: CloudEvent): Uint8Array {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const text = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), 'must not hold control characters');

const envelopeSchema = z.strictObject({
  specversion: z.literal(SPEC_VERSION, { error: `must be "${SPEC_VERSION}"` }),
  id: text(200),
  source: text(500),
  type: text(200),
  subject: text(200),
  time: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' }).optional(),
  datacontenttype: z.literal(JSON_CONTENT_TYPE, { error: `must be "${JSON_CONTENT_TYPE}"` }).optional(),
  correlationid: z
    .string()
    .regex(CORRELATION_ID_PATTERN, 'must be 1 to 128 letters, digits, ".", "_", ":" or "-"'),
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent')
    .optional(),
  data: z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }),
});

/** An event read off the wire: its envelope, and `data` with the personal fields opened. */
export interface ReceivedEvent {
  envelope: Omit<CloudEvent, 'data'>;
  kind: EventKind;
  data: Record<string, unknown>;
}

/** Why a message is not an event baton can act on; each problem names its field. */
export class EventRejection extends Error {
  override readonly name = 'EventRejection';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

/** Every string in `value` (keys too) that holds a control character, by dotted path. */
function controlCharacterPaths(value: unknown, at: string): string[] {
  if (typeof value === 'string') return CONTROL.test(value) ? [at] : [];
  if (Array.isArray(value))
    return value.flatMap((item, index) => controlCharacterPaths(item, `${at}[${index}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) =>
      CONTROL.test(key) ? [`${at} (a field name)`] : controlCharacterPaths(item, `${at}.${key}`),
    );
  }
  return [];
}

/**
 * Reads a message as one of the `accepted` event kinds: size, JSON, the CloudEvents envelope, the type, control
 * characters anywhere, and the sealed box. Throws {@link EventRejection} naming each field at fault.
 */
export function parseCloudEvent(
  ring: KeyRing,
  body: Uint8Array,
  accepted: readonly EventKind[],
): ReceivedEvent {
  if (body.length > MAX_COMMAND_BYTES) {
    throw new EventRejection([`message: ${body.length} bytes, more than the ${MAX_COMMAND_BYTES} allowed`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new EventRejection(['message: not JSON (CloudEvents structured mode is a JSON object)']);
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    throw new EventRejection(
      parsed.error.issues.map((issue) => {
        if (issue.code === 'unrecognized_keys')
          return `${issue.keys.join(', ')}: not a field of the envelope`;
        const field = issue.path.length === 0 ? 'message' : issue.path.map(String).join('.');
        return `${field}: ${issue.message}`;
      }),
    );
  }
  const { data, ...envelope } = parsed.data;
  const kind = accepted.find((candidate) => candidate.type === envelope.type);
  if (kind === undefined) {
    throw new EventRejection([
      `type: "${envelope.type}" is not one of ${accepted.map((candidate) => candidate.type).join(', ')}`,
    ]);
  }
  const control = controlCharacterPaths(data, 'data');
  if (control.length > 0)
    throw new EventRejection(control.map((path) => `${path}: holds a control character`));
  let opened: Record<string, unknown>;
  try {
    opened = openPersonalFields(ring, { type: kind.type, id: envelope.id }, data, kind.personal);
  } catch (error) {
    if (error instanceof SealedBoxError) throw new EventRejection([error.message]);
    throw error;
  }
  return {
    envelope: {
      ...envelope,
      time: envelope.time ?? new Date().toISOString(),
      datacontenttype: JSON_CONTENT_TYPE,
    },
    kind,
    data: opened,
  };
}
