/**
 * docs/asyncapi.yaml against the code: it parses as AsyncAPI 3.0.0, it names exactly the subjects and event types
 * baton uses, its enumerations are the code's own, and events built by baton's own functions conform to it while
 * broken ones do not.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { parseKeyRing, LOCAL_DEV_KEYS } from '../../config/key-ring';
import { CORRELATION_ID_PATTERN } from '../../domain/correlation';
import { Channel, DeliveryOutcome } from '../../domain/customer-terms';
import { CURRENCY_EXPONENTS } from '../../domain/money';
import {
  COMMAND_KINDS,
  createCloudEvent,
  deadLetterSubject,
  encodeCloudEvent,
  EVENT_KINDS,
  SEALED_CIPHER,
} from '../../services/bus';
import type { EventKind } from '../../services/bus';
import { RejectionReason } from '../../workflows/payment-contract';
import { contractProblems, describeDiagnostic, errorDiagnostics, loadContract } from '../support/asyncapi';
import type { Contract, ContractChannel } from '../support/asyncapi';

const ring = parseKeyRing(LOCAL_DEV_KEYS);
let contract: Contract;

before(async () => {
  contract = await loadContract();
});

/** Every subject baton publishes or consumes, with the event type it carries there. */
function subjectsOfTheCode(): Map<string, EventKind> {
  const subjects = new Map<string, EventKind>();
  for (const kind of Object.values(EVENT_KINDS)) {
    if (kind === EVENT_KINDS.commandDeadLettered) continue;
    subjects.set(kind.subject, kind);
  }
  // The dead-letter kind names a wildcard; the subjects it is published on are derived from the command subjects.
  for (const command of COMMAND_KINDS)
    subjects.set(deadLetterSubject(command.subject), EVENT_KINDS.commandDeadLettered);
  return subjects;
}

function channelOf(subject: string): ContractChannel {
  const channel = contract.channels.get(subject);
  assert.ok(channel, `no channel for ${subject}`);
  return channel;
}

/** The schema at a dotted path of property names inside a payload schema (`data.currency`). */
function schemaAt(schema: Record<string, unknown>, dotted: string): Record<string, unknown> {
  let at: unknown = schema;
  for (const name of dotted.split('.')) {
    const properties = (at as { properties?: Record<string, unknown> } | undefined)?.properties;
    at = properties?.[name];
    assert.ok(at, `the schema has no property ${dotted}`);
  }
  return at as Record<string, unknown>;
}

function payloadOf(subject: string): Record<string, unknown> {
  const [message, ...more] = channelOf(subject).messages;
  assert.ok(message, `${subject} carries no message`);
  assert.equal(more.length, 0, `${subject} carries more than one message`);
  return message.payload;
}

const sorted = (values: Iterable<unknown>) => [...values].map(String).sort();

