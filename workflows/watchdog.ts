/**
 * One sweep of the watchdog, started by its Temporal Schedule every interval (or by `watchdog run`): read each
 * source, keep what was found, tell the operators of what is new, and say in the run's current details what is
 * open. Orchestration only.
 */
import { ActivityFailure, log, setCurrentDetails } from '@temporalio/workflow';
import type { WatchdogActivities } from '../activities/watchdog';
import { proxySummarizedActivities } from './activity-summary';
import { retryThenAsk } from './retry-presets';
import { FINDING_ACTIONS, SweepSource } from './watchdog-contract';
import type { FindingKind, SourceReport, SweepRequest, SweepSummary } from './watchdog-contract';

// A source that cannot be read after a few tries is reported unreadable: its findings stay as they were, and the
// next sweep tries again. A sweep never waits long on one broken source.
const sources = proxySummarizedActivities<WatchdogActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: retryThenAsk,
});
const { recordFindings, alertOperators } = proxySummarizedActivities<WatchdogActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '1 minute',
  retry: retryThenAsk,
});

/** Sweeps runs, clearing, the bank and the bus once; returns what is open and what changed. */
export async function watchdogWorkflow(request: SweepRequest = {}): Promise<SweepSummary> {
  const reports = await Promise.all([
    read(SweepSource.Runs, () =>
      sources.sweepRuns('open runs: stages, reviews, failing tasks and activities'),
    ),
    read(SweepSource.Orphans, () => sources.sweepOrphans('clearing debits whose run ended')),
    read(SweepSource.Bank, () => sources.sweepBank('ended payments against the bank')),
    read(SweepSource.Bus, () => sources.sweepBus('command backlog and dead letters')),
  ]);
  const summary = await recordFindings('keep the findings: open, seen again, closed', { reports });
  const alerted = await alertOperators('mail each new finding to the operators once').then(
    (r) => r.alerted,
    (err: unknown) => {
      // The mail server is down: the findings are kept all the same, and their mail is owed to the next sweep.
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('watchdog could not mail the operators', { error: err.cause?.message ?? err.message });
      return 0;
    },
  );
  const done = { ...summary, alerted };
  setCurrentDetails(details(done, reports));
  log.info('watchdog sweep', {
    trigger: request.trigger ?? 'schedule',
    open: done.open,
    opened: done.opened,
    closed: done.closed,
    alerted,
  });
  return done;
}

async function read(source: SweepSource, sweep: () => Promise<SourceReport>): Promise<SourceReport> {
  try {
    return await sweep();
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return { source, read: false, error: err.cause?.message ?? err.message };
  }
}

/** The sweep as the Temporal UI shows it on the run: what is open by kind, most serious first. */
function details(summary: SweepSummary, reports: readonly SourceReport[]): string {
  const open = Object.entries(summary.open) as [FindingKind, number][];
  open.sort(
    ([a], [b]) =>
      Number(FINDING_ACTIONS[b].severity === 'critical') - Number(FINDING_ACTIONS[a].severity === 'critical'),
  );
  const lines = [
    `**${open.reduce((n, [, count]) => n + count, 0)} open findings** (${summary.opened} new, ${summary.closed} closed, ${summary.alerted} mailed)`,
    '',
    ...open.map(([kind, count]) => `- ${FINDING_ACTIONS[kind].severity} \`${kind}\`: ${count}`),
    '',
    ...reports.map((r) =>
      r.read
        ? `- ${r.source}: ${r.examined} examined, ${r.findings.length} found`
        : `- ${r.source}: unreadable (${r.error})`,
    ),
    '',
    'List them with `npm run client -- stuck`.',
  ];
  return lines.join('\n');
}
