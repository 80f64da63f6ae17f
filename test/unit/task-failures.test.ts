/** The fault suite's reading of workflow task failures from a worker's log, on lines as the SDK core prints them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { WorkflowTaskFailures } from '../faults/harness/task-failures';
import { logText } from '../faults/harness/processes';
import { createLogger } from '../../services/telemetry/logger';
import { temporalLogger } from '../../temporal/runtime';

const RUN = '01a2372f-d2af-7cdd-b6f8-d71fb70c5d4c';
const E = '\u001b';
/** A line the core wrote when the lost review's replay failed, colours included. */
const NONDETERMINISM =
  `${E}[2m2026-12-02T14:37:09.097590Z${E}[0m ${E}[33m WARN${E}[0m ${E}[2mtemporalio_sdk_core::worker::workflow${E}[0m` +
  `${E}[2m:${E}[0m Failing workflow task ${E}[3mrun_id${E}[0m${E}[2m=${E}[0m${RUN} ${E}[3mfailure${E}[0m${E}[2m=${E}[0m` +
  'Failure { failure: Some(Failure { message: "[TMPRL1100] Nondeterminism error: Update machine does not handle ' +
  'this event: HistoryEvent(id: 16, UpsertWorkflowSearchAttributes)", source: "", stack_trace: "" }) }';
const THROWN = (run: string) =>
  `2026-12-02T14:37:09Z WARN temporalio_sdk_core::worker::workflow: Failing workflow task run_id=${run} ` +
  'failure=Failure { failure: Some(Failure { message: "TypeError: state.bank is undefined", source: "" }) }';

describe('workflow task failures in the worker log', () => {
  test('names the run and the error at the first nondeterminism', () => {
    const failures = new WorkflowTaskFailures();
    const heard: string[] = [];
    failures.onProblem((problem) => heard.push(problem));
    failures.observe('worker polling task queue baton');
    failures.observe(NONDETERMINISM);
    assert.deepEqual(heard, [
      `run ${RUN}: nondeterminism: [TMPRL1100] Nondeterminism error: Update machine does not handle this event: ` +
        'HistoryEvent(id: 16, UpsertWorkflowSearchAttributes)',
    ]);
    assert.deepEqual(failures.problems, heard);
  });

  test('reports another error once a run failed with it three times', () => {
    const failures = new WorkflowTaskFailures();
    failures.observe(THROWN('run-a'));
    failures.observe(THROWN('run-b'));
    failures.observe(THROWN('run-a'));
    assert.deepEqual(failures.problems, []);
    failures.observe(THROWN('run-a'));
    failures.observe(THROWN('run-a'));
    assert.deepEqual(failures.problems, [
      'run run-a: its workflow task failed 3 times: TypeError: state.bank is undefined',
    ]);
  });

  test('reads the same failure from the JSON line a worker writes when the core forwards it to its logger', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        );
        done();
      },
    });
    // What the SDK's runtime logger hands on for a core line: its message, and the core's fields as metadata.
    temporalLogger(createLogger({ service: 'baton-worker', destination: sink })).warn(
      'Failing workflow task',
      {
        sdkComponent: 'core',
        target: 'temporalio_sdk_core::worker::workflow',
        run_id: RUN,
        failure:
          'Failure { failure: Some(Failure { message: "[TMPRL1100] Nondeterminism error: Update machine does not ' +
          'handle this event: HistoryEvent(id: 16, UpsertWorkflowSearchAttributes)", source: "" }) }',
      },
    );
    assert.equal(lines.length, 1);
    assert.ok(lines[0]?.startsWith('{'), 'a JSON line');
    const failures = new WorkflowTaskFailures();
    failures.observe(logText(lines[0] ?? ''));
    assert.deepEqual(failures.problems, [
      `run ${RUN}: nondeterminism: [TMPRL1100] Nondeterminism error: Update machine does not handle this event: ` +
        'HistoryEvent(id: 16, UpsertWorkflowSearchAttributes)',
    ]);
  });
});
