/**
 * Exporting histories and replaying a live namespace, with everything real: a local stack runs payments to the end,
 * the CLI exports their histories as a person would, the Temporal CLI binary exports the same runs for comparison,
 * and `npm run replay` replays them with the code in this checkout.
 */
import { createDataConverter } from '../../temporal/codec';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { formatReplayReport, replayLiveRuns, ReplayResult } from '../../client/cli/replay-main';
import type { LiveReplayReport } from '../../client/cli/replay-main';
import { startPayment } from '../../client/payments';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { bundleWorkflows } from '../../temporal/bundle';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { replayHistories } from '../../temporal/replay';
import { resolveTemporalCli } from '../../local/temporal-cli';
import { PaymentStatus } from '../../workflows/payment-contract';
import type { PaymentRequest } from '../../workflows/payment-contract';
import { runCli } from '../support/cli';
import type { CliRun } from '../support/cli';
import { workflowSpanSinks } from '../../temporal/tracing';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD_TIMEOUT_MS = 120_000;
const run = `${Date.now().toString(36)}`;
const paymentIds = [`hist-${run}-1`, `hist-${run}-2`];

let stack: LocalStack;
let env: NodeJS.ProcessEnv;
let temporalCli: string;
let currentBundle: WorkflowBundleWithSourceMap;
let tempDir: string;
/** Workflow id => run id of each finished payment. */
const finished = new Map<string, string>();

function paymentRequest(paymentId: string): PaymentRequest {
  return {
    paymentId,
    fromAccountId: 'A-1001-EUR',
    amountMinor: 1234,
    currency: 'EUR',
    beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: 'DE89370400440532013000' },
    // The demo's short waits: the stack's bank answers well within them.
    timings: {
      amlReviewTimeoutMs: 5 * 60_000,
      bankStatusTimeoutMs: 30_000,
      bankPollAttempts: 3,
      bankPollIntervalMs: 5_000,
      needsAttentionRecheckMs: 60_000,
    },
  };
}

/** Runs a command with a bounded lifetime; a non-zero exit is a result, not an exception. */
async function runProcess(file: string, args: string[], childEnv: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, {
      cwd: ROOT,
      env: childEnv,
      timeout: CHILD_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

/** `npm run replay -- ...args`, without npm, against the stack. */
function runReplay(...args: string[]): Promise<CliRun> {
  return runProcess(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'client', 'cli', 'replay-main.ts'), ...args],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
    },
  );
}

/** `temporal workflow show ... --output json` from the real Temporal CLI. */
async function temporalShow(workflowId: string): Promise<string> {
  const shown = await runProcess(
    temporalCli,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--address',
      stack.address,
      '--namespace',
      stack.namespace,
      '--output',
      'json',
    ],
    { PATH: process.env.PATH, HOME: tempDir },
  );
  assert.equal(shown.code, 0, `temporal workflow show failed: ${shown.stderr}`);
  return shown.stdout;
}

interface JsonEvent {
  eventId: string;
  eventType: string;
}

function eventsOf(json: string): JsonEvent[] {
  const parsed = JSON.parse(json) as { events: JsonEvent[] };
  assert.ok(Array.isArray(parsed.events) && parsed.events.length > 0, 'the export holds no events');
  return parsed.events.map(({ eventId, eventType }) => ({ eventId, eventType }));
}

before(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'baton-history-'));
  stack = await startLocalStack({ taskQueue: `history-replay-${run}` });
  env = { TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: stack.namespace };
  temporalCli = (await resolveTemporalCli()).path;
  currentBundle = await bundleWorkflows();
  for (const paymentId of paymentIds) {
    const started = await startPayment(stack.client, paymentRequest(paymentId), stack.taskQueue);
    const state = await started.handle.result();
    assert.equal(state.status, PaymentStatus.Settled, `${paymentId} ended ${state.status}`);
    finished.set(started.workflowId, started.runId);
  }
});

after(async () => {
  await stack?.stop();
  if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
});

