/**
 * The worker process: hosts the workflows and activities and the bank webhook receiver, against whatever Temporal,
 * database and bank the environment names. Stops gracefully on SIGINT or SIGTERM.
 */
import path from 'node:path';
import { AmlScreener } from '../services/aml';
import { BankClient } from '../services/bank';
import { ConfigError, loadConfig } from '../services/config';
import { CustomerStore } from '../services/customers';
import { Ledger } from '../services/ledger';
import { Mailer } from '../services/mail';
import { SendLog } from '../services/messaging/send-log';
import { TwilioSms } from '../services/sms';
import { startBatonWorker } from './baton-worker';
import { connectClient, connectWorker } from './temporal-connection';

async function main(): Promise<void> {
  const config = loadConfig();
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
    console.log(
      `worker polling ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}); ` +
        `bank webhooks on ${running.webhookUrl}`,
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

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
