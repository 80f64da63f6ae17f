/**
 * `npm start`: the whole local stack on the configured ports, state kept in DATA_DIR (.data/). Runs the demo
 * scenarios once (skip with `--no-demo`), prints where to look, and stays up until Ctrl-C, then shuts down cleanly.
 */
// First: the libraries it traces must be patched before anything loads them.
import '../services/telemetry/instrument';
import { COMMAND_SUBJECTS, DEAD_LETTER_SUBJECTS, EVENT_SUBJECTS, STREAMS } from '../services/bus';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, runScenariosOn } from './scenarios';
import { ConfigError, loadConfig } from '../config/config';
import { WATCHDOG_SCHEDULE_ID } from '../workflows/watchdog-contract';
import { startLocalStack } from './stack';
import { freePort } from '../services/ports';
import { installWorkerRuntime, temporalLogger } from '../temporal/runtime';
import { watchdogSettingsFrom } from '../workers/services';

/** Where `npm start` mails the watchdog's findings when OPS_EMAIL is unset: the local mail sink takes any address. */
const LOCAL_OPS_EMAIL = 'ops@baton.local';
import type { LocalStack } from './stack';
import { startPayment } from '../client/payments';
import { AML_DEMO_NAMES } from './demo-names';
import { resolveJaeger, startJaeger } from './jaeger';
import type { Jaeger } from './jaeger';
import { startTracing } from '../services/telemetry/tracing';
import { createLogger, lineLog } from '../services/telemetry/logger';
import type { Log } from '../services/telemetry/logger';
import type { Tracing } from '../services/telemetry/tracing';
import type { Config } from '../config/config';

/** The stack's traces: a Jaeger of its own, and this process exporting to it. */
interface LocalTracing {
  jaeger: Jaeger;
  tracing: Tracing;
  stop(): Promise<void>;
}

/**
 * Runs Jaeger (found or built like the Temporal CLI) and exports the stack's spans to it. Tracing is a help, not a
 * part of the product: when Jaeger cannot be had, the stack runs untraced and says why.
 */