describe('history export', () => {
  test('exports the same events as the Temporal CLI, and both replay with the current code', async () => {
    const [workflowId] = [...finished][0] ?? assert.fail('no finished payment');
    const ours = await runCli(env, 'history', workflowId);
    assert.equal(ours.code, 0, ours.stderr);
    const theirs = await temporalShow(workflowId);

    assert.deepEqual(eventsOf(ours.stdout), eventsOf(theirs));
    assert.equal(eventsOf(ours.stdout)[0]?.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    // Beyond ids and types: once loaded, both files are the same history, payloads and all.
    assert.deepEqual(historyFromJSON(JSON.parse(ours.stdout)), historyFromJSON(JSON.parse(theirs)));

    for (const [name, json] of [
      ['history command', ours.stdout],
      ['temporal workflow show', theirs],
    ] as const) {
      await assert.doesNotReject(
        Worker.runReplayHistory(
          // Stored histories are encrypted: the replayer reads them with the stack's keys, as the worker does.
          {
            workflowBundle: currentBundle,
            sinks: workflowSpanSinks(undefined),
            dataConverter: createDataConverter(stack.codecKeys),
            replayName: `export-${name}`,
          },
          JSON.parse(json),
          workflowId,
        ),
        `${name} export did not replay`,
      );
    }
  });

  test('writes the history to a file, in new folders, when given --out', async () => {
    const [workflowId, runId] = [...finished][1] ?? assert.fail('no finished payment');
    const paymentId = workflowId.slice('payment:'.length);
    const file = path.join(tempDir, 'exports', 'nested', `${paymentId}.json`);
    const written = await runCli(env, 'history', paymentId, '--run', runId, '--out', file);
    assert.equal(written.code, 0, written.stderr);
    const events = eventsOf(await readFile(file, 'utf8'));
    assert.match(written.stdout, new RegExp(`wrote ${events.length} events of ${workflowId}`));
    assert.ok(written.stdout.includes(file), written.stdout);
    assert.deepEqual(events, eventsOf(await temporalShow(workflowId)));
  });

  test('says so and exits 1 for a workflow that does not exist', async () => {
    const missing = await runCli(env, 'history', `no-such-payment-${run}`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no workflow payment:no-such-payment-\S+ or registration:no-such-payment-/);
    assert.equal(missing.stdout, '');
  });

  test('exits 2 for bad flags, before reaching the server', async () => {
    const unreachable = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    for (const args of [
      ['history'],
      ['history', 'p-1', '--run', 'not-a-run-id'],
      ['history', 'p-1', '--bogus'],
      ['history', 'p-1', 'p-2'],
    ]) {
      const refused = await runCli(unreachable, ...args);
      assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`);
    }
  });
});

describe('npm run replay', () => {
  test('replays every finished payment with the current code and exits 0', async () => {
    const replayed = await runReplay();
    assert.equal(replayed.code, 0, `${replayed.stdout}\n${replayed.stderr}`);
    const lines = replayed.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^WORKFLOW ID\s+RUN\s+TYPE\s+STATUS\s+RESULT/);
    for (const [workflowId, runId] of finished) {
      const row = lines.find((line) => line.startsWith(`${workflowId} `));
      assert.ok(row, `${workflowId} missing from\n${replayed.stdout}`);
      assert.match(row, new RegExp(`^\\S+\\s+${runId.slice(0, 8)}\\s+paymentWorkflow\\s+\\S+\\s+ok$`));
    }
    assert.equal(lines.at(-1), `${finished.size} replayed, ${finished.size} passed, 0 failed`);
    assert.match(replayed.stderr, new RegExp(`fetched ${finished.size}/${finished.size} histories`));
  });

  test('replays nothing and exits 0 when the query matches no run', async () => {
    const replayed = await runReplay('--query', `WorkflowId = 'no-such-workflow-${run}'`, '--json');
    assert.equal(replayed.code, 0, replayed.stderr);
    const report = JSON.parse(replayed.stdout) as LiveReplayReport & { ok: boolean };
    assert.equal(report.ok, true);
    assert.deepEqual(report.runs, []);
    assert.deepEqual(report.summary, { replayed: 0, passed: 0, failed: 0 });

    const text = await runReplay('--query', `WorkflowId = 'no-such-workflow-${run}'`);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^0 replayed, 0 passed, 0 failed$/m);
  });

  test('exits 2 for bad flags and for a query the server cannot parse', async () => {
    for (const args of [
      ['--limit', '0'],
      ['--limit', 'ten'],
      ['--bogus'],
      ['extra'],
      ['--address', 'nohost'],
    ]) {
      const refused = await runReplay(...args);
      assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`);
    }
    const badQuery = await runReplay('--query', 'WorkflowType ==== nonsense');
    assert.equal(badQuery.code, 2, badQuery.stderr);
    assert.match(badQuery.stderr, /refused the query/);
  });
});

describe('replay with changed workflow code', () => {
  let changedBundle: WorkflowBundleWithSourceMap;

  before(async () => {
    // A payment workflow that screens before it debits: the recorded histories scheduled the debit first.
    const workflowsPath = path.join(tempDir, 'reordered-payment.ts');
    await writeFile(
      workflowsPath,
      [
        "import { proxyActivities } from '@temporalio/workflow';",
        'const acts = proxyActivities<Record<string, (input: unknown) => Promise<unknown>>>({',
        "  startToCloseTimeout: '30 seconds',",
        '});',
        'export async function paymentWorkflow(request: { paymentId: string }): Promise<unknown> {',
        '  await acts.debitAccount({ paymentId: request.paymentId });',
        '  return acts.screenBeneficiary({ paymentId: request.paymentId });',
        '}',
        '',
      ].join('\n'),
    );
    changedBundle = await bundleWorkflowCode({
      workflowsPath,
      logger: new DefaultLogger('WARN'),
      // The file lives outside the project: let it (and the bundler's entry point) find the SDK here.
      webpackConfigHook: (config) => ({
        ...config,
        resolve: {
          ...config.resolve,
          modules: [...(config.resolve?.modules ?? []), path.join(ROOT, 'node_modules')],
        },
      }),
    });
  });

  test('reports nondeterminism when a live history is replayed with reordered steps', async () => {
    const [workflowId, runId] = [...finished][0] ?? assert.fail('no finished payment');
    const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const [outcome, ...rest] = await replayHistories(
      [{ workflowId, history, source: `${workflowId}/${runId}` }],
      changedBundle,
    );
    assert.deepEqual(rest, []);
    assert.ok(outcome);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.problem, 'nondeterminism', outcome.message);
  });

  test('lists every run as NONDETERMINISM in the replay table', async () => {
    const report = await replayLiveRuns(stack.client, {
      query: `WorkflowType = 'paymentWorkflow'`,
      workflowBundle: changedBundle,
    });
    assert.deepEqual(report.summary, { replayed: finished.size, passed: 0, failed: finished.size });
    for (const replayed of report.runs) assert.equal(replayed.result, ReplayResult.Nondeterminism);
    const table = formatReplayReport(report);
    for (const workflowId of finished.keys()) {
      assert.match(table, new RegExp(`^${workflowId}\\s.*NONDETERMINISM\\s+\\S`, 'm'));
    }
    assert.match(table, new RegExp(`${finished.size} replayed, 0 passed, ${finished.size} failed$`));
  });
});
