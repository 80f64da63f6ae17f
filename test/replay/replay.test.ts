/**
 * Every checked-in history, replayed by the current workflow code. A change that would break a run in flight —
 * reordered steps, a removed timer, a new activity without a patch — fails here, naming the fixture and the event
 * where the code and the history part ways. The negative test proves the gate catches exactly that.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../temporal/codec';
import { bundleWorkflows, WORKFLOWS_PATH } from '../../temporal/bundle';
import { quietWorkerRuntime } from '../../temporal/runtime';
import { replayHistories } from '../../temporal/replay';
import type { HistoryToReplay } from '../../temporal/replay';
import { PAYMENT_REVISION } from '../../workflows/payment-contract';
import { HISTORIES_DIR, readManifest } from './record-histories';
import type { FixtureEntry } from './record-histories';

let manifest: FixtureEntry[];

/** Orders revisions as numbers: v10 after v9. */
const byRevision = (a: string, b: string) => Number(a.slice(1)) - Number(b.slice(1));
let current: WorkflowBundleWithSourceMap;

async function load(entry: FixtureEntry): Promise<HistoryToReplay> {
  const history: unknown = JSON.parse(await readFile(path.join(HISTORIES_DIR, entry.file), 'utf8'));
  return { workflowId: entry.workflowId, history, source: entry.file };
}

before(async () => {
  quietWorkerRuntime();
  manifest = await readManifest();
  current = await bundleWorkflows();
});

describe('replaying recorded histories', () => {
  test('has a fixture for every branch of each workflow', () => {
    const branches = new Set(manifest.map((entry) => entry.branch));
    for (const branch of [
      'payment-settled',
      'payment-insufficient-funds',
      'payment-aml-hit',
      'payment-aml-review-approved',
      'payment-aml-review-expired',
      'payment-bank-failed',
      'payment-cancelled',
      'payment-needs-attention',
      'registration-email',
      'registration-sms',
      'registration-sms-fallback',
      'registration-duplicate-email',
      'registration-preference-changed',
      'payment-race-review',
      'payment-race-cancel',
      'payment-race-bank-status',
      'payment-resolution-settled',
      'watchdog-sweep',
    ]) {
      assert.ok(branches.has(branch), `a fixture records ${branch}`);
    }
  });

  test('replays every fixture with the current workflow code, traced and untraced', async () => {
    // A worker that exports no spans runs the bundle without the tracing interceptors: the same histories must
    // replay on it, whichever bundle wrote them.
    const untraced = await bundleWorkflows({ traced: false });
    for (const [name, bundle] of [
      ['traced', current],
      ['untraced', untraced],
    ] as const) {
      const outcomes = await replayHistories(await Promise.all(manifest.map(load)), bundle);
      const failures = outcomes
        .filter((o) => !o.ok)
        .map((o) => `${o.source}: ${o.problem ?? ''}: ${o.message ?? ''}`);
      assert.deepEqual(failures, [], `fixtures that no longer replay (${name}):\n${failures.join('\n')}`);
      assert.equal(outcomes.length, manifest.length);
    }
  });

  test('catches a reordered payment workflow as nondeterministic on every payment fixture', async () => {
    const reordered = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'variants', 'payment-reordered.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    const payments = manifest.filter(
      (entry) => entry.workflowType === 'paymentWorkflow' && entry.revision === 'v1',
    );
    assert.ok(payments.length >= 8);
    const outcomes = await replayHistories(await Promise.all(payments.map(load)), reordered);
    for (const outcome of outcomes) {
      assert.equal(outcome.ok, false, `${outcome.source} should not replay with the reordered code`);
      assert.equal(outcome.problem, 'nondeterminism', `${outcome.source}: ${outcome.message ?? ''}`);
      assert.match(
        outcome.message ?? '',
        /debitAccount|screenBeneficiary/,
        'the message names the diverging step',
      );
    }
  });

  test('needs the message ordering to replay the raced histories of the newest revision with such races', async () => {
    // The same workflow code, bundled without the interceptor that handles messages after the other jobs.
    const unordered = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    // Under the lean steps screening is a local activity, so no screening result races a message in a task of its
    // own: the newest races are of the revision before them, whose runs may still be open when a worker takes over.
    const races = manifest.filter((entry) => /^payment-race-(review|cancel)$/.test(entry.branch));
    const newest = races
      .map((entry) => entry.revision)
      .sort(byRevision)
      .at(-1);
    assert.ok(newest !== undefined && byRevision(newest, PAYMENT_REVISION) <= 0);
    const raced = races.filter((entry) => entry.revision === newest);
    assert.equal(raced.length, 2);
    const outcomes = await replayHistories(await Promise.all(raced.map(load)), unordered);
    for (const outcome of outcomes) {
      assert.equal(outcome.ok, false, `${outcome.source} should not replay without the message ordering`);
      assert.match(outcome.message ?? '', /TMPRL1100/, outcome.source);
    }
  });
});
