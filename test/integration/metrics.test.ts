/**
 * Metrics and health on the real stack: the worker's ops port serves the SDK's own metrics and baton's business
 * metrics in Prometheus's format, `/healthz` and `/readyz` say what they found, and a real Prometheus scraping the
 * worker and the Temporal dev server finds every metric the shipped alert rules name and loads the rules.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { startPayment } from '../../client/payments';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { freePort } from '../../services/ports';
import { resolvePrometheusTool, startPrometheus } from '../../local/prometheus';
import type { RunningPrometheus } from '../../local/prometheus';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { installWorkerRuntime } from '../../temporal/runtime';
import { BUSINESS_METRICS } from '../../workflows/metrics';
import { PaymentStatus } from '../../workflows/payment-contract';
import type { paymentWorkflow } from '../../workflows/payment';
import { runCli } from '../support/cli';
import { publishMalformedPaymentCommand } from '../support/commands';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { eventually } from '../support/eventually';

const RULES_FILE = path.resolve(__dirname, '../../deploy/prometheus/alerts.yml');
const schema = uniqueSchema('metrics');
const tag = Date.now().toString(36);
let stack: LocalStack;
let opsUrl: string;
let prometheus: RunningPrometheus | undefined;
let promDir: string | undefined;

/** The samples of `name` in a Prometheus text exposition, each with its labels. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ''] = pair[2] ?? '';
    }
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}

const scrape = async () => (await fetch(`${opsUrl}/metrics`)).text();

// Words of PromQL that are not metric names.
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

/**
 * Every metric name the alert rules' expressions use: what is left of each expression once label matchers, grouping
 * lists, ranges and function calls are taken out.
 */
function metricsTheRulesName(): string[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  const names = doc.groups.flatMap((g) =>
    g.rules.flatMap((r) => {
      const bare = r.expr
        .replace(/\{[^}]*\}/g, ' ')
        .replace(/\[[^\]]*\]/g, ' ')
        .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
      return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
        .filter((m) => m[2] === undefined && !PROMQL_WORDS.has(m[1] ?? ''))
        .map((m) => m[1] ?? '');
    }),
  );
  return [...new Set(names)].sort();
}

before(async () => {
  // The runtime is the process's: installed with metrics before the stack connects anything.
  installWorkerRuntime({ metricsBindAddress: `127.0.0.1:${await freePort()}` });
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema, bankDelayMs: 50 });
  assert.ok(stack.worker.opsUrl, 'the worker has an ops port');
  opsUrl = stack.worker.opsUrl;
});

after(async () => {
  await prometheus?.stop();
  if (promDir !== undefined) await rm(promDir, { recursive: true, force: true });
  await stack?.stop();
  await dropSchema(schema);
});

describe('the worker ops port', () => {
  test('counts a settled payment under its outcome, with its amount and duration', async () => {
    const paymentId = `metrics-${tag}-settled`;
    const started = await startPayment(
      stack.client,
      {
        paymentId,
        fromAccountId: 'A-1001-EUR',
        amountMinor: 12_34,
        currency: 'EUR',
        beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
      },
      stack.taskQueue,
    );
    const state = await stack.client.workflow
      .getHandle<typeof paymentWorkflow>(started.handle.workflowId)
      .result();
    assert.equal(state.status, PaymentStatus.Settled);

    const text = await scrape();
    const ended = samples(text, BUSINESS_METRICS.paymentsEnded).filter(
      (s) => s.labels.outcome === 'settled' && s.labels.workflowType === 'paymentWorkflow',
    );
    assert.equal(ended.length, 1, `one settled series in:\n${text}`);
    assert.equal(ended[0]?.value, 1);
    const amount = samples(text, BUSINESS_METRICS.paymentAmountMinor).find(
      (s) => s.labels.outcome === 'settled' && s.labels.currency === 'EUR',
    );
    assert.equal(amount?.value, 12_34);
    const started_ = samples(text, BUSINESS_METRICS.paymentsStarted).find((s) => s.labels.currency === 'EUR');
    assert.equal(started_?.value, 1);
    const durations = samples(text, `${BUSINESS_METRICS.paymentDuration}_count`).find(
      (s) => s.labels.outcome === 'settled',
    );
    assert.equal(durations?.value, 1);
    // Its buckets reach from a fast payment to one parked at the bank for a day.
    const buckets = samples(text, `${BUSINESS_METRICS.paymentDuration}_bucket`).map((s) => s.labels.le);
    assert.ok(buckets.includes('0.1') && buckets.includes('86400'), `buckets: ${buckets.join(', ')}`);
    assert.equal(
      samples(text, BUSINESS_METRICS.amlDecisions).find((s) => s.labels.decision === 'clear')?.value,
      1,
    );
    const told = samples(text, BUSINESS_METRICS.notifications).find(
      (s) => s.labels.purpose === 'payment_outcome',
    );
    assert.equal(told?.value, 1);
    // The SDK's own metrics share the page: its activity and workflow task latencies, in seconds.
    assert.ok(samples(text, 'temporal_activity_execution_latency_seconds_count').length > 0);
    assert.ok(samples(text, 'temporal_workflow_task_schedule_to_start_latency_seconds_count').length > 0);
    // Ids and people never become labels.
    assert.doesNotMatch(text, new RegExp(paymentId));
    assert.ok(!text.includes(AML_DEMO_NAMES.clear) && !text.includes('DE89370400440532013000'));
  });

  test('says it is alive and ready, naming each part it checked', async () => {
    const health = await fetch(`${opsUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { live: true });
    const ready = await fetch(`${opsUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      ready: true,
      checks: { worker: 'ok', database: 'ok', bus: 'ok' },
    });
    const unknown = await fetch(`${opsUrl}/nope`);
    assert.equal(unknown.status, 404);
  });
});

