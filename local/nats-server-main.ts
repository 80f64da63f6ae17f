/**
 * `npm run nats:server`: finds or builds the NATS server and prints its path on stdout (progress and its version go
 * to stderr), so scripts can prepare the binary before anything needs it.
 */
import { execFileSync } from 'node:child_process';
import { resolveNatsServer } from './nats-server';

async function main(): Promise<void> {
  const server = await resolveNatsServer({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  const version = execFileSync(server.path, ['--version'], { encoding: 'utf8' }).trim();
  process.stderr.write(`NATS server resolved from ${server.source} (${version}):\n`);
  process.stdout.write(`${server.path}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
