/**
 * Events at the edges with everything real: a NATS server with JetStream, the command consumer and the worker on
 * a Temporal dev server, the ledger on PostgreSQL, the CLI run as another domain's system would run it. What is
 * checked is read back from the broker and from Temporal, not from the consumer's own word.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { EVENT_KINDS, PAYMENT_COMMAND_SUBJECT, STREAMS } from '../../services/bus';
import type { StoredMessage, StreamName } from '../../services/bus';
import { openPersonalFields } from '../../services/bus/sealing';
import { startCommandConsumer } from '../../client/command-consumer';
import { createDataConverter } from '../../temporal/codec';
import { listByCorrelation } from '../../client/processes';
import { freePort } from '../../services/ports';
import { paymentWorkflowId } from '../../workflows/payment-contract';
import { contractProblems, loadContract } from '../support/asyncapi';
import { runCli } from '../support/cli';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { eventually } from '../support/eventually';
import { paymentCommand as buildPaymentCommand } from '../support/commands';

const schema = uniqueSchema('events');
let stack: LocalStack;
let env: NodeJS.ProcessEnv;

const IBAN = 'DE89370400440532013000';
const NAME = AML_DEMO_NAMES.clear;

async function readAll(
  stream: StreamName,
): Promise<{ message: StoredMessage; event: Record<string, unknown> }[]> {
  const found = [];
  for await (const message of stack.bus.read(stream)) {
    let event: Record<string, unknown> = {};
    try {
      event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
    } catch {
      // A hostile command that is not JSON: kept in the stream, and read here as raw bytes only.
    }
    found.push({ message, event });
  }
  return found;
}

/** A command consumer of the stack's bus and task queue, starting runs through `client`. */
const consumerOn = (client: Client) =>
  startCommandConsumer({ bus: stack.bus, client, keys: stack.codecKeys, taskQueue: stack.taskQueue });

const eventWithId = (stream: StreamName, id: string) =>
  eventually(`event ${id}`, async () => (await readAll(stream)).find((entry) => entry.event.id === id));

function paymentCommand(paymentId: string, id: string, overrides: Record<string, unknown> = {}): Uint8Array {
  return buildPaymentCommand(stack.codecKeys, { paymentId, eventId: id, data: overrides });
}

async function runExists(paymentId: string): Promise<boolean> {
  try {
    await stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).describe();
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema, bankDelayMs: 200 });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_UI_URL: 'http://ui.test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    NATS_URL: stack.nats.url,
  };
});

after(async () => {
  await stack?.stop();
  await dropSchema(schema);
});

