/**
 * The CLI's watchdog commands: `stuck` lists the open findings with what to do about each, `watchdog install`
 * creates (or updates) the schedule, `watchdog run` sweeps once now.
 */
import type { Config } from '../../config/config';
import { formatMoney } from '../../domain/money';
import { FindingKind } from '../../workflows/watchdog-contract';
import type { StoredFinding, SweepSummary } from '../../workflows/watchdog-contract';
import { noPositionals, oneId, output, parse, UsageError, withClient, withLedger } from './support';

/** `stuck [--kind <kind>] [--json]`: the watchdog's open findings, most serious and oldest first. */
export async function stuck(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    kind: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const kinds: string[] = Object.values(FindingKind);
  if (values.kind !== undefined && !kinds.includes(values.kind)) {
    throw new UsageError(`--kind must be one of ${kinds.join(', ')}`);
  }
  return withLedger(config, async (ledger) => {
    const { FindingStore } = await import('../../services/watchdog/findings');
    const { toStoredFinding } = await import('../../activities/watchdog');
    const open = (await new FindingStore(ledger.database).listOpen())
      .map(toStoredFinding)
      .filter((finding) => values.kind === undefined || finding.kind === values.kind);
    output(values.json === true)(
      open.length === 0 ? 'no open findings' : open.map(describe).join('\n\n'),
      open,
    );
    return 0;
  });
}

/** `watchdog install [--interval <seconds>]` and `watchdog run [--json]`. */
export async function watchdog(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    interval: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const action = oneId(positionals, 'say what to do: watchdog install | watchdog run');
  const print = output(values.json === true);
  if (action === 'install') {
    const intervalSeconds =
      values.interval === undefined ? config.WATCHDOG_INTERVAL_SECONDS : Number(values.interval);
    if (!Number.isInteger(intervalSeconds) || intervalSeconds < 1 || intervalSeconds > 86_400) {
      throw new UsageError('--interval must be a whole number of seconds from 1 to 86400');
    }
    const { ensureWatchdogSchedule } = await import('../../workers/watchdog-schedule');
    return withClient(config, async (client) => {
      const setup = await ensureWatchdogSchedule(client, { intervalSeconds });
      print(`schedule ${setup.scheduleId}: sweeps every ${setup.intervalSeconds} s (${setup.change})`, setup);
      return 0;
    });
  }
  if (action === 'run') {
    if (values.interval !== undefined) throw new UsageError('--interval goes with watchdog install');
    const { runSweep } = await import('../watchdog');
    return withClient(config, async (client) => {
      const summary = await runSweep(client);
      print(sweepText(summary), summary);
      return 0;
    });
  }
  throw new UsageError(`unknown watchdog action "${action}": watchdog install | watchdog run`);
}

function describe(finding: StoredFinding): string {
  const money =
    finding.amountMinor !== undefined && finding.currency !== undefined
      ? `  ${formatMoney(finding.amountMinor, finding.currency)}`
      : '';
  return [
    `#${finding.id} ${finding.severity.toUpperCase()} ${finding.kind}  ${finding.businessId}${money}  since ${finding.since}`,
    `  ${finding.summary}`,
    `  do: ${finding.action}`,
  ].join('\n');
}

function sweepText(summary: SweepSummary): string {
  const open = Object.entries(summary.open).map(([kind, count]) => `${kind} ${count}`);
  return [
    `swept at ${summary.sweptAt}: ${open.length === 0 ? 'nothing open' : `open: ${open.join(', ')}`}`,
    `  ${summary.opened} new, ${summary.closed} closed, ${summary.alerted} mailed`,
    ...summary.unreadable.map((u) => `  could not read ${u.source}: ${u.error}`),
    '  list them with: npm run client -- stuck',
  ].join('\n');
}
