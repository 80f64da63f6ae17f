/**
 * The registration workflow on a real Temporal dev server, with stubbed activities: every branch, the preference
 * update, and the welcome's fallback from SMS to email.
 */
import { createEventActivities } from '../../activities/events';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { NotificationActivities, SendInput, SendResult } from '../../activities/notifications';
import type { RegistrationActivities } from '../../activities/registration';
import { bundleWorkflows } from '../../temporal/bundle';
import type { registrationWorkflow } from '../../workflows/registration';
import {
  changePreferenceUpdate,
  RegistrationFailureType,
  RegistrationStatus,
  registrationStatusQuery,
  registrationWorkflowId,
} from '../../workflows/registration-contract';
import type { RegistrationRequest } from '../../workflows/registration-contract';
import { startTestTemporal } from '../support/temporal';
import type { TestTemporal } from '../support/temporal';
import { workflowSpanSinks } from '../../temporal/tracing';

type SendMode = SendResult['status'] | 'broken';

interface Behaviour {
  duplicateEmail?: boolean;
  email?: SendMode;
  sms?: SendMode;
  /** Hold the account opening until released, to change the preference meanwhile. */
  holdAccount?: boolean;
}

const TASK_QUEUE = `registration-workflow-test-${process.pid}`;
const behaviours = new Map<string, Behaviour>();
const released = new Set<string>();
const sent: (SendInput & { channel: 'email' | 'sms' })[] = [];
const preferences: { customerId: string; channel: string; phone?: string }[] = [];

const registrationIdOf = (customerId: string) => customerId.replace(/^C-/, '');

