/**
 * The envelope and the sealed box alone, without a broker: what a command must look like to be read, and what a
 * reader refuses, each refusal naming its field.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../../config/key-ring';
import {
  COMMAND_KINDS,
  createCloudEvent,
  encodeCloudEvent,
  EventRejection,
  EVENT_KINDS,
  parseCloudEvent,
} from '../../services/bus';

const keys = parseKeyRing(LOCAL_DEV_KEYS);
const beneficiary = { name: 'Ada Example', country: 'DE', iban: 'DE89370400440532013000' };

function command(id = 'cmd-1'): Record<string, unknown> {
  const event = createCloudEvent(keys, EVENT_KINDS.paymentRequested, {
    id,
    subject: 'p-1',
    correlationId: 'order-1',
    time: '2026-12-03T10:00:00.000Z',
    source: 'urn:test:disbursement',
    data: { paymentId: 'p-1', fromAccountId: 'A-1001-EUR', amountMinor: 1250, currency: 'EUR', beneficiary },
  });
  return JSON.parse(Buffer.from(encodeCloudEvent(event)).toString('utf8')) as Record<string, unknown>;
}

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

function problemsOf(body: Uint8Array): string[] {
  try {
    parseCloudEvent(keys, body, COMMAND_KINDS);
  } catch (error) {
    if (error instanceof EventRejection) return [...error.problems];
    throw error;
  }
  return [];
}

describe('CloudEvents on the bus', () => {
  test('seals the personal fields and gives them back to a reader holding the key ring', () => {
    const wire = command();
    const text = JSON.stringify(wire);
    assert.ok(!text.includes(beneficiary.name) && !text.includes(beneficiary.iban), text);
    const data = wire.data as Record<string, unknown>;
    assert.equal(data.amountMinor, 1250, 'amounts stay readable');
    const read = parseCloudEvent(keys, bytes(wire), COMMAND_KINDS);
    assert.deepEqual(read.data.beneficiary, beneficiary);
    assert.equal(read.envelope.correlationid, 'order-1');
  });

  test('refuses a personal field sent in clear, naming it and not its value', () => {
    const wire = command();
    const data = wire.data as { beneficiary: Record<string, unknown> };
    data.beneficiary.name = beneficiary.name;
    const problems = problemsOf(bytes(wire));
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^data\.beneficiary\.name: personal data travels in data\.sealed/);
    assert.ok(!problems.join(' ').includes(beneficiary.name));
  });

  test('refuses a sealed box moved to another event', () => {
    const moved = { ...command('cmd-2'), data: command('cmd-1').data };
    assert.match(problemsOf(bytes(moved)).join('; '), /data\.sealed failed its integrity check/);
  });

  test('refuses an unknown envelope field, a wrong specversion and a body that is not JSON', () => {
    assert.match(problemsOf(bytes({ ...command(), priority: 'high' })).join('; '), /priority/);
    assert.match(problemsOf(bytes({ ...command(), specversion: '0.3' })).join('; '), /specversion/);
    assert.match(problemsOf(Buffer.from('{"id": ', 'utf8')).join('; '), /^message: not JSON/);
  });
});
