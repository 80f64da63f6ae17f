/**
 * Runs the bank simulator as its own process: `tsx services/bank/simulator-main.ts`. Configured by environment;
 * a bad value stops it with exit code 2 and a message naming the variable.
 */
import { ConfigError, loadConfig } from '../config';
import { startBankSimulator } from './simulator';

async function main(): Promise<void> {
  const config = loadConfig();
  const simulator = await startBankSimulator({
    host: config.BANK_SIM_HOST,
    port: config.BANK_SIM_PORT,
    webhookUrl: config.BANK_WEBHOOK_URL,
    webhookSecret: config.BANK_WEBHOOK_SECRET,
    ...(config.BANK_API_KEY === undefined ? {} : { apiKey: config.BANK_API_KEY }),
    defaultOutcome: config.BANK_SIM_OUTCOME,
    defaultDelayMs: config.BANK_SIM_DELAY_MS,
    log: (line) => console.log(line),
  });
  console.log(`bank simulator listening on ${simulator.url}, webhooks to ${config.BANK_WEBHOOK_URL}`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await simulator.close();
  console.log('bank simulator stopped');
}

main().catch((error: unknown) => {
  console.error('bank simulator failed:', error instanceof Error ? error.message : error);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
