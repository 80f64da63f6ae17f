/**
 * The fault suite's report: one entry per scenario and totals over all of them, printed as a table and written as
 * JSON to `test-results/faults-report.json` (the cluster's fault suite: `test-results/cluster-faults-report.json`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Recovery } from './faults';
import type { BusCheckResult, CheckResult, InvariantKey, Violation } from './invariants';
import type { OperatorReport } from './operator';
import { INVARIANTS } from './invariants';
import { PROJECT_ROOT } from './processes';
import type { StackShape } from './stack';
import type { Takeovers } from './takeovers';

/** Where the JSON report is written (ignored by git). */
export const REPORT_PATH = path.join(PROJECT_ROOT, 'test-results', 'faults-report.json');

/** Which suite a report is of: its title, and where its JSON goes. */
export interface ReportTarget {
  title: string;
  path: string;
}

/** The fault suite on the dev stack. */
export const FAULT_SUITE: ReportTarget = { title: 'baton fault suite', path: REPORT_PATH };

/** One scenario's figures. */
export interface ScenarioReport {
  name: string;
  title: string;
  seed: number;
  /** The Temporal it ran on and how many workers. */
  stack: StackShape;
  durationMs: number;
  /** Set when the scenario could not run to its checks (the stack did not start, a harness error). */
  error?: string;
  runs: {
    driven: number;
    payments: number;
    registrations: number;
    accepted: number;
    finished: number;
    neverAccepted: number;
  };
  lost: number;
  duplicated: number;
  /** Runs ended in each 10-second slice from the moment the worker first polled. */
  endedPer10s: number[];
  faults: Record<string, number>;
  recoveries: Recovery[];
  /** The runs in flight at no fault, and their median time from acceptance to end: what a run usually takes. */
  unfaulted: { runs: number; medianMs: number | null };
  /** Runs whose workflow tasks moved to another worker process, read from their histories. */
  takeovers: Takeovers;
  workerUnexpectedExits: number;
  /** Exits of the command consumer nobody asked for (each followed by a restart). */
  consumerUnexpectedExits: number;
  /** Runs whose workflow task failed with nondeterminism or again and again, as the worker reported them. */
  workflowTaskFailures: string[];
  /** Runs whose history a worker with nothing cached cannot replay. */
  replayFailures: string[];
  outcomes: Record<string, number>;
  messages: CheckResult['messages'] | null;
  webhooks: { delivered: number; forgedSent: number; forgedRefused: number; forgedBeforeBankDecided: number };
  /**
   * Where part of the load came as command events: what was published, and what the streams and Temporal hold.
   * The consumer's own word (runs it found already there, its starts) is shown beside them, never checked.
   */
  bus:
    | (BusCheckResult['counts'] & {
        consumerFoundExistingRun: number;
        consumerRedeliveredAfterLostAck: number;
        consumerStarts: number;
      })
    | null;
  /**
   * Where operators acted on runs: their actions by kind and tool, and the orphans they left: expected (from the
   * ledger and what the harness terminated), found by the watchdog, missed, false alarms, resolved through the CLI.
   */
  operators: OperatorReport | null;
  /** Each invariant and its violations; `checked` is false where the scenario gives it nothing to check. */
  invariants: { key: InvariantKey; invariant: string; checked: boolean; violations: number }[];
  /** The first violations found (the count per invariant is complete). */
  violations: Violation[];
  logs: string;
}

