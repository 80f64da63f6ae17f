import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SmsPermanentError, SmsTransientError, TwilioSms } from '../../services/sms';
import { startLocalTwilio } from '../../local/stand-ins/local-twilio';
import type { LocalTwilio } from '../../local/stand-ins/local-twilio';
import { freePort } from '../../services/ports';

const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const FROM = '+15005550006';
const TO = '+14155550123';

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the send to fail');
}

describe('TwilioSms against the local Twilio', () => {
  let server: LocalTwilio;
  let sms: TwilioSms;

  before(async () => {
    server = await startLocalTwilio({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    sms = new TwilioSms({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      apiBaseUrl: server.url,
    });
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => server.clear());

  test('sends a message: returns its sid and the server stores exactly that one message', async () => {
    const result = await sms.send({ to: TO, body: 'Welcome to baton' });
    assert.match(result.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(result.status, 'queued');
    const stored = server.messages();
    assert.equal(stored.length, 1);
    assert.deepEqual(
      { sid: stored[0]?.sid, to: stored[0]?.to, from: stored[0]?.from, body: stored[0]?.body },
      { sid: result.sid, to: TO, from: FROM, body: 'Welcome to baton' },
    );
  });

  test('serves a sent message as a Twilio message resource', async () => {
    const { sid } = await sms.send({ to: TO, body: 'Hello' });
    const response = await fetch(`${server.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${sid}.json`, {
      headers: { authorization: basicAuth(ACCOUNT_SID, AUTH_TOKEN) },
    });
    assert.equal(response.status, 200);
    const message = (await response.json()) as Record<string, unknown>;
    assert.equal(message.sid, sid);
    assert.equal(message.account_sid, ACCOUNT_SID);
    assert.equal(message.to, TO);
    assert.equal(message.from, FROM);
    assert.equal(message.body, 'Hello');
    assert.equal(message.status, 'queued');
    assert.equal(message.direction, 'outbound-api');
    assert.equal(message.api_version, '2010-04-01');
    assert.equal(message.num_segments, '1');
    assert.equal(message.price, null);
    assert.equal(message.error_code, null);
    assert.equal(message.uri, `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${sid}.json`);
    assert.match(String(message.date_created), /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);

    const missing = await fetch(`${server.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SMnope.json`, {
      headers: { authorization: basicAuth(ACCOUNT_SID, AUTH_TOKEN) },
    });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: number }).code, 20404);
  });

  test('sends through a Messaging Service, which Twilio reports as accepted', async () => {
    const viaService = new TwilioSms({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      messagingServiceSid: `MG${'0'.repeat(32)}`,
      apiBaseUrl: server.url,
    });
    const result = await viaService.send({ to: TO, body: 'Hi' });
    assert.equal(result.status, 'accepted');
    assert.equal(server.messages()[0]?.from, null);
    assert.equal(server.messages()[0]?.messagingServiceSid, `MG${'0'.repeat(32)}`);
  });

  const magicNumbers = [
    { to: '+15005550001', reason: 'invalid_number', code: 21211 },
    { to: '+15005550004', reason: 'unsubscribed', code: 21610 },
    { to: '+15005550009', reason: 'not_sms_capable', code: 21614 },
    { to: '+15005550002', reason: 'rejected', code: 21612 },
    { to: '+15005550003', reason: 'rejected', code: 21408 },
    { to: '4155550123', reason: 'invalid_number', code: 21211 },
  ] as const;

  for (const { to, reason, code } of magicNumbers) {
    test(`refuses ${to} for good (${code}, ${reason}) without naming the number`, async () => {
      const error = await rejection(sms.send({ to, body: 'Welcome' }));
      assert.ok(error instanceof SmsPermanentError, String(error));
      assert.equal(error.reason, reason);
      assert.equal(error.twilioCode, code);
      assert.equal(error.httpStatus, 400);
      assert.ok(!error.message.includes(to.replace('+', '')), error.message);
      assert.equal(server.messages().length, 0);
    });
  }

  test('refuses an empty body for good (21602)', async () => {
    const error = await rejection(sms.send({ to: TO, body: ' ' }));
    assert.ok(error instanceof SmsPermanentError);
    assert.equal(error.reason, 'rejected');
    assert.equal(error.twilioCode, 21602);
  });

  test('answers wrong credentials with 401 code 20003, classified transient for an operator to fix', async () => {
    const wrong = new TwilioSms({
      accountSid: ACCOUNT_SID,
      authToken: 'wrong',
      from: FROM,
      apiBaseUrl: server.url,
    });
    const error = await rejection(wrong.send({ to: TO, body: 'Welcome' }));
    assert.ok(error instanceof SmsTransientError);
    assert.equal(error.kind, 'authentication');
    assert.equal(error.httpStatus, 401);
    assert.equal(error.twilioCode, 20003);
    assert.equal(server.messages().length, 0);
  });

  test('two 500s then success gives exactly one SMS: the SDK never resends on its own', async () => {
    server.failNext(2, 500);
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const error = await rejection(sms.send({ to: TO, body: 'Welcome' }));
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.kind, 'provider_error');
      assert.equal(error.httpStatus, 500);
      assert.equal(error.twilioCode, 20500);
      assert.equal(server.messages().length, 0);
    }
    const result = await sms.send({ to: TO, body: 'Welcome' });
    assert.deepEqual(
      server.messages().map((message) => message.sid),
      [result.sid],
    );
  });

  test('a 429 is transient and is not retried inside the SDK', async () => {
    server.failNext(1, 429);
    const error = await rejection(sms.send({ to: TO, body: 'Welcome' }));
    assert.ok(error instanceof SmsTransientError);
    assert.equal(error.kind, 'rate_limited');
    assert.equal(error.httpStatus, 429);
    assert.equal(server.messages().length, 0);
    await sms.send({ to: TO, body: 'Welcome' });
    assert.equal(server.messages().length, 1);
  });

  test('fails every send while told to, until cleared', async () => {
    server.failFor(60_000, 503);
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const error = await rejection(sms.send({ to: TO, body: 'Welcome' }));
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.httpStatus, 503);
    }
    server.clear();
    await sms.send({ to: TO, body: 'Welcome' });
    assert.equal(server.messages().length, 1);
  });

  test('takes failure plans and hands out messages over HTTP when run as its own process', async () => {
    const plan = await fetch(`${server.url}/_local/failures`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 503, count: 1 }),
    });
    assert.equal(plan.status, 204);
    assert.ok((await rejection(sms.send({ to: TO, body: 'Welcome' }))) instanceof SmsTransientError);
    const { sid } = await sms.send({ to: TO, body: 'Welcome' });
    const listed = (await (await fetch(`${server.url}/_local/messages`)).json()) as {
      messages: { sid: string }[];
    };
    assert.deepEqual(
      listed.messages.map((message) => message.sid),
      [sid],
    );
    const bad = await fetch(`${server.url}/_local/failures`, { method: 'POST', body: '{"status":418}' });
    assert.equal(bad.status, 400);
  });

  test('validates the form as Twilio does, with Twilio-shaped error bodies', async () => {
    const post = (
      form: Record<string, string>,
      auth = basicAuth(ACCOUNT_SID, AUTH_TOKEN),
    ): Promise<Response> =>
      fetch(`${server.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
    const cases: { form: Record<string, string>; code: number }[] = [
      { form: { From: FROM, Body: 'x' }, code: 21604 },
      { form: { To: TO, Body: 'x' }, code: 21603 },
      { form: { To: TO, From: FROM }, code: 21602 },
      { form: { To: TO, From: FROM, Body: 'x'.repeat(1601) }, code: 21617 },
    ];
    for (const { form, code } of cases) {
      const response = await post(form);
      assert.equal(response.status, 400);
      const { message, ...rest } = (await response.json()) as Record<string, unknown>;
      assert.equal(typeof message, 'string');
      assert.deepEqual(rest, { code, more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 });
    }
    const unauthenticated = await post({ To: TO, From: FROM, Body: 'x' }, '');
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.headers.get('www-authenticate'), 'Basic realm="Twilio API"');
    assert.deepEqual(await unauthenticated.json(), {
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
    assert.equal(server.messages().length, 0);
  });

  test('never logs a phone number or a message body', async () => {
    const lines: string[] = [];
    const logged = await startLocalTwilio({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      log: (line) => lines.push(line),
    });
    try {
      const client = new TwilioSms({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        from: FROM,
        apiBaseUrl: logged.url,
      });
      await client.send({ to: TO, body: 'secret words' });
      await rejection(client.send({ to: '+15005550001', body: 'secret words' }));
      assert.equal(lines.length, 2);
      for (const line of lines) {
        assert.ok(!/5550001|5550123|5550006|secret/.test(line), line);
      }
    } finally {
      await logged.close();
    }
  });
});

describe('TwilioSms when Twilio cannot be reached', () => {
  test('a closed port is a transient network failure', async () => {
    const port = await freePort();
    const sms = new TwilioSms({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      apiBaseUrl: `http://127.0.0.1:${port}`,
    });
    const error = await rejection(sms.send({ to: TO, body: 'Welcome' }));
    assert.ok(error instanceof SmsTransientError);
    assert.equal(error.kind, 'network');
    assert.equal(error.httpStatus, undefined);
    assert.ok(!error.message.includes(TO.slice(1)));
  });

  test('a server that never answers is a transient timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const { port } = silent.address() as AddressInfo;
      const sms = new TwilioSms({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        from: FROM,
        apiBaseUrl: `http://127.0.0.1:${port}`,
        timeoutMs: 200,
      });
      const error = await rejection(sms.send({ to: TO, body: 'Welcome' }));
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.kind, 'timeout');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('TwilioSms uses one code path for real Twilio and the local stand-in', () => {
  interface Recorded {
    url: string | undefined;
    method: string | undefined;
    authorization: unknown;
    contentType: unknown;
    data: unknown;
  }

  /** Replaces only the socket layer under the SDK's own RequestClient: nothing leaves the process. */
  function recordRequests(sms: TwilioSms): Recorded[] {
    const recorded: Recorded[] = [];
    sms.httpClient.axios.defaults.adapter = (config) => {
      recorded.push({
        url: config.url,
        method: config.method,
        authorization: config.headers.get('Authorization'),
        contentType: config.headers.get('Content-Type'),
        data: config.data,
      });
      const body = { sid: `SM${'1'.repeat(32)}`, status: 'queued', account_sid: ACCOUNT_SID };
      return Promise.resolve({ data: body, status: 201, statusText: 'Created', headers: {}, config });
    };
    return recorded;
  }

  test('without apiBaseUrl the request goes to api.twilio.com; with it, only the origin differs', async () => {
    const options = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM };
    const real = new TwilioSms(options);
    const local = new TwilioSms({ ...options, apiBaseUrl: 'http://127.0.0.1:7310' });
    const realRequests = recordRequests(real);
    const localRequests = recordRequests(local);

    assert.deepEqual(await real.send({ to: TO, body: 'Welcome' }), {
      sid: `SM${'1'.repeat(32)}`,
      status: 'queued',
    });
    await local.send({ to: TO, body: 'Welcome' });

    const path = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
    const expected = {
      method: 'post',
      authorization: basicAuth(ACCOUNT_SID, AUTH_TOKEN),
      contentType: 'application/x-www-form-urlencoded',
      data: new URLSearchParams({ To: TO, From: FROM, Body: 'Welcome' }).toString(),
    };
    assert.deepEqual(realRequests, [{ url: `https://api.twilio.com${path}`, ...expected }]);
    assert.deepEqual(localRequests, [{ url: `http://127.0.0.1:7310${path}`, ...expected }]);
  });
});

describe('local-twilio-main', () => {
  function run(env: Record<string, string>): ReturnType<typeof spawn> {
    return spawn(process.execPath, ['--import', 'tsx', 'local/stand-ins/local-twilio-main.ts'], {
      cwd: `${__dirname}/../..`,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  test('exits with code 2 naming a bad variable', async () => {
    const child = run({ TWILIO_LOCAL_PORT: 'seventy' });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(stderr, /TWILIO_LOCAL_PORT/);
  });

  test('serves the Messages API until SIGTERM, then stops cleanly', async () => {
    const child = run({
      TWILIO_LOCAL_PORT: String(await freePort()),
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    });
    const exited = once(child, 'exit');
    try {
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /listening on (http:\/\/[^\s"]+)/.exec(stdout);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.once('exit', () => reject(new Error(`exited early: ${stdout}`)));
      });
      const sms = new TwilioSms({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        from: FROM,
        apiBaseUrl: url,
      });
      const { sid } = await sms.send({ to: TO, body: 'Welcome' });
      const listed = (await (await fetch(`${url}/_local/messages`)).json()) as {
        messages: { sid: string }[];
      };
      assert.deepEqual(
        listed.messages.map((message) => message.sid),
        [sid],
      );
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  });
});