describe('a real Prometheus', () => {
  test('scrapes the worker and the dev server, loads the alert rules and finds every metric they name', async () => {
    // What the rules watch, made the way it happens: a dead-lettered command, a run whose type no worker has
    // (its workflow task fails), and a watchdog sweep that sets the findings and backlog gauges.
    const eventId = `metrics-${tag}-malformed`;
    await publishMalformedPaymentCommand(stack.bus, eventId);
    const wedged = `metrics-${tag}-no-such-type`;
    await stack.client.workflow.start('noSuchWorkflow', {
      workflowId: wedged,
      taskQueue: stack.taskQueue,
      args: [],
    });
    await eventually('a failed workflow task counted', async () =>
      samples(await scrape(), 'temporal_workflow_task_execution_failed_total').length > 0 ? true : undefined,
    );
    const env = { TEMPORAL_ADDRESS: stack.address, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema };
    const sweep = await runCli(env, 'watchdog', 'run', '--json');
    assert.equal(sweep.code, 0, sweep.stderr);
    await stack.client.workflow.getHandle(wedged).terminate('test over');

    const temporalMetricsUrl = stack.devServer?.metricsUrl;
    assert.ok(temporalMetricsUrl, 'the dev server serves metrics');
    const hostPort = (url: string) => new URL(url).host;
    promDir = await mkdtemp(path.join(os.tmpdir(), 'baton-prometheus-'));
    prometheus = await startPrometheus({
      binaryPath: await resolvePrometheusTool('prometheus'),
      port: await freePort(),
      dataDir: promDir,
      jobs: { 'baton-worker': [hostPort(opsUrl)], temporal: [hostPort(temporalMetricsUrl)] },
      ruleFiles: [RULES_FILE],
    });
    const prom = prometheus;

    await eventually('both targets up', async () => {
      const up = await prom.query('up == 1');
      const jobs = new Set(up.map((s) => s.metric.job));
      return jobs.has('baton-worker') && jobs.has('temporal') ? true : undefined;
    });
    // The dev server's own metrics, from its own job.
    const server = await prom.query('count({job="temporal"})');
    assert.ok(Number(server[0]?.value[1] ?? 0) > 0, 'the dev server exports metrics');

    const names = metricsTheRulesName();
    // The rules watch the worker and the server alike.
    assert.ok(names.includes('baton_watchdog_open_findings'), names.join(', '));
    assert.ok(names.includes('temporal_workflow_task_execution_failed_total'), names.join(', '));
    assert.ok(names.includes('persistence_latency_bucket'), names.join(', '));
    let absent = names;
    await eventually('every metric the rules name', async () => {
      const still: string[] = [];
      for (const name of absent) if ((await prom.query(`count(${name})`)).length === 0) still.push(name);
      absent = still;
      return absent.length === 0 ? true : undefined;
    }).catch((error: unknown) => assert.fail(`${String(error)}; never seen: ${absent.join(', ')}`));

    // The rules loaded, and each evaluates without error against the real series.
    const rules = await eventually('rules evaluated', async () => {
      const res = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = res.data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    assert.deepEqual(
      rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`),
      [],
    );
  });
});
