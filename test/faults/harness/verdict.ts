/**
 * A scenario's verdict, as both fault suites assert it: no workflow task failed, every history replays, the
 * scenario ran to its checks with the faults and the operators' actions it promised, nothing was lost or
 * duplicated, and every invariant held.
 */
import assert from 'node:assert/strict';
import { INVARIANTS } from './invariants';
import type { InvariantKey } from './invariants';
import type { ScenarioReport } from './report';
import type { ScenarioSpec } from './scenario';

function broken(report: ScenarioReport, key: InvariantKey): string {
  const found = report.violations.filter((v) => v.invariant === key);
  const listed = found
    .slice(0, 15)
    .map((v) => `  ${v.subject}: ${v.detail}`)
    .join('\n');
  return `${report.name} (seed ${report.seed}, logs in ${report.logs}): "${INVARIANTS[key]}" broken ${found.length} time(s):\n${listed}`;
}

/** Fails with the first broken promise of the scenario, naming its seed and its logs. */
export function assertScenarioHeld(spec: ScenarioSpec, report: ScenarioReport): void {
  const workerLogs = report.stack.workers === 1 ? 'worker.log' : 'worker-*.log';
  assert.deepEqual(
    report.workflowTaskFailures,
    [],
    `${spec.name} (seed ${report.seed}): the worker failed workflow tasks; see ${report.logs}/${workerLogs}`,
  );
  assert.deepEqual(
    report.replayFailures,
    [],
    `${spec.name} (seed ${report.seed}): histories a worker with nothing cached cannot replay`,
  );
  assert.equal(report.error, undefined, `${spec.name} could not run to its checks: ${report.error ?? ''}`);
  assert.equal(
    report.workerUnexpectedExits,
    0,
    `${spec.name}: a worker process died on its own ${report.workerUnexpectedExits} time(s); see ${report.logs}/${workerLogs}`,
  );
  assert.equal(
    report.consumerUnexpectedExits,
    0,
    `${spec.name}: the command consumer died on its own ${report.consumerUnexpectedExits} time(s); see ${report.logs}/consumer.log`,
  );
  for (const [kind, minimum] of Object.entries(spec.minimumFaults ?? {})) {
    assert.ok(
      (report.faults[kind] ?? 0) >= minimum,
      `${spec.name}: ${kind} injected ${report.faults[kind] ?? 0} time(s), fewer than ${minimum}`,
    );
  }
  if (spec.minimumTakeovers !== undefined) {
    assert.ok(
      report.takeovers.byAnotherWorker >= spec.minimumTakeovers,
      `${spec.name} (seed ${report.seed}): ${report.takeovers.byAnotherWorker} run(s) moved to another worker, ` +
        `fewer than ${spec.minimumTakeovers}: the kill proved no takeover`,
    );
  }
  for (const [action, planned] of Object.entries(spec.operators ?? {})) {
    assert.ok(
      planned === 0 || (report.operators?.actions[action] ?? 0) > 0,
      `${spec.name}: no ${action} was carried out of ${planned} planned (the runs raced past it)`,
    );
  }
  assert.equal(
    report.runs.neverAccepted,
    0,
    `${spec.name}: ${report.runs.neverAccepted} run(s) were never accepted`,
  );
  assert.equal(
    report.lost,
    0,
    `${spec.name}: lost ${report.lost}\n${broken(report, 'finished')}\n${broken(report, 'outcome')}\n${broken(report, 'ledgerMatchesOutcome')}`,
  );
  assert.equal(
    report.duplicated,
    0,
    `${spec.name}: duplicated ${report.duplicated}\n${report.violations
      .filter((v) => v.kind === 'duplicated')
      .map((v) => `  ${v.subject} broke "${INVARIANTS[v.invariant]}": ${v.detail}`)
      .slice(0, 20)
      .join('\n')}`,
  );
  for (const { key, violations } of report.invariants) assert.equal(violations, 0, broken(report, key));
}
