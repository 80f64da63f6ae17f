/**
 * Runs the SMTP sink as its own process: `tsx services/mail/smtp-sink-main.ts`. Listens on `SMTP_SINK_HOST`
 * (default 127.0.0.1) and `SMTP_SINK_PORT` (default 1025); a bad value stops it with exit code 2 and a message naming
 * the variable. Prints each message's Message-ID and subject, never an address.
 */
import { z } from 'zod';
import { startSmtpSink } from './smtp-sink';

const SinkEnvSchema = z.object({
  SMTP_SINK_HOST: z.string().trim().min(1).default('127.0.0.1'),
  SMTP_SINK_PORT: z.coerce.number().int().min(1).max(65535).default(1025),
});

/** A bad environment: each line names the variable and what is wrong with it. */
class SinkConfigError extends Error {
  override readonly name = 'SinkConfigError';
}

function readEnv(env: NodeJS.ProcessEnv): z.infer<typeof SinkEnvSchema> {
  const parsed = SinkEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`);
    throw new SinkConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const env = readEnv(process.env);
  const sink = await startSmtpSink({
    host: env.SMTP_SINK_HOST,
    port: env.SMTP_SINK_PORT,
    log: (line) => console.log(line),
  });
  console.log(`SMTP sink listening on ${sink.url}`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sink.close();
  console.log(`SMTP sink stopped after ${sink.messages().length} message(s)`);
}

main().catch((error: unknown) => {
  console.error('SMTP sink failed:', error instanceof Error ? error.message : error);
  process.exitCode = error instanceof SinkConfigError ? 2 : 1;
});
