/**
 * The shape of every stand-alone local server (bank simulator, SMTP sink, local Twilio): read the validated
 * configuration, start, say where it listens, and stop cleanly on SIGINT or SIGTERM. A bad setting exits 2 with a
 * message naming the variable; any other failure exits 1.
 */
import { ConfigError, loadConfig } from '../../config/config';
import type { Config } from '../../config/config';
import { createLogger, lineLog } from '../../services/telemetry/logger';
import type { Log } from '../../services/telemetry/logger';

/**
 * Runs a server built from configuration until the process is asked to stop; it logs JSON lines, its `service`
 * being its name in kebab case (`bank-simulator`).
 */
export function serveUntilStopped<S extends { close(): Promise<void> }>(
  name: string,
  start: (config: Config, log: Log) => Promise<S>,
  describe: (server: S, config: Config) => string,
): void {
  const logger = createLogger({ service: name.toLowerCase().replace(/\s+/g, '-') });
  const log = lineLog(logger);
  const run = async () => {
    const config = loadConfig();
    const server = await start(config, log);
    log(`${name} ${describe(server, config)}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    log(`${name} stopped`);
  };
  run().catch((error: unknown) => {
    // A setting to fix is told plainly, to the person starting the server.
    if (error instanceof ConfigError) console.error(`${name} failed: ${error.message}`);
    else logger.fatal(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  });
}
