/**
 * Jaeger as the tracing tests run it: on free ports, fed one span over OTLP/HTTP JSON, and read back through the
 * query API by trace id and by service and attribute.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../services/ports';
import {
  JaegerError,
  JaegerErrorCode,
  findTraces,
  getTrace,
  resolveJaeger,
  startJaeger,
} from '../../local/jaeger';
import type { Jaeger, JaegerTrace } from '../../local/jaeger';
import { eventually } from '../support/eventually';

/** How long a span may take to become readable; the poll ends as soon as it is. */
const VISIBLE_WITHIN_MS = 15_000;

let binaryPath: string;
let started: Jaeger | undefined;

/** The Jaeger `before` started. */
function jaeger(): Jaeger {
  assert.ok(started, 'Jaeger did not start');
  return started;
}

before(async () => {
  binaryPath = (await resolveJaeger({ onProgress: (line) => process.stderr.write(`${line}\n`) })).path;
  started = await startJaeger({ binaryPath, otlpHttpPort: await freePort(), queryPort: await freePort() });
});

after(async () => {
  if (started === undefined) return;
  const { pid } = started;
  await started.stop();
  const exit = await started.exited;
  assert.equal(exit.error, undefined);
  assert.throws(
    () => process.kill(pid, 0),
    (error: unknown) => error instanceof Error && 'code' in error && error.code === 'ESRCH',
    'the Jaeger process is gone',
  );
});

describe('the local Jaeger', () => {
  test('stores a span sent over OTLP/HTTP and returns it by trace id and by service and attribute', async () => {
    const { otlpEndpoint, queryUrl } = jaeger();
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const service = `baton-jaeger-test-${randomBytes(4).toString('hex')}`;
    const paymentId = `pay-${randomBytes(4).toString('hex')}`;
    const startMs = Date.now();
    const startNanos = BigInt(startMs) * 1_000_000n;

    assert.equal(await getTrace(queryUrl, traceId), undefined, 'no trace before the span is sent');

    const response = await fetch(`${otlpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
            scopeSpans: [
              {
                scope: { name: 'baton.jaeger-test' },
                spans: [
                  {
                    traceId,
                    spanId,
                    name: 'payment.debit',
                    kind: 1,
                    startTimeUnixNano: String(startNanos),
                    endTimeUnixNano: String(startNanos + 1_500_000n),
                    attributes: [
                      { key: 'payment.id', value: { stringValue: paymentId } },
                      { key: 'payment.attempt', value: { intValue: '2' } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(response.status, 200, await response.text());

    const trace: JaegerTrace = await eventually('the trace', () => getTrace(queryUrl, traceId), {
      timeoutMs: VISIBLE_WITHIN_MS,
    });
    assert.equal(trace.traceID, traceId);
    assert.equal(trace.spans.length, 1);
    const [span] = trace.spans;
    assert.ok(span);
    assert.equal(span.spanID, spanId);
    assert.equal(span.operationName, 'payment.debit');
    assert.deepEqual(span.references, [], 'a root span has no parent');
    assert.equal(span.startTime, startMs * 1000, 'start time in microseconds');
    assert.equal(span.duration, 1500, 'duration in microseconds');
    assert.deepEqual(
      span.tags.find((tag) => tag.key === 'payment.id'),
      { key: 'payment.id', type: 'string', value: paymentId },
    );
    assert.deepEqual(
      span.tags.find((tag) => tag.key === 'payment.attempt'),
      { key: 'payment.attempt', type: 'int64', value: 2 },
    );
    assert.equal(trace.processes[span.processID]?.serviceName, service);

    const found = await eventually(
      'the trace in a search',
      async () => {
        const traces = await findTraces(queryUrl, {
          service,
          tags: { 'payment.id': paymentId },
          lookbackMs: 60 * 60_000,
          limit: 10,
        });
        return traces.length > 0 ? traces : undefined;
      },
      { timeoutMs: VISIBLE_WITHIN_MS },
    );
    assert.deepEqual(
      found.map((each) => each.traceID),
      [traceId],
    );
    assert.deepEqual(
      await findTraces(queryUrl, { service, tags: { 'payment.id': 'pay-other' } }),
      [],
      'a search on another attribute value finds nothing',
    );
  });

  test('refuses to call itself ready when another server holds its query port', async () => {
    const { queryUrl } = jaeger();
    const queryPort = Number(new URL(queryUrl).port);
    await assert.rejects(
      startJaeger({ binaryPath, otlpHttpPort: await freePort(), queryPort }),
      (error: unknown) => error instanceof JaegerError && error.code === JaegerErrorCode.Exited,
    );
    assert.deepEqual(await findTraces(queryUrl, { service: 'nobody' }), [], 'the first Jaeger still answers');
  });
});