describe('command events in, domain events out', () => {
  test('a command published by the CLI starts a payment that settles, and payment.settled carries the correlation id', async () => {
    const published = await runCli(
      env,
      'publish',
      'pay',
      '--from',
      'A-1001-EUR',
      '--to-name',
      NAME,
      '--to-iban',
      IBAN,
      '--to-country',
      'DE',
      '--amount',
      '12.50',
      '--currency',
      'EUR',
      '--id',
      'ev-settle',
      '--correlation-id',
      'order-42',
      '--json',
    );
    assert.equal(published.code, 0, published.stderr);
    assert.equal((JSON.parse(published.stdout) as { duplicate: boolean }).duplicate, false);
    const settled = await eventWithId(STREAMS.events, 'payment:ev-settle:payment.settled');
    assert.equal(settled.event.type, 'com.baton.payment.settled.v1');
    assert.equal(settled.event.correlationid, 'order-42');
    assert.equal(settled.event.subject, 'ev-settle');
    assert.equal(settled.message.subject, 'baton.events.payment.settled');
    const data = settled.event.data as Record<string, unknown>;
    assert.equal(data.amountMinor, 1250);
    assert.equal(data.status, 'settled');
    // The run, the ledger and the CLI all know the process by the same id.
    const runs = await listByCorrelation(stack.client, 'order-42', {
      limit: 10,
      uiBaseUrl: 'http://ui.test',
    });
    assert.deepEqual(
      runs.map((run) => run.workflowId),
      ['payment:ev-settle'],
    );
    const debit = (await stack.ledger.listTransfers()).find((t) => t.idempotencyKey === 'ev-settle:debit');
    assert.equal(debit?.correlationId, 'order-42');
    const listed = await runCli(env, 'list', '--correlation', 'order-42', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { status: string }[])[0]?.status, 'settled');
    const printed = await runCli(env, 'events');
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /payment\.settled\s+ev-settle\s+correlation=order-42/);
  });

  test('the same command twice is one run: once the stream drops it, once the business id does', async () => {
    const body = paymentCommand('ev-twice', 'cmd-twice-1');
    const first = await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, body, { messageId: 'cmd-twice-1' });
    const again = await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, body, { messageId: 'cmd-twice-1' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    // A publisher that lost track sends the same payment under a new event id: the workflow id still holds.
    const other = paymentCommand('ev-twice', 'cmd-twice-2');
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, other, { messageId: 'cmd-twice-2' });
    await eventWithId(STREAMS.events, 'payment:ev-twice:payment.settled');
    await eventually('the second command handled', async () =>
      (await stack.bus.commandBacklog()).pending === 0 &&
      (await stack.bus.commandBacklog()).unacknowledged === 0
        ? true
        : undefined,
    );
    let runs = 0;
    for await (const _ of stack.client.workflow.list({ query: `WorkflowId = 'payment:ev-twice'` })) runs += 1;
    assert.equal(runs, 1);
    const debits = (await stack.ledger.listTransfers()).filter((t) => t.idempotencyKey === 'ev-twice:debit');
    assert.equal(debits.length, 1);
  });

  // Each case is one command in the stream that the consumer refuses; the contract test below counts on it.
  const hostile: [string, () => Uint8Array, RegExp][] = [
    [
      'not JSON',
      () => Buffer.from('{"specversion": "1.0", "id": "hostile-json"', 'utf8'),
      /^message: not JSON/,
    ],
    [
      'a wrong specversion',
      () =>
        Buffer.from(
          JSON.stringify({
            ...JSON.parse(Buffer.from(paymentCommand('h-spec', 'h-spec')).toString()),
            specversion: '0.3',
          }),
        ),
      /specversion: must be "1\.0"/,
    ],
    [
      'an unknown type',
      () =>
        Buffer.from(
          JSON.stringify({
            ...JSON.parse(Buffer.from(paymentCommand('h-type', 'h-type')).toString()),
            type: 'com.example.refund.v1',
          }),
        ),
      /^type: "com\.example\.refund\.v1" is not one of/,
    ],
    [
      'an unknown envelope field',
      () =>
        Buffer.from(
          JSON.stringify({
            ...JSON.parse(Buffer.from(paymentCommand('h-field', 'h-field')).toString()),
            priority: 'high',
          }),
        ),
      /priority: not a field of the envelope/,
    ],
    [
      'an unknown data field',
      () => paymentCommand('h-data', 'h-data', { urgent: true }),
      /data: unknown field "urgent"/,
    ],
    [
      'a control character',
      () => paymentCommand('h-ctrl', 'h-ctrl', { fromAccountId: 'A-1001-EUR\u0007' }),
      /data\.fromAccountId: holds a control character/,
    ],
    [
      'a float amount',
      () => paymentCommand('h-float', 'h-float', { amountMinor: 12.5 }),
      /data: amountMinor must be a positive whole number/,
    ],
    [
      'an oversized body',
      () => paymentCommand('h-big', 'h-big', { padding: 'x'.repeat(40_000) }),
      /^message: \d+ bytes, more than the 32768 allowed/,
    ],
  ];
  for (const [what, body, reason] of hostile) {
    test(`a command with ${what} is dead-lettered naming the field, and starts nothing`, async () => {
      const bytes = body();
      const id = (() => {
        try {
          return (JSON.parse(Buffer.from(bytes).toString('utf8')) as { id: string }).id;
        } catch {
          return undefined;
        }
      })();
      const receipt = await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, bytes, {
        messageId: `hostile-${what}`,
      });
      const dead = await eventually(`a dead letter of #${receipt.sequence}`, async () =>
        (await readAll(STREAMS.deadLetters)).find(
          (entry) => (entry.event.data as Record<string, unknown>).commandSequence === receipt.sequence,
        ),
      );
      const data = dead.event.data as { reason: string; problems: string[]; commandId?: string };
      assert.ok(
        data.problems.some((problem) => reason.test(problem)),
        `${data.reason} does not match ${String(reason)}`,
      );
      if (id !== undefined) assert.equal(data.commandId, id);
      assert.equal(dead.message.subject, 'baton.deadletters.commands.payment.request');
      const paymentId = id ?? 'none';
      assert.equal(await runExists(paymentId), false);
    });
  }

  test('the consumer goes on consuming after the hostile ones', async () => {
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, paymentCommand('ev-after', 'cmd-after'), {
      messageId: 'cmd-after',
    });
    await eventWithId(STREAMS.events, 'payment:ev-after:payment.settled');
  });

  test('Temporal unreachable holds the command, never dead-letters it; it starts once Temporal answers', async () => {
    await stack.commandConsumer.stop();
    const unreachable = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
      dataConverter: createDataConverter(stack.codecKeys),
    });
    const blind = consumerOn(unreachable);
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, paymentCommand('ev-outage', 'cmd-outage'), {
      messageId: 'cmd-outage',
    });
    await eventually('the command held', () =>
      Promise.resolve(blind.counts.heldForTemporal > 0 ? true : undefined),
    );
    assert.equal(blind.counts.deadLettered, 0);
    assert.equal(await runExists('ev-outage'), false);
    await blind.stop();
    await unreachable.connection.close();
    const healthy = consumerOn(stack.client);
    try {
      await eventWithId(STREAMS.events, 'payment:ev-outage:payment.settled');
      const dead = (await readAll(STREAMS.deadLetters)).filter(
        (entry) => (entry.event.data as Record<string, unknown>).commandId === 'cmd-outage',
      );
      assert.equal(dead.length, 0);
    } finally {
      await healthy.stop();
    }
  });

  test('a registration command completes, and registration.completed carries the customer sealed', async () => {
    const published = await runCli(
      env,
      'publish',
      'register',
      '--name',
      'Grace Hopper',
      '--email',
      'grace.events@example.com',
      '--channel',
      'email',
      '--currency',
      'EUR',
      '--id',
      'ev-reg',
      '--correlation-id',
      'onboarding-7',
    );
    assert.equal(published.code, 0, published.stderr);
    // The consumer of the last test is stopped; another domain's registration is still handled by a new one.
    const consumer = consumerOn(stack.client);
    try {
      const completed = await eventWithId(STREAMS.events, 'registration:ev-reg:registration.completed');
      assert.equal(completed.event.correlationid, 'onboarding-7');
      const data = completed.event.data as Record<string, unknown>;
      assert.equal(data.email, undefined);
      const opened = openPersonalFields(
        stack.codecKeys,
        { type: EVENT_KINDS.registrationCompleted.type, id: 'registration:ev-reg:registration.completed' },
        data,
        EVENT_KINDS.registrationCompleted.personal,
      );
      assert.equal(opened.email, 'grace.events@example.com');
      assert.equal(opened.name, 'Grace Hopper');
      assert.equal(typeof opened.customerId, 'string');
    } finally {
      await consumer.stop();
    }
  });

  test('a payment the bank refuses ends in payment.failed, one without funds in payment.rejected', async () => {
    stack.bank.setScenario('ev-fail', { outcome: 'failed' });
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, paymentCommand('ev-fail', 'cmd-fail'), {
      messageId: 'cmd-fail',
    });
    // A-1002-EUR holds 40.00 EUR.
    const broke = paymentCommand('ev-broke', 'cmd-broke', {
      fromAccountId: 'A-1002-EUR',
      amountMinor: 100_000,
    });
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, broke, { messageId: 'cmd-broke' });
    const consumer = consumerOn(stack.client);
    try {
      const failed = await eventWithId(STREAMS.events, 'payment:ev-fail:payment.failed');
      assert.equal(failed.message.subject, 'baton.events.payment.failed');
      assert.equal((failed.event.data as Record<string, unknown>).status, 'failed');
      const rejected = await eventWithId(STREAMS.events, 'payment:ev-broke:payment.rejected');
      assert.equal(rejected.message.subject, 'baton.events.payment.rejected');
      assert.equal((rejected.event.data as Record<string, unknown>).reason, 'insufficient_funds');
    } finally {
      await consumer.stop();
    }
  });

  test('no name, email, phone or IBAN sits in clear in any stream', async () => {
    const secrets = [NAME, IBAN, 'Grace Hopper', 'grace.events@example.com'];
    for (const stream of Object.values(STREAMS)) {
      for (const { message } of await readAll(stream)) {
        const raw = Buffer.from(message.body).toString('utf8');
        for (const secret of secrets)
          assert.ok(!raw.includes(secret), `${stream} #${message.sequence} holds ${secret}`);
      }
    }
  });

  test('every message of the three streams is what docs/asyncapi.yaml says, and no hostile command is', async () => {
    const contract = await loadContract();
    const deadLetters = await readAll(STREAMS.deadLetters);
    const refused = new Set(
      deadLetters.map((entry) => (entry.event.data as Record<string, unknown>).commandSequence),
    );
    const commands = await readAll(STREAMS.commands);
    const accepted = commands.filter(({ message }) => !refused.has(message.sequence));
    const hostileInStream = commands.filter(({ message }) => refused.has(message.sequence));
    // The consumer's verdict and the document's agree: what it ran conforms, what it refused does not.
    assert.equal(hostileInStream.length, hostile.length);
    assert.ok(accepted.length >= 6, `only ${accepted.length} accepted commands in the stream`);
    for (const { message } of accepted) {
      assert.deepEqual(
        contractProblems(contract, message),
        [],
        `command #${message.sequence} on ${message.subject}`,
      );
    }
    for (const { message } of hostileInStream) {
      assert.notDeepEqual(
        contractProblems(contract, message),
        [],
        `hostile command #${message.sequence} conforms to the document`,
      );
    }
    const events = await readAll(STREAMS.events);
    assert.deepEqual([...new Set(events.map(({ message }) => message.subject))].sort(), [
      'baton.events.payment.failed',
      'baton.events.payment.rejected',
      'baton.events.payment.settled',
      'baton.events.registration.completed',
    ]);
    for (const { message } of [...events, ...deadLetters]) {
      assert.deepEqual(contractProblems(contract, message), [], `${message.subject} #${message.sequence}`);
    }
    assert.equal(deadLetters.length, hostile.length);
  });
});
