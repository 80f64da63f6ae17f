/**
 * Registrations with everything real: the dev server, the ledger and customers on the machine's PostgreSQL, a real
 * SMTP conversation with the mail sink, real HTTP from the twilio SDK to the local Twilio server, and the CLI.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { startRegistration } from '../../client/registrations';
import { messageIdFor } from '../../services/mail';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { registrationStatusQuery, registrationWorkflowId } from '../../workflows/registration-contract';
import type { RegistrationRequest, RegistrationState } from '../../workflows/registration-contract';
import { runCli } from '../support/cli';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const schema = uniqueSchema('registration');
let stack: LocalStack;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(env, ...args);

function request(registrationId: string, overrides: Partial<RegistrationRequest> = {}): RegistrationRequest {
  return {
    registrationId,
    name: 'Zoë Müller-Łukasiewicz',
    email: `${registrationId}@example.com`,
    channel: 'email',
    currency: 'EUR',
    ...overrides,
  };
}

async function register(req: RegistrationRequest): Promise<RegistrationState> {
  return (await startRegistration(stack.client, req, stack.taskQueue)).handle.result();
}

const welcomeEmails = (registrationId: string) =>
  stack.mailSink
    .messages()
    .filter((m) => m.messageId === messageIdFor(`registration:${registrationId}:welcome`));
const smsTo = (phone: string) => stack.smsSink.messages().filter((m) => m.to === phone);

before(async () => {
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema, bankDelayMs: 200 });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
  };
});

after(async () => {
  await stack.stop();
  await dropSchema(schema);
});

describe('registrations on the real stack', () => {
  test('welcomes by email over real SMTP, with the name intact in text and HTML', async () => {
    const state = await register(request('rs-email'));
    assert.equal(state.status, 'completed');
    assert.equal(state.welcome, 'sent_email');
    const [mail, ...more] = welcomeEmails('rs-email');
    assert.equal(more.length, 0);
    assert.deepEqual(mail?.to, ['rs-email@example.com']);
    assert.match(mail?.text ?? '', /Zoë Müller-Łukasiewicz/);
    assert.match(mail?.html ?? '', /Zoë Müller-Łukasiewicz/);
    assert.match(mail?.text ?? '', new RegExp(state.accountId ?? 'no account'));
    const account = await stack.ledger.getAccount(state.accountId ?? '');
    assert.equal(account?.customerId, state.customerId);
  });

  test('delivers exactly one welcome when the SMTP server refuses for a while, then accepts', async () => {
    stack.mailSink.refuseUntilCleared();
    const started = await startRegistration(stack.client, request('rs-smtp-down'), stack.taskQueue);
    // Wait until the workflow has tried and been refused at least once.
    for (let i = 0; i < 100; i++) {
      const sends = await stack.sendLog.list();
      if (sends.some((s) => s.key === 'registration:rs-smtp-down:welcome:email' && s.state === 'retryable'))
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(welcomeEmails('rs-smtp-down').length, 0);
    stack.mailSink.acceptAgain();
    const state = await started.handle.result();
    assert.equal(state.welcome, 'sent_email');
    assert.equal(welcomeEmails('rs-smtp-down').length, 1);
    const record = await stack.sendLog.get('registration:rs-smtp-down:welcome:email');
    assert.equal(record?.state, 'accepted');
    assert.ok((record?.attempts ?? 0) >= 2, 'the send was retried');
  });

  test('sends exactly one SMS when Twilio answers 500 twice, then succeeds', async () => {
    stack.smsSink.failNext(2, 500);
    const state = await register(request('rs-sms-500', { channel: 'sms', phone: '+4915100000500' }));
    assert.equal(state.welcome, 'sent_sms');
    assert.equal(smsTo('+4915100000500').length, 1);
    const record = await stack.sendLog.get('registration:rs-sms-500:welcome:sms');
    assert.equal(record?.attempts, 3);
  });

  test('falls back to email for a number Twilio refuses, sending no SMS', async () => {
    const state = await register(request('rs-blocked', { channel: 'sms', phone: '+15005550004' }));
    assert.equal(state.welcome, 'fell_back_to_email');
    assert.equal(smsTo('+15005550004').length, 0);
    assert.equal(welcomeEmails('rs-blocked').length, 1);
  });

  test('rejects a second registration of the same email, whatever its case', async () => {
    await register(request('rs-dup-1', { email: 'Same.Person@Example.com' }));
    const state = await register(request('rs-dup-2', { email: 'same.person@example.COM' }));
    assert.equal(state.status, 'rejected');
    assert.equal(state.reason, 'duplicate_email');
    assert.equal(welcomeEmails('rs-dup-2').length, 0);
  });

  test('registers by SMS from the CLI and waits for the result', async () => {
    const run = await cli(
      'register',
      '--name',
      'Cli Person',
      '--email',
      'cli.person@example.com',
      '--phone',
      '+49 151 2222 3333',
      '--channel',
      'sms',
      '--currency',
      'eur',
      '--id',
      'rs-cli',
      '--wait',
      '--json',
    );
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as RegistrationState & { workflowId: string; uiUrl: string };
    assert.equal(result.status, 'completed');
    assert.equal(result.welcome, 'sent_sms');
    assert.equal(result.workflowId, 'registration:rs-cli');
    assert.match(result.uiUrl, /registration%3Ars-cli/);
    assert.equal(smsTo('+4915122223333').length, 1);
    const shown = await cli('status', 'rs-cli', '--json');
    assert.equal((JSON.parse(shown.stdout) as RegistrationState).welcome, 'sent_sms');
  });

  test('falls back to email from the CLI for an invalid number', async () => {
    const run = await cli(
      'register',
      '--name',
      'Cli Fallback',
      '--email',
      'cli.fallback@example.com',
      '--phone',
      '+15005550001',
      '--channel',
      'sms',
      '--currency',
      'EUR',
      '--id',
      'rs-cli-fallback',
      '--wait',
      '--json',
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as RegistrationState).welcome, 'fell_back_to_email');
  });

  for (const [label, args, message] of [
    [
      'a malformed email',
      ['--email', 'nobody-at-example', '--channel', 'email'],
      /email is not a valid address/,
    ],
    ['a malformed phone', ['--email', 'a@example.com', '--phone', '12345', '--channel', 'sms'], /E\.164/],
    ['SMS without a phone', ['--email', 'a@example.com', '--channel', 'sms'], /SMS needs a phone number/],
    ['an unknown channel', ['--email', 'a@example.com', '--channel', 'pigeon'], /--channel must be/],
  ] as const) {
    test(`refuses ${label} with exit 2 and starts nothing`, async () => {
      const id = `rs-bad-${label.replace(/\W+/g, '-')}`;
      const run = await cli('register', '--name', 'X', ...args, '--currency', 'EUR', '--id', id);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      await assert.rejects(
        stack.client.workflow.getHandle(registrationWorkflowId(id)).describe(),
        WorkflowNotFoundError,
      );
    });
  }

  test('changes the welcome channel from the CLI while the account is being opened, and refuses it after', async () => {
    // A real lock on the ledger's accounts holds the registration between creating the customer and opening the
    // account, which is where a preference change is still accepted.
    const lock = new PgClient({ connectionString: TEST_DATABASE_URL });
    await lock.connect();
    let locked = true;
    try {
      await lock.query('BEGIN');
      await lock.query(`LOCK TABLE "${schema}".accounts IN SHARE ROW EXCLUSIVE MODE`);
      const id = 'rs-cli-preference';
      const started = await startRegistration(stack.client, request(id), stack.taskQueue);
      for (let i = 0; i < 200; i++) {
        const { status } = await started.handle.query(registrationStatusQuery);
        if (status === 'customer_created') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const changed = await cli(
        'change-preference',
        id,
        '--channel',
        'sms',
        '--phone',
        '+4915112345099',
        '--json',
      );
      assert.equal(changed.code, 0, changed.stderr);
      const answer = JSON.parse(changed.stdout) as { channel: string; status: string; uiUrl: string };
      assert.equal(answer.channel, 'sms');
      assert.equal(answer.status, 'customer_created');
      assert.match(answer.uiUrl, /registration%3Ars-cli-preference/);
      await lock.query('COMMIT');
      locked = false;
      const state = await started.handle.result();
      assert.equal(state.welcome, 'sent_sms');
      assert.equal(smsTo('+4915112345099').length, 1);
      assert.equal(welcomeEmails(id).length, 0);

      const late = await cli('change-preference', id, '--channel', 'email');
      assert.equal(late.code, 1);
      assert.match(late.stderr, /change-preference refused: registration rs-cli-preference is completed/);
      const unknown = await cli('change-preference', 'rs-nobody', '--channel', 'email');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no registration with id rs-nobody/);
      const bad = await cli('change-preference', id, '--channel', 'sms', '--phone', '12');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--phone: phone must be in E\.164 form/);
    } finally {
      if (locked) await lock.query('ROLLBACK');
      await lock.end();
    }
  });

  test('refuses an unknown currency with exit 2', async () => {
    const run = await cli(
      'register',
      '--name',
      'X',
      '--email',
      'x@example.com',
      '--channel',
      'email',
      '--currency',
      'XYZ',
    );
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown currency/);
  });
});