async function startLocalTracing(
  config: Config,
  say: (line: string) => void,
  jaegerLog: Log | undefined,
): Promise<LocalTracing | undefined> {
  try {
    const binary = await resolveJaeger({ onProgress: say });
    const jaeger = await startJaeger({
      binaryPath: binary.path,
      otlpHttpPort: config.JAEGER_OTLP_PORT,
      queryPort: config.JAEGER_PORT,
      ...(jaegerLog === undefined ? {} : { log: (line: string) => jaegerLog(`[jaeger] ${line}`) }),
    });
    const tracing = startTracing({ serviceName: 'baton-worker', endpoint: jaeger.otlpEndpoint });
    return {
      jaeger,
      tracing,
      async stop() {
        await tracing.shutdown().catch(() => undefined);
        await jaeger.stop();
      },
    };
  } catch (error) {
    say(`traces: off (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
    return undefined;
  }
}

/** Starts a payment whose beneficiary needs an AML review, and leaves it waiting. Returns its id. */
async function parkPaymentForReview(stack: LocalStack): Promise<string> {
  const paymentId = `review-me-${Date.now().toString(36)}`;
  await startPayment(
    stack.client,
    {
      paymentId,
      fromAccountId: 'A-1001-EUR',
      amountMinor: 75_00,
      currency: 'EUR',
      beneficiary: { name: AML_DEMO_NAMES.review, country: 'DE', iban: 'DE89370400440532013000' },
    },
    stack.taskQueue,
  );
  return paymentId;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'no-demo': { type: 'boolean', default: false },
      'no-tracing': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = loadConfig();
  // Verbose, every component's lines (and the workflows' and activities', through the SDK) are JSON log lines.
  const logger = values.verbose ? createLogger({ service: 'baton-local' }) : undefined;
  // Before the stack's first connection: the worker's metrics need the runtime installed with them.
  installWorkerRuntime({
    ...(logger === undefined ? {} : { logger: temporalLogger(logger) }),
    ...(config.WORKER_METRICS === 'on' ? { metricsBindAddress: `127.0.0.1:${await freePort()}` } : {}),
  });
  const say = (line: string) => console.log(line);
  // Before the worker exists: it hands its workflow spans to the tracing it finds at start.
  const traces = values['no-tracing']
    ? undefined
    : await startLocalTracing(config, say, logger === undefined ? undefined : lineLog(logger));
  say(`starting baton's local stack (state in ${path.resolve(config.DATA_DIR)})...`);
  const stack = await startLocalStack({
    dataDir: path.resolve(config.DATA_DIR),
    ...(config.DATABASE_URL === undefined ? {} : { databaseUrl: config.DATABASE_URL }),
    ...(config.DATABASE_SCHEMA === undefined ? {} : { databaseSchema: config.DATABASE_SCHEMA }),
    temporalPort: config.TEMPORAL_PORT,
    uiPort: config.TEMPORAL_UI_PORT,
    bankPort: config.BANK_SIM_PORT,
    webhookPort: config.WEBHOOK_PORT,
    ledgerPort: config.LEDGER_PORT,
    smtpPort: config.SMTP_SINK_PORT,
    twilioPort: config.TWILIO_LOCAL_PORT,
    codecPort: config.CODEC_SERVER_PORT,
    natsPort: config.NATS_PORT,
    temporalMetricsPort: config.TEMPORAL_METRICS_PORT,
    opsPort: config.WORKER_OPS_PORT,
    codecKeys: config.codecKeys,
    webhookSecret: config.BANK_WEBHOOK_SECRET,
    bankDelayMs: config.BANK_SIM_DELAY_MS,
    ...(config.TEMPORAL_CLI_PATH === undefined ? {} : { temporalCliPath: config.TEMPORAL_CLI_PATH }),
    // Locally the operators' mail lands in the mail sink beside the customers' (OPS_EMAIL names another address).
    watchdog: {
      intervalSeconds: config.WATCHDOG_INTERVAL_SECONDS,
      settings: { ...watchdogSettingsFrom(config), opsEmail: config.OPS_EMAIL ?? LOCAL_OPS_EMAIL },
    },
    log:
      logger === undefined
        ? (line) => {
            if (!line.startsWith('[')) say(line);
          }
        : lineLog(logger),
  });

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      say(`\n${signal} received: shutting down...`);
      stack
        .stop()
        .then(() => traces?.stop())
        .then(resolve, (err: unknown) => {
          console.error(err);
          resolve();
        });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

  let exitCode = 0;
  if (!values['no-demo']) {
    say('running the demo scenarios:');
    const report = await runScenariosOn(stack, say);
    say('');
    say(formatReport(report));
    if (!report.ok) exitCode = 1;
  }
  // One payment left waiting for a compliance officer, so the UI has a run to find by `awaiting_aml_review`.
  const parked = await parkPaymentForReview(stack);
  const ui = stack.uiUrl ?? config.TEMPORAL_UI_URL;
  say('');
  say(`baton is up.`);
  say(`  Temporal UI:      ${ui}/namespaces/${stack.namespace}/workflows`);
  say(
    `  settled payments: ${ui}/namespaces/${stack.namespace}/workflows?query=${encodeURIComponent('PaymentStatus="settled"')}`,
  );
  say(`  Temporal address: ${stack.address}`);
  if (stack.codecUrl) say(`  codec server:     ${stack.codecUrl} (the UI decodes payloads through it)`);
  if (stack.ledgerUrl) say(`  ledger (read it with "npm run client -- accounts"): ${stack.ledgerUrl}`);
  say(`  bank simulator:   ${stack.bank.url}`);
  say(`  mail sink (SMTP): ${stack.mailSink.url}`);
  say(`  SMS sink (Twilio Messages API): ${stack.smsSink.url}`);
  say(`  bank webhooks:    ${stack.worker.webhookUrl}`);
  if (stack.worker.opsUrl) {
    say(`  worker metrics:   ${stack.worker.opsUrl}/metrics  (health: /healthz, readiness: /readyz)`);
  }
  if (stack.devServer?.metricsUrl) say(`  Temporal metrics: ${stack.devServer.metricsUrl}`);
  if (traces !== undefined) {
    say(
      `  traces (Jaeger):  OTLP in at ${traces.jaeger.otlpEndpoint}, query API at ${traces.jaeger.queryUrl}/api/traces`,
    );
    say(`    draw one: npm run client -- trace <paymentId>  (add --svg trace.svg for a picture)`);
    say(
      `    and trace the CLI's own calls too: export OTEL_EXPORTER_OTLP_ENDPOINT=${traces.jaeger.otlpEndpoint}`,
    );
  }
  say(`  NATS (JetStream): ${stack.nats.url}  (JetStream data in ${config.DATA_DIR}/nats)`);
  say(
    `    streams: ${STREAMS.commands} (${COMMAND_SUBJECTS}), ${STREAMS.events} (${EVENT_SUBJECTS}), ` +
      `${STREAMS.deadLetters} (${DEAD_LETTER_SUBJECTS})`,
  );
  say(
    `  awaiting review: ${ui}/namespaces/${stack.namespace}/workflows?query=${encodeURIComponent('PaymentStatus="awaiting_aml_review"')}`,
  );
  say(
    `  watchdog:         every ${config.WATCHDOG_INTERVAL_SECONDS} s (schedule ${WATCHDOG_SCHEDULE_ID}); findings: npm run client -- stuck`,
  );
  say(`try: npm run client -- review ${parked} --approve --reviewer <your name>`);
  say('     npm run client -- list');
  say('     npm run client -- events --follow        (then, in another terminal:)');
  say(
    '     npm run client -- publish pay --from A-1001-EUR --to-name "Ada Lovelace" --to-iban DE89370400440532013000 ' +
      '--to-country DE --amount 12.50 --currency EUR --correlation-id order-42',
  );
  say('press Ctrl-C to stop.');
  await stopped;
  say('stopped.');
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
