/** The fault suite's measure of how much a fault delayed the runs in flight at it, on made-up run times. */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { FaultKind, FaultLog } from '../faults/harness/faults';
import { Progress } from '../faults/harness/load';
import { LineLog } from '../faults/harness/processes';

const logFile = path.join(os.tmpdir(), `baton-fault-delays-${process.pid}.log`);
const log = new LineLog(logFile);
after(async () => {
  await log.close();
  await rm(logFile, { force: true });
});

/** A scenario whose runs were accepted and ended at the given moments (ms). */
function progressOf(runs: Record<string, [accepted: number, ended: number]>): Progress {
  const progress = new Progress(Object.keys(runs).length);
  for (const [workflowId, [acceptedAt, endedAt]] of Object.entries(runs)) {
    progress.accepted.set(workflowId, acceptedAt);
    progress.markEnded(workflowId, { at: endedAt, status: 'settled' });
  }
  return progress;
}

const kindOf = (workflowId: string) =>
  workflowId.startsWith('payment:') ? 'payment:settle' : 'registration:email';

describe('the delay a fault caused', () => {
  test('compares each run in flight at the fault with the median of the unfaulted runs of its kind', () => {
    const progress = progressOf({
      // Unfaulted: ended before the fault, or accepted after the part answered again.
      'payment:a': [0, 50],
      'payment:b': [10, 70],
      'payment:c': [300, 340],
      // In flight at the fault (down from 100 to 200): 310 and 60 against the usual 50.
      'payment:d': [90, 400],
      'payment:e': [150, 210],
    });
    const faults = new FaultLog(0, { log });
    faults.kill(FaultKind.TemporalSigkill, 100, 200, 2);
    const [recovery] = faults.recoveries(progress, kindOf);
    assert.deepEqual(recovery?.delayed, { runs: 2, p50Ms: 10, maxMs: 260 });
    assert.equal(recovery?.recoveryMs, 10);
    assert.deepEqual(faults.unfaultedRuns(progress), { runs: 3, medianMs: 50 });
  });

  test('takes the usual time of all unfaulted runs for a kind with too few of its own, and counts 0 for a faster run', () => {
    const progress = progressOf({
      'payment:a': [0, 40],
      'payment:b': [0, 50],
      'payment:c': [300, 360],
      'registration:r': [90, 130],
    });
    const faults = new FaultLog(0, { log });
    faults.kill(FaultKind.WorkerSigkill, 100, 200, 2, 'worker-2');
    const [recovery] = faults.recoveries(progress, kindOf);
    assert.equal(recovery?.target, 'worker-2');
    assert.deepEqual(recovery?.delayed, { runs: 1, p50Ms: 0, maxMs: 0 });
  });

  test('says nothing of the delay when no run was unfaulted', () => {
    const progress = progressOf({ 'payment:a': [0, 500] });
    const faults = new FaultLog(0, { log });
    faults.kill(FaultKind.TemporalPostgresRestart, 100, 200, 0);
    const [recovery] = faults.recoveries(progress, kindOf);
    assert.deepEqual(recovery?.delayed, { runs: 1, p50Ms: null, maxMs: null });
  });
});