describe('the AsyncAPI document', () => {
  test('parses as AsyncAPI 3.0.0 without an error diagnostic', () => {
    assert.deepEqual(errorDiagnostics(contract.diagnostics).map(describeDiagnostic), []);
    assert.equal(contract.document.version(), '3.0.0');
    const protocols = contract.document
      .servers()
      .all()
      .map((server) => server.protocol());
    assert.ok(protocols.length > 0);
    assert.deepEqual([...new Set(protocols)], ['nats']);
  });

  test('has a channel for every subject of the catalog, carrying its event type', () => {
    for (const [subject, kind] of subjectsOfTheCode()) {
      const types = channelOf(subject).messages.map((message) => message.type);
      assert.deepEqual(types, [kind.type], `${subject} should carry ${kind.type}`);
    }
  });

  test('names no subject baton does not use', () => {
    assert.deepEqual(sorted(contract.channels.keys()), sorted(subjectsOfTheCode().keys()));
  });

  test('has baton receive on the command subjects and send on every other', () => {
    const commands = new Set(COMMAND_KINDS.map((kind) => kind.subject));
    for (const [subject, channel] of contract.channels) {
      assert.deepEqual(channel.actions, [commands.has(subject) ? 'receive' : 'send'], subject);
    }
  });

  test('enumerates the currencies, rejection reasons, channels and welcome outcomes of the code', () => {
    const currencies = sorted(Object.keys(CURRENCY_EXPONENTS));
    for (const subject of [
      EVENT_KINDS.paymentRequested.subject,
      EVENT_KINDS.registrationRequested.subject,
      EVENT_KINDS.registrationCompleted.subject,
    ]) {
      assert.deepEqual(sorted(schemaAt(payloadOf(subject), 'data.currency').enum as unknown[]), currencies);
    }
    assert.deepEqual(
      sorted(schemaAt(payloadOf(EVENT_KINDS.paymentRejected.subject), 'data.reason').enum as unknown[]),
      sorted(Object.values(RejectionReason)),
    );
    for (const subject of [
      EVENT_KINDS.registrationRequested.subject,
      EVENT_KINDS.registrationCompleted.subject,
    ]) {
      assert.deepEqual(
        sorted(schemaAt(payloadOf(subject), 'data.channel').enum as unknown[]),
        sorted(Object.values(Channel)),
      );
    }
    assert.deepEqual(
      sorted(
        schemaAt(payloadOf(EVENT_KINDS.registrationCompleted.subject), 'data.welcome').enum as unknown[],
      ),
      sorted(Object.values(DeliveryOutcome)),
    );
    for (const subject of contract.channels.keys()) {
      assert.equal(schemaAt(payloadOf(subject), 'correlationid').pattern, CORRELATION_ID_PATTERN.source);
    }
  });

  test('has the personal fields of a kind travel sealed, and nothing sealed where a kind has none', () => {
    for (const [subject, kind] of subjectsOfTheCode()) {
      const data = schemaAt(payloadOf(subject), 'data');
      const required = (data.required as string[] | undefined) ?? [];
      if (kind.personal.length === 0) {
        assert.equal((data.properties as Record<string, unknown>).sealed, undefined, subject);
        continue;
      }
      assert.ok(required.includes('sealed'), `${subject}: data.sealed is not required`);
      assert.equal(schemaAt(data, 'sealed.cipher').const, SEALED_CIPHER);
      for (const path of kind.personal) {
        // A personal field must not be a property in clear; the strict schema then refuses it.
        const parts = path.split('.');
        const leaf = parts.pop() ?? path;
        const holder = parts.length === 0 ? data : schemaAt(data, parts.join('.'));
        assert.equal(holder.additionalProperties, false, `${subject}: ${path} could slip through in clear`);
        assert.equal((holder.properties as Record<string, unknown>)[leaf], undefined, `${subject}: ${path}`);
      }
    }
  });
});

const PAYMENT_REQUEST = {
  paymentId: 'p-unit-1',
  fromAccountId: 'A-1001-EUR',
  amountMinor: 1250,
  currency: 'EUR',
  beneficiary: { name: 'Jane Roe', country: 'DE', iban: 'DE89370400440532013000' },
};

function paymentCommand(
  data: Record<string, unknown> = PAYMENT_REQUEST,
  kind: EventKind = EVENT_KINDS.paymentRequested,
): Record<string, unknown> {
  return {
    ...createCloudEvent(ring, kind, {
      id: 'cmd-unit-1',
      subject: 'p-unit-1',
      correlationId: 'order-unit-1',
      time: '2025-03-01T10:00:00.000Z',
      source: 'urn:test:disbursement',
      data,
    }),
  };
}

function problemsOn(subject: string, event: unknown, headers?: Record<string, string>): string[] {
  const body = encodeCloudEvent(event as Parameters<typeof encodeCloudEvent>[0]);
  return contractProblems(contract, { subject, body, ...(headers === undefined ? {} : { headers }) });
}

