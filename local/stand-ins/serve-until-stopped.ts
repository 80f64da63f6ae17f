/**
 * The shape of every stand-alone local server (bank simulator, SMTP sink, local Twilio): read the validated
 * configuration, start, say where it listens, and stop cleanly on SIGINT or SIGTERM. A bad setting exits 2 with a
 * message naming the variable; any other failure exits 1.
 */
import { ConfigError, loadConfig } from '../../config/config';
import type { Config } from '../../config/config';

/** Runs a server built from configuration until the process is asked to stop. */
export function serveUntilStopped<S extends { close(): Promise<void> }>(
  name: string,
  start: (config: Config) => Promise<S>,
  describe: (server: S, config: Config) => string,
): void {
  const run = async () => {
    const config = loadConfig();
    const server = await start(config);
    console.log(`${name} ${describe(server, config)}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    console.log(`${name} stopped`);
  };
  run().catch((error: unknown) => {
    console.error(`${name} failed:`, error instanceof Error ? error.message : error);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  });
}
