/**
 * Runs the local Twilio as its own process: `tsx services/sms/local-twilio-main.ts`. Configured by environment
 * (TWILIO_LOCAL_HOST, TWILIO_LOCAL_PORT, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN); a bad value stops it with exit
 * code 2 and a message naming the variable. Stops cleanly on SIGINT or SIGTERM.
 */
import { z } from 'zod';
import { LOCAL_TWILIO_ACCOUNT_SID, LOCAL_TWILIO_AUTH_TOKEN, startLocalTwilio } from './local-twilio';

const EnvSchema = z.object({
  TWILIO_LOCAL_HOST: z.string().trim().min(1).default('127.0.0.1'),
  /** 0 picks a free port; the URL printed at start-up says which. */
  TWILIO_LOCAL_PORT: z.coerce.number().int().min(0).max(65535).default(7310),
  TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits')
    .default(LOCAL_TWILIO_ACCOUNT_SID),
  TWILIO_AUTH_TOKEN: z.string().min(1, 'must not be empty').default(LOCAL_TWILIO_AUTH_TOKEN),
});

class EnvError extends Error {}

async function main(): Promise<void> {
  const parsed = EnvSchema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new EnvError(`invalid configuration: ${problems.join('; ')}`);
  }
  const env = parsed.data;
  const twilio = await startLocalTwilio({
    host: env.TWILIO_LOCAL_HOST,
    port: env.TWILIO_LOCAL_PORT,
    accountSid: env.TWILIO_ACCOUNT_SID,
    authToken: env.TWILIO_AUTH_TOKEN,
    log: (line) => console.log(line),
  });
  console.log(`local twilio listening on ${twilio.url} for account ${env.TWILIO_ACCOUNT_SID}`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await twilio.close();
  console.log('local twilio stopped');
}

main().catch((error: unknown) => {
  console.error('local twilio failed:', error instanceof Error ? error.message : error);
  process.exitCode = error instanceof EnvError ? 2 : 1;
});
