/**
 * The worker process: hosts the workflows and activities and the bank webhook receiver, against whatever Temporal,
 * database and bank the environment names. Stops gracefully on SIGINT or SIGTERM.
 */
import path from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { AmlScreener } from '../services/aml';
import { BankClient } from '../services/bank';
import { ConfigError, loadConfig } from '../config/config';
import { CustomerStore } from '../services/customers';
import { Ledger } from '../services/ledger';
import { Mailer } from '../services/mail';
import { SendLog } from '../services/send-log/send-log';
import { TwilioSms } from '../services/sms';
import { startBatonWorker } from './worker';
import { loadWorkflowBundle } from '../temporal/bundle';
import { connectClient, connectWorker } from '../temporal/connection';

async function main(): Promise<void> {
  const config = loadConfig();
  // A prebuilt bundle is read before anything connects, so a wrong path stops the worker at once.
  const workflowBundle =
    config.WORKFLOW_BUNDLE_PATH === undefined ? undefined : await readBundle(config.WORKFLOW_BUNDLE_PATH);
  const ledger = await Ledger.open(
    config.DATABASE_URL !== undefined
      ? {
          databaseUrl: config.DATABASE_URL,
          ...(config.DATABASE_SCHEMA === undefined ? {} : { schema: config.DATABASE_SCHEMA }),
        }
      : { dataDir: path.resolve(config.DATA_DIR, 'ledger') },
  );
  const mailer = new Mailer({ smtpUrl: config.SMTP_URL, from: config.MAIL_FROM });
  const client = await connectClient(config);
  const connection = await connectWorker(config);
  try {
    const running = await startBatonWorker({
      connection,
      client,
      namespace: config.TEMPORAL_NAMESPACE,
      codecKeys: config.codecKeys,
      ...(workflowBundle === undefined ? {} : { workflowBundle }),
      ...(config.WORKER_MAX_CACHED_WORKFLOWS === undefined
        ? {}
        : { tuning: { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS } }),
      services: {
        ledger,
        customers: new CustomerStore(ledger.database),
        sendLog: new SendLog(ledger.database),
        mailer,
        sms: new TwilioSms({
          accountSid: config.TWILIO_ACCOUNT_SID,
          authToken: config.TWILIO_AUTH_TOKEN,
          ...(config.TWILIO_FROM === undefined ? {} : { from: config.TWILIO_FROM }),
          ...(config.TWILIO_MESSAGING_SERVICE_SID === undefined
            ? {}
            : { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID }),
          ...(config.TWILIO_API_BASE_URL === undefined ? {} : { apiBaseUrl: config.TWILIO_API_BASE_URL }),
        }),
        aml: await AmlScreener.fromFile(config.AML_WATCHLIST_PATH),
        bank: new BankClient({
          baseUrl: config.BANK_URL,
          ...(config.BANK_API_KEY ? { apiKey: config.BANK_API_KEY } : {}),
        }),
      },
      webhook: { host: config.WEBHOOK_HOST, port: config.WEBHOOK_PORT, secret: config.BANK_WEBHOOK_SECRET },
      log: (line) => console.log(line),
    });
    const cache = config.WORKER_MAX_CACHED_WORKFLOWS;
    console.log(
      `worker polling ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}); ` +
        `bank webhooks on ${running.webhookUrl}` +
        (cache === undefined
          ? ''
          : cache === 0
            ? '; no workflow cache: every task replays'
            : `; caches ${cache} runs`),
    );
    // Worker.run() itself drains on SIGINT/SIGTERM; `finished` settles once it has.
    await running.finished;
  } finally {
    mailer.close();
    await connection.close();
    await client.connection.close();
    await ledger.close();
  }
}

/** Loads the bundle WORKFLOW_BUNDLE_PATH names; a missing file is a configuration error naming the variable. */
async function readBundle(file: string): Promise<WorkflowBundleWithSourceMap> {
  try {
    return await loadWorkflowBundle(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new ConfigError([
        `WORKFLOW_BUNDLE_PATH: cannot read ${file} or ${file}.map (${code}); build it with npm run build:workflows`,
      ]);
    }
    throw err;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
