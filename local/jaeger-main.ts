/**
 * `npm run jaeger`: finds or builds Jaeger and prints its path on stdout (progress and its version go to stderr), so
 * scripts can prepare the binary before anything needs it.
 */
import { execFileSync } from 'node:child_process';
import { resolveJaeger } from './jaeger';

async function main(): Promise<void> {
  const jaeger = await resolveJaeger({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  const version = execFileSync(jaeger.path, ['--version'], {
    encoding: 'utf8',
    // It also logs its build info on stderr; only the version line is wanted.
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
  process.stderr.write(`Jaeger resolved from ${jaeger.source} (${version}):\n`);
  process.stdout.write(`${jaeger.path}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
