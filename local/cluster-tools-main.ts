/**
 * `npm run cluster:tools`: finds or builds the Temporal server, its SQL schema tool and the UI server, and prints
 * their paths on stdout (progress goes to stderr), so CI and scripts can prepare them before anything needs them.
 */
import type { ResolvedGoTool } from './go-tool';
import { resolveClusterTools } from './temporal-server-tools';

async function main(): Promise<void> {
  const tools = await resolveClusterTools({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  const resolved: [string, ResolvedGoTool][] = [
    ['temporal-server', tools.server],
    ['temporal-sql-tool', tools.sqlTool],
    ['temporal-ui-server', tools.uiServer],
  ];
  for (const [name, tool] of resolved) {
    process.stderr.write(`${name} resolved from ${tool.source}\n`);
    process.stdout.write(`${tool.path}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
