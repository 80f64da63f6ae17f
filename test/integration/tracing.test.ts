/**
 * One payment, one trace: on a real stack exporting to a real Jaeger, a settled payment is one trace holding the
 * client's start, the workflow's run, every activity it ran, the ledger's SQL, the bank's HTTP call and the bank
 * webhook's signal (joined to the payment's trace by baton, not by the bank); the worker's /metrics counts it.
 */
// First: the libraries it traces must be patched before anything loads them.
import '../../services/telemetry/instrument';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPayment } from '../../client/payments';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { findTraces, resolveJaeger, startJaeger } from '../../local/jaeger';
import type { Jaeger, JaegerSpan, JaegerTrace } from '../../local/jaeger';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { freePort } from '../../services/ports';
import { startTracing, TRACE_ATTRIBUTES } from '../../services/telemetry/tracing';
import type { Tracing } from '../../services/telemetry/tracing';
import { installWorkerRuntime } from '../../temporal/runtime';
import { BUSINESS_METRICS } from '../../workflows/metrics';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import { PAYMENT_COMMAND_SUBJECT } from '../../services/bus';
import type { paymentWorkflow } from '../../workflows/payment';
import { eventually } from '../support/eventually';
import { activitiesRun } from '../support/history';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { paymentCommand } from '../support/commands';

const schema = uniqueSchema('tracing');
const tag = Date.now().toString(36);
let jaeger: Jaeger;
let tracing: Tracing;
let stack: LocalStack;

function tagOf(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

function names(trace: JaegerTrace): string[] {
  return trace.spans.map((s) => s.operationName);
}

before(async () => {
  const binary = await resolveJaeger({ onProgress: (line) => console.log(line) });
  jaeger = await startJaeger({
    binaryPath: binary.path,
    otlpHttpPort: await freePort(),
    queryPort: await freePort(),
  });
  tracing = startTracing({ serviceName: 'baton-worker', endpoint: jaeger.otlpEndpoint });
  installWorkerRuntime({ metricsBindAddress: `127.0.0.1:${await freePort()}` });
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema, bankDelayMs: 50 });
});

after(async () => {
  await stack?.stop();
  await tracing?.shutdown();
  await jaeger?.stop();
  await dropSchema(schema);
});