/** Counts per invariant, every invariant listed even when it held. */
export function invariantSummary(
  violations: readonly Violation[],
  unchecked: readonly InvariantKey[] = [],
): ScenarioReport['invariants'] {
  return (Object.keys(INVARIANTS) as InvariantKey[]).map((key) => ({
    key,
    invariant: INVARIANTS[key],
    checked: !unchecked.includes(key),
    violations: violations.filter((v) => v.invariant === key).length,
  }));
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function seconds(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`;
}

/** The report as a readable table. */
export function formatReport(
  reports: readonly ScenarioReport[],
  totalMs: number,
  target: ReportTarget = FAULT_SUITE,
): string {
  const lines: string[] = [];
  const header = [
    'scenario',
    'driven',
    'finished',
    'lost',
    'dup',
    'faults',
    'kills',
    'worst recovery',
    'time',
    'verdict',
  ];
  const widths = [22, 7, 9, 5, 4, 7, 6, 15, 8, 8];
  const row = (cells: string[]) => cells.map((c, i) => pad(c, widths[i] ?? 8)).join(' ');
  lines.push('', target.title, row(header), '-'.repeat(widths.reduce((a, b) => a + b + 1, 0)));
  for (const r of reports) {
    const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
    const recoveries = r.recoveries.map((x) => x.recoveryMs ?? 0);
    const ok = r.error === undefined && r.lost === 0 && r.duplicated === 0 && r.violations.length === 0;
    lines.push(
      row([
        r.name,
        String(r.runs.driven),
        String(r.runs.finished),
        String(r.lost),
        String(r.duplicated),
        String(faults),
        String(r.recoveries.length),
        recoveries.length === 0 ? '-' : seconds(Math.max(...recoveries)),
        seconds(r.durationMs),
        ok ? 'ok' : 'FAILED',
      ]),
    );
  }
  const totals = totalsOf(reports);
  lines.push(
    '',
    `runs driven ${totals.runsDriven}, finished ${totals.runsFinished}, lost ${totals.lost}, duplicated ${totals.duplicated}, in ${seconds(totalMs)}`,
    `faults injected: ${Object.entries(totals.faults)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}`,
  );
  for (const r of reports) {
    if (r.recoveries.length > 0) {
      lines.push(
        `  ${pad(r.name, 22)} ${r.stack.temporal === 'dev' ? 'dev server' : 'cluster'}, ${r.stack.workers} worker(s); ` +
          `unfaulted runs ${r.unfaulted.runs}, median ${seconds(r.unfaulted.medianMs)}; runs taken over by another ` +
          `process ${r.takeovers.byAnotherProcess}, by another worker ${r.takeovers.byAnotherWorker}`,
      );
    }
    for (const x of r.recoveries) {
      const kind = x.target === undefined ? x.kind : `${x.kind} (${x.target})`;
      lines.push(
        `  ${pad(r.name, 22)} ${pad(kind, 28)} at ${pad(seconds(x.atMs), 7)} down ${pad(seconds(x.downMs), 7)} first run ended ${seconds(x.recoveryMs)} after restart; ` +
          `${x.delayed.runs} runs in flight, delayed p50 ${seconds(x.delayed.p50Ms)}, max ${seconds(x.delayed.maxMs)}`,
      );
    }
    if (r.bus !== null) {
      const b = r.bus;
      lines.push(
        `  ${pad(r.name, 22)} commands published ${b.commandsPublished} for ${b.runsByCommand} runs ` +
          `(resent under the same id ${b.resentSameId}, under a new id ${b.resentNewId}; ` +
          `dropped by the stream ${b.droppedByStream}), invalid ${b.invalidCommands} -> dead letters ${b.deadLetters}, ` +
          `events ${b.events} of ${b.eventsExpected} expected, runs in Temporal ${b.runsInTemporal}, ` +
          `consumer starts ${b.consumerStarts} (found an existing run ${b.consumerFoundExistingRun} times, ` +
          `${b.consumerRedeliveredAfterLostAck} of them a command redelivered after a kill dropped its ack)`,
      );
    }
    if (r.operators !== null) {
      const o = r.operators;
      const list = (counts: Record<string, number>) =>
        Object.entries(counts)
          .map(([kind, n]) => `${kind} ${n}`)
          .join(', ') || 'none';
      lines.push(
        `  ${pad(r.name, 22)} operator actions: ${list(o.actions)} (by tool: ${list(o.byTool)}; skipped ${o.skipped})`,
        `  ${pad(r.name, 22)} orphans expected ${o.orphans.expected}, found by the watchdog ${o.orphans.found ?? `- (${o.watchdog.detail ?? 'not asked'})`}, ` +
          `missed ${o.orphans.missed.length}, false alarms ${o.orphans.falseAlarms.length}, resolved ${o.orphans.resolved} (${list(o.orphans.resolvedAs)}), ` +
          `refusals ${list(o.orphans.refusals)}, needs a person ${o.orphans.needsPerson.length}, open after resolving ${o.orphans.openAfterResolution ?? '-'}`,
      );
      if (o.watchdog.openBefore !== undefined) {
        lines.push(
          `  ${pad(r.name, 22)} watchdog findings open before resolving: ${list(o.watchdog.openBefore)}; after: ${list(o.watchdog.openAfter ?? {})}`,
        );
      }
    }
    if (r.error !== undefined) lines.push(`  ${r.name}: ${r.error.split('\n')[0] ?? ''}`);
    for (const v of r.violations.slice(0, 10))
      lines.push(`  ${r.name}: ${v.subject} broke "${INVARIANTS[v.invariant]}": ${v.detail}`);
  }
  lines.push(`report: ${path.relative(PROJECT_ROOT, target.path)}`, '');
  return lines.join('\n');
}

function totalsOf(reports: readonly ScenarioReport[]) {
  const faults: Record<string, number> = {};
  for (const r of reports)
    for (const [kind, n] of Object.entries(r.faults)) faults[kind] = (faults[kind] ?? 0) + n;
  return {
    scenarios: reports.length,
    runsDriven: reports.reduce((a, r) => a + r.runs.driven, 0),
    runsAccepted: reports.reduce((a, r) => a + r.runs.accepted, 0),
    runsFinished: reports.reduce((a, r) => a + r.runs.finished, 0),
    lost: reports.reduce((a, r) => a + r.lost, 0),
    duplicated: reports.reduce((a, r) => a + r.duplicated, 0),
    violations: reports.reduce((a, r) => a + r.violations.length, 0),
    failedScenarios: reports.filter((r) => r.error !== undefined).map((r) => r.name),
    faults,
    kills: reports.reduce((a, r) => a + r.recoveries.length, 0),
    commandsPublished: reports.reduce((a, r) => a + (r.bus?.commandsPublished ?? 0), 0),
    deadLetters: reports.reduce((a, r) => a + (r.bus?.deadLetters ?? 0), 0),
    events: reports.reduce((a, r) => a + (r.bus?.events ?? 0), 0),
    operatorActions: reports.reduce(
      (a, r) => a + Object.values(r.operators?.actions ?? {}).reduce((x, y) => x + y, 0),
      0,
    ),
    orphansResolved: reports.reduce((a, r) => a + (r.operators?.orphans.resolved ?? 0), 0),
  };
}

/** Writes the JSON report. */
export async function writeReport(
  reports: readonly ScenarioReport[],
  totalMs: number,
  target: ReportTarget = FAULT_SUITE,
): Promise<void> {
  const body = {
    generatedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    durationMs: totalMs,
    definitions: {
      accepted: 'the client call that starts the run returned',
      finished:
        'the run completed and returned a final status (settled, failed, rejected; completed for registrations)',
      lost: 'accepted runs that never finished, failed, ended in another status than the bank and the plan imply, or whose ledger effects are missing or wrong (distinct runs)',
      duplicated:
        'effects that happened more than once: a second debit, both a settlement and a reversal, a second bank submission, a message purpose delivered twice (copies of one email with the same Message-ID count once)',
      downMs: 'from the kill (or the first terminated connection) until the process was back and answering',
      commandsPublished:
        'valid command events the harness published (first sends and resends under a new event id; same-id resends are counted apart)',
      droppedByStream:
        'publishes the broker answered as duplicates of a message it held (its Nats-Msg-Id window)',
      deadLetters: 'messages in BATON_DEAD_LETTERS, read back from the broker',
      events: 'messages in BATON_EVENTS, read back from the broker; eventsExpected counts the ended runs',
      orphans:
        'operators: payments whose run the harness terminated while their debit sat in clearing with neither settlement nor reversal; found = orphaned_debit findings of `stuck --json` after `watchdog run`',
      recoveryMs:
        'from the restart (process answering again; end of the connection kills) until the first run ended after it',
      delayed:
        'the runs in flight while the part was down (accepted before it answered again, ended after it went down): how much longer each took from acceptance to end than the median of the unfaulted runs of its kind (0 when no longer), p50 and max',
      unfaulted: 'ended runs in flight at no fault of the scenario; their median time from acceptance to end',
      takeovers:
        "runs whose workflow tasks were completed by more than one worker process (byAnotherProcess: a restart or another worker) or by more than one of the stack's workers (byAnotherWorker), from the identities in their histories",
    },
    totals: totalsOf(reports),
    scenarios: reports,
  };
  await mkdir(path.dirname(target.path), { recursive: true });
  await writeFile(target.path, `${JSON.stringify(body, null, 2)}\n`);
}
