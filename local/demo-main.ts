/**
 * `npm run demo`: starts an ephemeral baton stack on free ports, runs every demo scenario, checks the ledger and
 * tears everything down. Exits 0 only when every scenario ended as expected. `--json` prints a one-line JSON
 * summary last.
 */
import { parseArgs } from 'node:util';
import { startLocalStack } from './stack';
import { formatReport, runScenariosOn } from './scenarios';
import { createLogger, lineLog } from '../services/telemetry/logger';
import { installWorkerRuntime, temporalLogger } from '../temporal/runtime';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { json: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } },
    strict: true,
  });
  const say = (line: string) => console.log(line);
  // Verbose, every component's lines (and the workflows' and activities', through the SDK) are JSON log lines.
  const logger = values.verbose ? createLogger({ service: 'baton-demo' }) : undefined;
  if (logger !== undefined) installWorkerRuntime({ logger: temporalLogger(logger) });
  say('starting an ephemeral baton stack (Temporal dev server, ledger, bank simulator, worker)...');
  const stack = await startLocalStack({
    log:
      logger === undefined
        ? (line) => {
            if (!line.startsWith('[')) say(line);
          }
        : lineLog(logger),
  });
  let report;
  try {
    say('running the demo scenarios:');
    report = await runScenariosOn(stack, say);
  } finally {
    await stack.stop();
  }
  say('');
  say(formatReport(report));
  // Last, once everything has stopped, so nothing prints after it.
  if (values.json) console.log(JSON.stringify(report));
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