describe('messages against the document', () => {
  test('accepts a payment command and a registration command as baton builds them', () => {
    assert.deepEqual(problemsOn(EVENT_KINDS.paymentRequested.subject, paymentCommand()), []);
    const registration = createCloudEvent(ring, EVENT_KINDS.registrationRequested, {
      id: 'cmd-unit-2',
      subject: 'r-unit-1',
      correlationId: 'onboarding-unit-1',
      time: '2025-03-01T10:00:00+01:00',
      data: {
        registrationId: 'r-unit-1',
        name: 'Grace Hopper',
        email: 'grace@example.com',
        phone: '+4915112345678',
        channel: 'sms',
        currency: 'EUR',
      },
    });
    assert.deepEqual(problemsOn(EVENT_KINDS.registrationRequested.subject, registration), []);
  });

  test('accepts a command without the optional time and datacontenttype, as the consumer does', () => {
    const { time: _time, datacontenttype: _type, ...bare } = paymentCommand();
    assert.deepEqual(problemsOn(EVENT_KINDS.paymentRequested.subject, bare), []);
  });

  test('refuses commands the consumer refuses: wrong specversion, unknown fields, a float amount, timings', () => {
    const subject = EVENT_KINDS.paymentRequested.subject;
    const broken: [string, Record<string, unknown>, RegExp][] = [
      ['specversion 0.3', { ...paymentCommand(), specversion: '0.3' }, /specversion/],
      ['an unknown envelope field', { ...paymentCommand(), priority: 'high' }, /additional properties/],
      ['another type', { ...paymentCommand(), type: 'com.example.refund.v1' }, /\/type/],
      ['an unknown data field', paymentCommand({ ...PAYMENT_REQUEST, urgent: true }), /\/data/],
      [
        'a float amount',
        paymentCommand({ ...PAYMENT_REQUEST, amountMinor: 12.5 }),
        /amountMinor must be integer/,
      ],
      ['timings', paymentCommand({ ...PAYMENT_REQUEST, timings: { bankPollAttempts: 0 } }), /\/data/],
      ['a control character', paymentCommand({ ...PAYMENT_REQUEST, fromAccountId: 'A-1\u0007' }), /pattern/],
      ['no correlation id', { ...paymentCommand(), correlationid: undefined }, /correlationid/],
    ];
    for (const [what, event, expected] of broken) {
      const problems = problemsOn(subject, event);
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `${what}: ${problems.join('; ')}`,
      );
    }
  });

  test('refuses a command whose personal fields travel in clear', () => {
    const clear = paymentCommand(PAYMENT_REQUEST, { ...EVENT_KINDS.paymentRequested, personal: [] });
    const problems = problemsOn(EVENT_KINDS.paymentRequested.subject, clear);
    assert.ok(problems.some((problem) => /beneficiary/.test(problem) && /additional/.test(problem)));
    assert.ok(problems.some((problem) => /sealed/.test(problem)));
  });

  test('accepts payment.settled as the workflow builds it, and refuses it on another subject, without Nats-Msg-Id or with a reason', () => {
    const settled = createCloudEvent(ring, EVENT_KINDS.paymentSettled, {
      id: 'payment:p-unit-1:payment.settled',
      subject: 'p-unit-1',
      correlationId: 'order-unit-1',
      time: '2025-03-01T10:05:00.000Z',
      data: {
        paymentId: 'p-unit-1',
        status: 'settled',
        fromAccountId: 'A-1001-EUR',
        customerId: 'C-1001',
        amountMinor: 1250,
        currency: 'EUR',
        bankReference: 'BANK-1',
        ledger: { debitTransferId: 't-1', settlementTransferId: 't-2' },
      },
    });
    const headers = { 'Nats-Msg-Id': settled.id };
    assert.deepEqual(problemsOn(EVENT_KINDS.paymentSettled.subject, settled, headers), []);
    assert.notDeepEqual(problemsOn(EVENT_KINDS.paymentFailed.subject, settled, headers), []);
    assert.notDeepEqual(problemsOn(EVENT_KINDS.paymentSettled.subject, settled, {}), []);
    assert.notDeepEqual(
      problemsOn(EVENT_KINDS.paymentSettled.subject, {
        ...settled,
        data: { ...settled.data, reason: 'aml_hit' },
      }),
      [],
    );
  });

  test('refuses a subject the document does not name, and a body that is not JSON', () => {
    assert.match(problemsOn('baton.events.payment.refunded', paymentCommand()).join(), /no channel/);
    const problems = contractProblems(contract, {
      subject: EVENT_KINDS.paymentRequested.subject,
      body: Buffer.from('{"specversion": "1.0"'),
    });
    assert.deepEqual(problems, ['body: not JSON']);
  });
});
