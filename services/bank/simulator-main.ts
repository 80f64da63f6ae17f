/**
 * Runs the bank simulator as its own process: `tsx services/bank/simulator-main.ts`. Configured by environment;
 * a bad value stops it with exit code 2 and a message naming the variable.
 */
import type { z } from 'zod';
import { configSchema } from '../config';
import { BankOutcomeSchema } from './messages';
import { startBankSimulator } from './simulator';

/** The project's settings the simulator reads, plus the outcome it gives payments without a scenario. */
const SimulatorEnvSchema = configSchema
  .pick({
    BANK_SIM_PORT: true,
    BANK_SIM_DELAY_MS: true,
    BANK_WEBHOOK_URL: true,
    BANK_WEBHOOK_SECRET: true,
    BANK_API_KEY: true,
  })
  .extend({ BANK_SIM_OUTCOME: BankOutcomeSchema.default('settled') });

/** Reads the simulator's settings from `env`, or says which variable is wrong. */
export function readSimulatorEnv(
  env: NodeJS.ProcessEnv,
): z.infer<typeof SimulatorEnvSchema> | { problems: string[] } {
  const parsed = SimulatorEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  return {
    problems: parsed.error.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`),
  };
}

async function main(): Promise<void> {
  const env = readSimulatorEnv(process.env);
  if ('problems' in env) {
    for (const problem of env.problems) console.error(`bank simulator: invalid environment, ${problem}`);
    process.exitCode = 2;
    return;
  }
  const simulator = await startBankSimulator({
    host: '127.0.0.1',
    port: env.BANK_SIM_PORT,
    webhookUrl: env.BANK_WEBHOOK_URL,
    webhookSecret: env.BANK_WEBHOOK_SECRET,
    apiKey: env.BANK_API_KEY,
    defaultOutcome: env.BANK_SIM_OUTCOME,
    defaultDelayMs: env.BANK_SIM_DELAY_MS,
    log: (line) => console.log(line),
  });
  console.log(`bank simulator listening on ${simulator.url}, webhooks to ${env.BANK_WEBHOOK_URL}`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await simulator.close();
  console.log('bank simulator stopped');
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error('bank simulator failed:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
