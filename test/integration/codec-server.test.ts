/**
 * Payload encryption end to end: a real Temporal dev server only ever stores ciphertext (inputs, activity data,
 * results and failure messages), clients with the keys read everything back, and the codec server decrypts for the
 * Web UI over real HTTP behind its origin, token and namespace checks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { historyToJSON, JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import type { JSONPayload } from '@temporalio/common/lib/proto-utils';
import { temporal as proto } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import {
  createDataConverter,
  EncryptionCodec,
  FAILURE_CONVERTER_PATH,
  MAX_BODY_BYTES,
  startCodecServer,
} from '../../temporal/codec';
import { generateKey, parseKeyRing } from '../../config/key-ring';
import type { CodecServer } from '../../temporal/codec';
import type { EchoActivities, EchoInput, echoWorkflow, refuseWorkflow } from '../support/codec-workflows';
import { freePort } from '../../services/ports';
import { assertNoTrace } from '../support/traces';
import { startTestTemporal } from '../support/temporal';
import type { TestTemporal } from '../support/temporal';
import { workflowSpanSinks } from '../../temporal/tracing';

const ROOT = path.resolve(__dirname, '..', '..');
const NAME = 'Zoë Privatperson';
const UI_ORIGIN = 'http://localhost:8233';
const TOKEN = 'codec-test-token-0123456789';
const ring = parseKeyRing(`test-1:${generateKey()}`);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to the codec server; resolves with the answer even when the server cuts the upload short. */
function call(
  server: CodecServer,
  method: string,
  urlPath: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] } = {},
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(new URL(urlPath, server.url), { method, headers: options.headers ?? {} });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end(options.body);
  });
}

