/**
 * `npm run temporal:cli`: finds or builds the Temporal CLI and prints its path on stdout (progress goes to stderr),
 * so scripts can prepare the binary before anything needs it.
 */
import { resolveTemporalCli } from './temporal-cli';

async function main(): Promise<void> {
  const cli = await resolveTemporalCli({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  process.stderr.write(`Temporal CLI resolved from ${cli.source}:\n`);
  process.stdout.write(`${cli.path}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
