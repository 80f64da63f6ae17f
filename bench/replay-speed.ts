/**
 * Replay speed: how many recorded histories per second the current workflow code replays, over the checked-in
 * fixtures of test/replay. Measured two ways: one replay worker fed every history (the SDK's batch replayer), and
 * one worker per history (what `npm run replay` and the replay tests do today).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createDataConverter } from '../temporal/codec';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import { replayHistories } from '../temporal/replay';
import { workflowSpanSinks } from '../temporal/tracing';

/** Where the replay fixtures live. */
export const FIXTURES_DIR = path.join(__dirname, '..', 'test', 'replay', 'histories');

const manifestSchema = z.array(z.object({ file: z.string(), workflowId: z.string() }));

/** Replay throughput over the fixture set. */
export interface ReplaySpeed {
  fixtures: number;
  rounds: number;
  /** Histories per second through one batch replay worker (after one untimed round). */
  perSecond: number;
  /** Histories per second when each history gets a replay worker of its own. */
  perSecondOneWorkerEach: number;
  /** Replays that failed (any is a bug: the fixtures replay in the test suite). */
  failures: number;
}

async function loadFixtures(): Promise<{ workflowId: string; history: unknown; source: string }[]> {
  const manifest = manifestSchema.parse(
    JSON.parse(await readFile(path.join(FIXTURES_DIR, 'manifest.json'), 'utf8')),
  );
  return Promise.all(
    manifest.map(async (entry) => ({
      workflowId: entry.workflowId,
      history: JSON.parse(await readFile(path.join(FIXTURES_DIR, entry.file), 'utf8')) as unknown,
      source: entry.file,
    })),
  );
}

/** Replays the fixtures `rounds` times through one worker, and once with a worker per history. */
export async function measureReplaySpeed(
  bundle: WorkflowBundleWithSourceMap,
  rounds: number,
): Promise<ReplaySpeed> {
  const fixtures = await loadFixtures();
  const dataConverter = createDataConverter(parseKeyRing(LOCAL_DEV_KEYS));
  let failures = 0;

  const batch = async (times: number) => {
    function* histories() {
      for (let round = 0; round < times; round++) {
        for (const fixture of fixtures) yield { workflowId: fixture.workflowId, history: fixture.history };
      }
    }
    const results = Worker.runReplayHistories(
      {
        workflowBundle: bundle,
        dataConverter,
        replayName: 'bench-replay',
        sinks: workflowSpanSinks(undefined),
      },
      histories(),
    );
    let count = 0;
    for await (const result of results) {
      count += 1;
      if (result.error !== undefined) failures += 1;
    }
    return count;
  };

  await batch(1);
  failures = 0;
  const began = performance.now();
  const replayed = await batch(rounds);
  const batchSeconds = (performance.now() - began) / 1000;

  const eachBegan = performance.now();
  const outcomes = await replayHistories(fixtures, bundle);
  const eachSeconds = (performance.now() - eachBegan) / 1000;
  failures += outcomes.filter((o) => !o.ok).length;

  return {
    fixtures: fixtures.length,
    rounds,
    perSecond: Math.round((replayed / batchSeconds) * 10) / 10,
    perSecondOneWorkerEach: Math.round((outcomes.length / eachSeconds) * 10) / 10,
    failures,
  };
}
