/**
 * Runs the codec server as its own process, configured by environment: BATON_CODEC_KEYS, BATON_CODEC_ACTIVE_KEY,
 * CODEC_SERVER_HOST, CODEC_SERVER_PORT (default 8888), CODEC_ALLOWED_ORIGINS, CODEC_AUTH_TOKEN, CODEC_NAMESPACES.
 * A bad setting exits 2 with a message naming the variable; SIGINT or SIGTERM stops it cleanly.
 */
import { ConfigError } from '../config/config';
import { loadCodecServerSettings, startCodecServer } from './codec/codec-server';
import { createLogger, lineLog } from '../services/telemetry/logger';

const logger = createLogger({ service: 'codec-server' });
const log = lineLog(logger);

async function main(): Promise<void> {
  const settings = loadCodecServerSettings();
  if (settings.usingLocalDevKeys) {
    logger.warn(
      'codec server: using the published local development keys; set BATON_CODEC_KEYS for real data',
    );
  }
  const server = await startCodecServer({ ...settings, log });
  log(
    `codec server listening on ${server.url} (active key "${settings.ring.activeKeyId}", ` +
      `origins ${settings.allowedOrigins.join(' ')}${settings.authToken === undefined ? '' : ', bearer token required'})`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  log('codec server stopped');
}

main().catch((error: unknown) => {
  // A setting to fix is told plainly, to the person starting the server.
  if (error instanceof ConfigError) console.error(`codec server failed: ${error.message}`);
  else logger.fatal(`codec server failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
