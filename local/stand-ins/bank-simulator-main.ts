/** Runs the bank simulator as its own process: `npm run bank-simulator`. Configured by environment. */
import { serveUntilStopped } from './serve-until-stopped';
import { startBankSimulator } from './bank-simulator';

serveUntilStopped(
  'bank simulator',
  (config, log) =>
    startBankSimulator({
      host: config.BANK_SIM_HOST,
      port: config.BANK_SIM_PORT,
      webhookUrl: config.BANK_WEBHOOK_URL,
      webhookSecret: config.BANK_WEBHOOK_SECRET,
      ...(config.BANK_API_KEY === undefined ? {} : { apiKey: config.BANK_API_KEY }),
      defaultOutcome: config.BANK_SIM_OUTCOME,
      defaultDelayMs: config.BANK_SIM_DELAY_MS,
      log,
    }),
  (simulator, config) => `listening on ${simulator.url}, webhooks to ${config.BANK_WEBHOOK_URL}`,
);