const stubRegistration: RegistrationActivities = {
  async createCustomer(input) {
    if (behaviours.get(input.registrationId)?.duplicateEmail) {
      throw ApplicationFailure.nonRetryable('taken', RegistrationFailureType.DuplicateEmail);
    }
    return Promise.resolve({ customerId: `C-${input.registrationId}` });
  },
  async openCustomerAccount({ customerId, currency }) {
    const id = registrationIdOf(customerId);
    while (behaviours.get(id)?.holdAccount && !released.has(id)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { accountId: `A-${id}-${currency}` };
  },
  async setContactPreference(input) {
    preferences.push(input);
    return Promise.resolve();
  },
};

function send(channel: 'email' | 'sms') {
  return async (input: SendInput): Promise<SendResult> => {
    const mode = behaviours.get(registrationIdOf(input.customerId))?.[channel] ?? 'sent';
    if (mode === 'broken') throw ApplicationFailure.nonRetryable(`${channel} provider kept failing`);
    if (mode === 'rejected') return Promise.resolve({ status: 'rejected', reason: 'invalid_number' });
    if (mode === 'in_doubt') return Promise.resolve({ status: 'in_doubt', reason: 'no answer' });
    sent.push({ ...input, channel });
    return Promise.resolve({ status: 'sent', providerId: `${channel}-1` });
  };
}

const stubNotifications: NotificationActivities = {
  sendEmail: send('email'),
  sendSms: send('sms'),
  async contactForAccount() {
    return Promise.resolve({ contact: null });
  },
};

let temporal: TestTemporal;
let worker: Worker;
let running: Promise<void>;
let counter = 0;

function newRequest(overrides: Partial<RegistrationRequest> = {}): RegistrationRequest {
  counter += 1;
  return {
    registrationId: `reg-${process.pid}-${counter}`,
    name: 'Test Person',
    email: `person${counter}@example.com`,
    channel: 'email',
    currency: 'EUR',
    ...overrides,
  };
}

async function register(request: RegistrationRequest, behaviour: Behaviour = {}) {
  behaviours.set(request.registrationId, behaviour);
  return temporal.client.workflow.start<typeof registrationWorkflow>('registrationWorkflow', {
    workflowId: registrationWorkflowId(request.registrationId),
    taskQueue: TASK_QUEUE,
    args: [request],
  });
}

async function until(handle: WorkflowHandle, status: RegistrationStatus) {
  for (let i = 0; i < 300; i++) {
    if ((await handle.query(registrationStatusQuery)).status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`registration never reached ${status}`);
}

const sentTo = (registrationId: string) => sent.filter((m) => m.customerId === `C-${registrationId}`);

before(async () => {
  temporal = await startTestTemporal();
  worker = await Worker.create({
    connection: temporal.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflows(),
    sinks: workflowSpanSinks(undefined),
    activities: { ...stubRegistration, ...stubNotifications, ...createEventActivities({}) },
  });
  running = worker.run();
});

after(async () => {
  worker.shutdown();
  await running;
  await temporal.stop();
});

describe('registration workflow', () => {
  test('creates the customer, opens the account and welcomes by email', async () => {
    const request = newRequest();
    const handle = await register(request);
    const state = await handle.result();
    assert.equal(state.status, RegistrationStatus.Completed);
    assert.equal(state.welcome, 'sent_email');
    assert.equal(state.customerId, `C-${request.registrationId}`);
    assert.equal(state.accountId, `A-${request.registrationId}-EUR`);
    const messages = sentTo(request.registrationId);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]?.key, `registration:${request.registrationId}:welcome`);
    assert.deepEqual(messages[0]?.content, {
      kind: 'welcome',
      customerId: state.customerId,
      accountId: state.accountId,
      currency: 'EUR',
    });
    const described = await handle.describe();
    assert.equal(described.searchAttributes.RegistrationStatus?.[0], 'completed');
    assert.equal(described.searchAttributes.CustomerId?.[0], state.customerId);
  });

  test('welcomes by SMS when the person chose SMS', async () => {
    const request = newRequest({ channel: 'sms', phone: '+4915112345678' });
    const state = await (await register(request)).result();
    assert.equal(state.welcome, 'sent_sms');
    assert.deepEqual(
      sentTo(request.registrationId).map((m) => m.channel),
      ['sms'],
    );
  });

  test('falls back to email when the SMS is refused for good', async () => {
    const request = newRequest({ channel: 'sms', phone: '+15005550001' });
    const state = await (await register(request, { sms: 'rejected' })).result();
    assert.equal(state.welcome, 'fell_back_to_email');
    assert.deepEqual(
      sentTo(request.registrationId).map((m) => m.channel),
      ['email'],
    );
  });

  test('falls back to email when SMS keeps failing until its retries run out', async () => {
    const request = newRequest({ channel: 'sms', phone: '+4915112345678' });
    const state = await (await register(request, { sms: 'broken' })).result();
    assert.equal(state.welcome, 'fell_back_to_email');
  });

  test('records an undeliverable welcome and still completes', async () => {
    const request = newRequest();
    const state = await (await register(request, { email: 'rejected' })).result();
    assert.equal(state.status, RegistrationStatus.Completed);
    assert.equal(state.welcome, 'undeliverable');
    assert.ok(state.accountId);
  });

  test('does not resend an SMS whose fate is in doubt, and records it', async () => {
    const request = newRequest({ channel: 'sms', phone: '+4915112345678' });
    const state = await (await register(request, { sms: 'in_doubt' })).result();
    assert.equal(state.welcome, 'undeliverable');
    assert.equal(sentTo(request.registrationId).length, 0);
  });

  test('rejects a duplicate email without opening an account', async () => {
    const request = newRequest();
    const state = await (await register(request, { duplicateEmail: true })).result();
    assert.equal(state.status, RegistrationStatus.Rejected);
    assert.equal(state.reason, 'duplicate_email');
    assert.equal(state.accountId, undefined);
    assert.equal(sentTo(request.registrationId).length, 0);
  });

  test('rejects invalid input inside the workflow', async () => {
    for (const bad of [
      newRequest({ email: 'not-an-email' }),
      newRequest({ channel: 'sms' }),
      newRequest({ channel: 'sms', phone: '0151 1234' }),
    ]) {
      const state = await (await register(bad)).result();
      assert.equal(state.status, RegistrationStatus.Rejected);
      assert.equal(state.reason, 'invalid');
    }
  });

  test('welcomes on the channel chosen by an update before the welcome', async () => {
    const request = newRequest();
    const handle = await register(request, { holdAccount: true });
    await until(handle, RegistrationStatus.CustomerCreated);
    await assert.rejects(
      handle.executeUpdate(changePreferenceUpdate, { args: [{ channel: 'sms' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /needs a phone/.test(err.cause?.message ?? ''),
    );
    const changed = await handle.executeUpdate(changePreferenceUpdate, {
      args: [{ channel: 'sms', phone: '+4915112345678' }],
    });
    assert.equal(changed.channel, 'sms');
    released.add(request.registrationId);
    const state = await handle.result();
    assert.equal(state.welcome, 'sent_sms');
    assert.ok(preferences.some((p) => p.customerId === `C-${request.registrationId}` && p.channel === 'sms'));
  });

  test('refuses a preference change once the welcome is sent', async () => {
    const request = newRequest();
    const handle = await register(request);
    await handle.result();
    await assert.rejects(handle.executeUpdate(changePreferenceUpdate, { args: [{ channel: 'email' }] }));
  });
});