describe('tracing', () => {
  test('follows a settled payment from its start through the ledger, the bank and its webhook', async () => {
    const paymentId = `traced-${tag}`;
    const correlationId = `corr-${tag}`;
    const started = await startPayment(
      stack.client,
      {
        paymentId,
        fromAccountId: 'A-1001-EUR',
        amountMinor: 42_00,
        currency: 'EUR',
        beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
      },
      stack.taskQueue,
      correlationId,
    );
    const handle = stack.client.workflow.getHandle<typeof paymentWorkflow>(started.handle.workflowId);
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    const history = await handle.fetchHistory();
    // Regular and local alike: each runs in the worker under a RunActivity span.
    const activityTypes = new Set(activitiesRun(history).map((activity) => activity.type));
    assert.ok(activityTypes.size >= 4, `the payment ran its activities: ${[...activityTypes].join(', ')}`);
    await tracing.flush();

    const expected = [
      'StartWorkflow:paymentWorkflow',
      'RunWorkflow:paymentWorkflow',
      'HandleSignal:bankStatus',
      ...[...activityTypes].map((type) => `RunActivity:${type}`),
    ];
    const trace = await eventually('the payment trace in Jaeger, with every span', async () => {
      const traces = await findTraces(jaeger.queryUrl, {
        service: 'baton-worker',
        tags: { [TRACE_ATTRIBUTES.paymentId]: paymentId },
      });
      const found = traces.find((t) => names(t).includes('StartWorkflow:paymentWorkflow'));
      if (found === undefined) {
        throw new Error(`${traces.length} traces: ${traces.map((t) => names(t).join(' ')).join(' | ')}`);
      }
      const missing = expected.filter((name) => !names(found).includes(name));
      if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} in ${names(found).join(', ')}`);
      return found;
    });

    const spans = trace.spans;
    assert.ok(
      spans.every((s) => s.traceID === trace.traceID),
      'start, run, activities and signal are one trace',
    );
    const start = spans.find((s) => s.operationName === 'StartWorkflow:paymentWorkflow');
    assert.equal(start?.references.length ?? 0, 0, 'the client start is the root');
    assert.equal(tagOf(start as JaegerSpan, TRACE_ATTRIBUTES.correlationId), correlationId);
    const sql = spans.filter((s) => tagOf(s, 'db.system') === 'postgresql');
    assert.ok(sql.length > 0, `PostgreSQL spans in ${names(trace).join(', ')}`);
    assert.ok(
      sql.every((s) => !JSON.stringify(s.tags).includes('DE89370400440532013000')),
      'SQL spans carry statements, never bound values',
    );
    const bankCall = spans.find(
      (s) =>
        tagOf(s, 'span.kind') === 'client' &&
        [tagOf(s, 'url.full'), tagOf(s, 'http.url')].some(
          (url) => typeof url === 'string' && url.includes('/payments'),
        ),
    );
    assert.ok(bankCall, `the bank's HTTP call in ${names(trace).join(', ')}`);
    const webhook = spans.find((s) => s.operationName.startsWith('bank webhook'));
    assert.ok(webhook, 'the webhook joined the payment trace');
    assert.ok(webhook.references.length > 0, 'under the run that started it');
    const activity = spans.find((s) => s.operationName.startsWith('RunActivity:'));
    assert.equal(tagOf(activity as JaegerSpan, TRACE_ATTRIBUTES.paymentId), paymentId);
    assert.equal(tagOf(activity as JaegerSpan, TRACE_ATTRIBUTES.correlationId), correlationId);
    // No personal data in any span.
    const all = JSON.stringify(trace);
    assert.ok(!all.includes(AML_DEMO_NAMES.clear), 'no beneficiary name in the trace');
    assert.ok(!all.includes('DE89370400440532013000'), 'no IBAN in the trace');

    assert.ok(stack.worker.opsUrl);
    const metrics = await (await fetch(`${stack.worker.opsUrl}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`^${BUSINESS_METRICS.paymentsEnded}\\{[^}]*outcome="settled"[^}]*\\} 1$`, 'm'),
      'the scrape counts the payment under its outcome',
    );
  });

  test('continues the trace of the system that published a payment command into the run it starts', async () => {
    const paymentId = `traced-command-${tag}`;
    const eventId = `cmd-${tag}`;
    const body = paymentCommand(stack.codecKeys, {
      paymentId,
      eventId,
      correlationId: `order-${tag}`,
      data: { amountMinor: 7_00 },
    });
    // The publisher's own trace: its publish span is the root of the whole process.
    await stack.bus.publish(PAYMENT_COMMAND_SUBJECT, body, { messageId: eventId });
    const state = await eventually('the commanded payment to settle', async () => {
      try {
        const result = await stack.client.workflow
          .getHandle<typeof paymentWorkflow>(paymentWorkflowId(paymentId))
          .result();
        return result;
      } catch {
        return undefined;
      }
    });
    assert.equal(state.status, PaymentStatus.Settled);
    await tracing.flush();

    const trace = await eventually('the commanded payment trace in Jaeger', async () => {
      const traces = await findTraces(jaeger.queryUrl, {
        service: 'baton-worker',
        tags: { [TRACE_ATTRIBUTES.paymentId]: paymentId },
      });
      const found = traces.find((t) => names(t).includes(`publish ${PAYMENT_COMMAND_SUBJECT}`));
      if (found === undefined) throw new Error(`${traces.length} traces, none from the publish`);
      const needed = [
        `process ${PAYMENT_COMMAND_SUBJECT}`,
        'StartWorkflow:paymentWorkflow',
        'RunWorkflow:paymentWorkflow',
        'HandleSignal:bankStatus',
      ];
      const missing = needed.filter((name) => !names(found).includes(name));
      if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} in ${names(found).join(', ')}`);
      return found;
    });
    const publish = trace.spans.find((s) => s.operationName === `publish ${PAYMENT_COMMAND_SUBJECT}`);
    assert.equal(publish?.references.length ?? 0, 0, 'the publish is the root');
    const consume = trace.spans.find((s) => s.operationName === `process ${PAYMENT_COMMAND_SUBJECT}`);
    assert.equal(consume?.references[0]?.spanID, publish?.spanID, 'the consumer continues the publisher');
    assert.equal(tagOf(consume as JaegerSpan, TRACE_ATTRIBUTES.correlationId), `order-${tag}`);
    assert.ok(!JSON.stringify(trace).includes(AML_DEMO_NAMES.clear), 'no beneficiary name in the trace');
  });
});