/** POSTs `{ payloads }` to `/encode` or `/decode` as the Web UI does. */
function postPayloads(
  server: CodecServer,
  operation: 'encode' | 'decode',
  payloads: Payload[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call(server, 'POST', `/${operation}`, {
    headers: { 'content-type': 'application/json', origin: UI_ORIGIN, 'x-namespace': 'default', ...headers },
    body: JSON.stringify({ payloads: payloads.map((payload) => payloadToJSON(payload)) }),
  });
}

function payloadsOf(answer: Answer): Payload[] {
  const parsed = JSON.parse(answer.body) as { payloads: JSONPayload[] };
  return parsed.payloads.map((payload) => JSONToPayload(payload));
}

function errorCode(answer: Answer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

describe('encrypted payloads on a real Temporal server', () => {
  const taskQueue = `codec-test-${process.pid}`;
  const dataConverter = createDataConverter(ring);
  let temporal: TestTemporal;
  let worker: Worker;
  let running: Promise<void>;
  let client: Client;
  let codecServer: CodecServer;

  before(async () => {
    temporal = await startTestTemporal();
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'test', 'support', 'codec-workflows.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    const activities: EchoActivities = { echo: (input) => Promise.resolve(input) };
    worker = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: temporal.client.options.namespace,
      taskQueue,
      workflowBundle,
      sinks: workflowSpanSinks(undefined),
      activities,
      dataConverter,
    });
    running = worker.run();
    client = new Client({
      connection: temporal.client.connection,
      namespace: temporal.client.options.namespace,
      dataConverter,
    });
    codecServer = await startCodecServer({ ring, allowedOrigins: [UI_ORIGIN] });
  });

  after(async () => {
    await codecServer.close();
    worker.shutdown();
    await running;
    await temporal.stop();
  });

  async function rawHistory(workflowId: string): Promise<{ bytes: Buffer; json: string }> {
    // The test's own client has no codec: it sees what the server stores.
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    return {
      bytes: Buffer.from(proto.api.history.v1.History.encode(history).finish()),
      json: historyToJSON(history),
    };
  }

  test('returns the input of a workflow decrypted, while the server stores no trace of it', async () => {
    const input: EchoInput = { name: NAME, note: `IBAN of ${NAME}: DE89 3704 0044 0532 0130 00` };
    const workflowId = `codec-echo-${process.pid}`;
    const result = await client.workflow.execute<typeof echoWorkflow>('echoWorkflow', {
      taskQueue,
      workflowId,
      args: [input],
    });
    assert.deepEqual(result, input);

    const stored = await rawHistory(workflowId);
    for (const secret of [NAME, 'DE89 3704', 'Privatperson']) {
      assertNoTrace(stored.bytes, secret);
      assertNoTrace(stored.json, secret);
    }
    // What the server holds is ciphertext labelled for the codec (base64 of "binary/encrypted" in the JSON).
    assert.ok(stored.json.includes(Buffer.from('binary/encrypted').toString('base64')));
    // A client without the keys cannot read the result.
    await assert.rejects(temporal.client.workflow.getHandle(workflowId).result(), /binary\/encrypted/);
  });

  test('keeps failure messages out of the history and gives them back to clients with the keys', async () => {
    const workflowId = `codec-refuse-${process.pid}`;
    await assert.rejects(
      client.workflow.execute<typeof refuseWorkflow>('refuseWorkflow', {
        taskQueue,
        workflowId,
        args: [{ name: NAME, note: 'none' }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError);
        assert.ok(error.cause instanceof ApplicationFailure);
        assert.equal(error.cause.message, `cannot serve ${NAME}`);
        assert.equal(error.cause.type, 'Refused');
        return true;
      },
    );
    const stored = await rawHistory(workflowId);
    assertNoTrace(stored.bytes, NAME);
    assertNoTrace(stored.json, 'cannot serve');
    assert.match(stored.json, /Encoded failure/);
  });

  test('lets the codec server decrypt a payload straight from the stored history, as the Web UI does', async () => {
    const workflowId = `codec-ui-${process.pid}`;
    const input: EchoInput = { name: NAME, note: 'seen in the UI' };
    await client.workflow.execute<typeof echoWorkflow>('echoWorkflow', {
      taskQueue,
      workflowId,
      args: [input],
    });
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const stored = started?.input?.payloads ?? [];
    assert.equal(stored.length, 1);

    const answer = await postPayloads(codecServer, 'decode', stored);
    assert.equal(answer.status, 200, answer.body);
    const [plain] = payloadsOf(answer);
    assert.ok(plain);
    assert.deepEqual(defaultPayloadConverter.fromPayload(plain), input);
  });
});

describe('codec server over HTTP', () => {
  const codec = new EncryptionCodec(ring);
  const logLines: string[] = [];
  let open: CodecServer;
  let guarded: CodecServer;

  before(async () => {
    open = await startCodecServer({
      ring,
      allowedOrigins: [UI_ORIGIN, 'http://127.0.0.1:8233'],
      log: (line) => logLines.push(line),
    });
    guarded = await startCodecServer({
      ring,
      allowedOrigins: [UI_ORIGIN],
      authToken: TOKEN,
      namespaces: ['payments'],
    });
  });

  after(async () => {
    await open.close();
    await guarded.close();
  });

  test('decodes an encrypted payload to the plain one', async () => {
    const plain = defaultPayloadConverter.toPayload({ name: NAME, amount: 4200 });
    const answer = await postPayloads(open, 'decode', await codec.encode([plain]));
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.headers['content-type'] ?? '', /application\/json/);
    assert.deepEqual((JSON.parse(answer.body) as { payloads: JSONPayload[] }).payloads, [
      payloadToJSON(plain),
    ]);
  });

  test('encodes payloads that decode back to the originals, and passes plain ones through /decode', async () => {
    const plain = [
      defaultPayloadConverter.toPayload({ name: NAME }),
      defaultPayloadConverter.toPayload('second'),
    ];
    const encoded = await postPayloads(open, 'encode', plain);
    assert.equal(encoded.status, 200, encoded.body);
    assertNoTrace(encoded.body, NAME);
    const encrypted = payloadsOf(encoded);
    assert.deepEqual(
      (await codec.decode(encrypted)).map((payload) => defaultPayloadConverter.fromPayload(payload)),
      [{ name: NAME }, 'second'],
    );
    const decoded = await postPayloads(open, 'decode', [...encrypted, ...plain]);
    assert.equal(decoded.status, 200, decoded.body);
    assert.deepEqual(
      payloadsOf(decoded).map((payload) => defaultPayloadConverter.fromPayload(payload)),
      [{ name: NAME }, 'second', { name: NAME }, 'second'],
    );
  });

  test('serves the endpoints under any path prefix and takes an empty body as no payloads', async () => {
    const answer = await call(open, 'POST', '/codec/default/decode', {
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN },
      body: '{}',
    });
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { payloads: [] });
  });

  test('answers a CORS preflight from an allowed origin with the headers the Web UI needs', async () => {
    const answer = await call(open, 'OPTIONS', '/decode', {
      headers: {
        origin: 'http://127.0.0.1:8233',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    assert.equal(answer.status, 204);
    assert.equal(answer.headers['access-control-allow-origin'], 'http://127.0.0.1:8233');
    assert.equal(answer.headers['access-control-allow-methods'], 'POST, OPTIONS');
    assert.equal(answer.headers['access-control-allow-headers'], 'content-type, x-namespace, authorization');
    assert.equal(answer.headers['access-control-allow-credentials'], 'true');
    assert.match(answer.headers.vary ?? '', /Origin/);

    const post = await postPayloads(open, 'decode', []);
    assert.equal(post.headers['access-control-allow-origin'], UI_ORIGIN);
    assert.equal(post.headers['access-control-allow-credentials'], 'true');
  });

  test('refuses a preflight and a POST from any other origin, without CORS headers', async () => {
    const evil = 'http://evil.example:8233';
    const preflight = await call(open, 'OPTIONS', '/decode', {
      headers: { origin: evil, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);

    const post = await postPayloads(
      open,
      'decode',
      await codec.encode([defaultPayloadConverter.toPayload(NAME)]),
      {
        origin: evil,
      },
    );
    assert.equal(post.status, 403);
    assert.equal(errorCode(post), 'origin_not_allowed');
    assert.equal(post.headers['access-control-allow-origin'], undefined);
    assertNoTrace(post.body, NAME);
  });

  test('requires the bearer token when one is configured', async () => {
    const payloads = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const missing = await postPayloads(guarded, 'decode', payloads, { 'x-namespace': 'payments' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    // The browser may read the refusal: an allowed origin still gets its CORS headers.
    assert.equal(missing.headers['access-control-allow-origin'], UI_ORIGIN);
    const wrong = await postPayloads(guarded, 'decode', payloads, {
      'x-namespace': 'payments',
      authorization: `Bearer ${TOKEN}x`,
    });
    assert.equal(wrong.status, 401);
    const basic = await postPayloads(guarded, 'decode', payloads, {
      'x-namespace': 'payments',
      authorization: `Basic ${TOKEN}`,
    });
    assert.equal(basic.status, 401);
    const right = await postPayloads(guarded, 'decode', payloads, {
      'x-namespace': 'payments',
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(right.status, 200, right.body);
  });

  test('refuses a namespace outside the configured list with 403', async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const other = await postPayloads(guarded, 'decode', [], { ...headers, 'x-namespace': 'registrations' });
    assert.equal(other.status, 403);
    assert.equal(errorCode(other), 'namespace_not_allowed');
    const none = await call(guarded, 'POST', '/decode', {
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{"payloads":[]}',
    });
    assert.equal(none.status, 403);
  });

  test('refuses malformed bodies with 400 and a message', async () => {
    const cases = [
      'not json',
      '{"payloads":"all of them"}',
      '{"payloads":[{"data":"***"}]}',
      '{"payloads":[{"metadata":{"encoding":42}}]}',
      '[]',
    ];
    for (const body of cases) {
      const answer = await call(open, 'POST', '/decode', {
        headers: { 'content-type': 'application/json', origin: UI_ORIGIN },
        body,
      });
      assert.equal(answer.status, 400, body);
      const { error } = JSON.parse(answer.body) as { error: { code: string; message: string } };
      assert.ok(error.message.length > 0);
    }
  });

  test('refuses a payload it cannot decrypt with 422 naming the key id, not the data', async () => {
    const stranger = new EncryptionCodec(parseKeyRing(`elsewhere:${generateKey()}`));
    const answer = await postPayloads(
      open,
      'decode',
      await stranger.encode([defaultPayloadConverter.toPayload(NAME)]),
    );
    assert.equal(answer.status, 422);
    assert.match(answer.body, /key \\?"elsewhere\\?" is not in the key ring/);
  });

  test('refuses a body over 1 MiB with 413, with or without a length', async () => {
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const declared = await call(open, 'POST', '/decode', {
      headers: {
        'content-type': 'application/json',
        origin: UI_ORIGIN,
        'content-length': String(big.length),
      },
      body: big,
    });
    assert.equal(declared.status, 413);
    const streamed = await call(open, 'POST', '/decode', {
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN, 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 17 }, () => Buffer.alloc(64 * 1024, 0x20)),
    });
    assert.equal(streamed.status, 413);
  });

  test('answers the health check, 404 elsewhere and 405 for other methods', async () => {
    assert.equal((await call(open, 'GET', '/healthz')).status, 200);
    assert.equal((await call(open, 'GET', '/payloads')).status, 404);
    const get = await call(open, 'GET', '/decode', { headers: { origin: UI_ORIGIN } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST, OPTIONS');
  });

  test('logs each request without payload contents', async () => {
    logLines.length = 0;
    await postPayloads(open, 'encode', [defaultPayloadConverter.toPayload({ name: NAME })]);
    assert.equal(logLines.length, 1);
    assert.match(logLines[0] ?? '', /POST \/encode namespace=default payloads=1 -> 200/);
    assertNoTrace(logLines.join('\n'), NAME);
  });
});

describe('the codec server as its own process', () => {
  function runMain(env: Record<string, string>): ReturnType<typeof spawn> {
    return spawn(process.execPath, ['--import', 'tsx', 'temporal/codec-server-main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  test('stops with exit code 2 naming the variable, without echoing the key', async () => {
    const shortKey = Buffer.alloc(16, 7).toString('base64');
    const child = runMain({ BATON_CODEC_KEYS: `k1:${shortKey}` });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /BATON_CODEC_KEYS: key "k1" must be the base64 of exactly 32 bytes/);
    assert.equal(stderr.includes(shortKey), false);
  });

  test('serves until SIGTERM, then stops cleanly', async () => {
    const port = await freePort();
    const child = runMain({
      BATON_CODEC_KEYS: `k1:${generateKey()}`,
      CODEC_SERVER_PORT: String(port),
      CODEC_AUTH_TOKEN: TOKEN,
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
          if (stdout.includes('listening on')) resolve();
        });
        void exited.then(() => reject(new Error(`the codec server exited early:\n${stdout}`)));
      });
      assert.match(stdout, new RegExp(`listening on http://127\\.0\\.0\\.1:${port} .*bearer token required`));
      assert.equal(stdout.includes(TOKEN), false);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      await health.arrayBuffer();
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
