/**
 * The command consumer as its own process (production): takes command events off the bus NATS_URL names and starts
 * the workflows they ask for on the Temporal cluster TEMPORAL_ADDRESS names. Scale it like workers: every copy
 * shares the one durable consumer, and a command is handed to one of them at a time. Stops on SIGINT or SIGTERM,
 * handing back the commands it holds.
 */
// First: the libraries it traces must be patched before anything loads them.
import '../services/telemetry/instrument';
import { ConfigError, loadConfig } from '../config/config';
import { connectClient } from '../temporal/connection';
import { busSettingsFrom, openBus } from '../workers/services';
import { startCommandConsumer } from './command-consumer';
import { Runtime } from '@temporalio/worker';
import { freePort } from '../services/ports';
import { installWorkerRuntime, runtimeMetricsUrl, temporalLogger } from '../temporal/runtime';
import { startOpsServer } from '../workers/ops-server';
import { startTracing } from '../services/telemetry/tracing';
import { createLogger, lineLog } from '../services/telemetry/logger';

/** The consumer's JSON log, the SDK runtime's lines included. */
const logger = createLogger({ service: 'baton-consumer' });
const log = lineLog(logger);

async function main(): Promise<void> {
  const config = loadConfig();
  const tracing = startTracing({
    serviceName: 'baton-consumer',
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  // The SDK runtime only carries the consumer's counters to its ops port here: this process hosts no worker.
  const metrics = config.WORKER_METRICS === 'on';
  installWorkerRuntime({
    logger: temporalLogger(logger),
    ...(metrics ? { metricsBindAddress: `127.0.0.1:${await freePort()}` } : {}),
  });
  const metricsUrl = runtimeMetricsUrl();
  const bus = await openBus({ ...busSettingsFrom(config), name: 'baton-command-consumer' });
  try {
    const client = await connectClient(config);
    try {
      const consumer = startCommandConsumer({
        bus,
        client,
        keys: config.codecKeys,
        ...(metrics ? { meter: Runtime.instance().metricMeter } : {}),
        log,
      });
      let stopped = false;
      void consumer.finished.finally(() => {
        stopped = true;
      });
      const ops = await startOpsServer({
        host: config.WORKER_OPS_HOST,
        port: config.CONSUMER_OPS_PORT,
        ...(metricsUrl === undefined ? {} : { runtimeMetricsUrl: metricsUrl }),
        live: () => !stopped,
        checks: {
          bus: () => bus.ping(),
          temporal: async () => {
            await client.workflowService.getSystemInfo({});
          },
        },
        log,
      }).catch(async (error: unknown) => {
        await consumer.stop();
        throw error;
      });
      const stop = () => void consumer.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      log(
        `command consumer: ${config.NATS_URL} -> ${config.TEMPORAL_ADDRESS} (${config.TEMPORAL_NAMESPACE}); ` +
          `ops (metrics, health) on ${ops.url}`,
      );
      await consumer.finished;
      await ops.close();
    } finally {
      await client.connection.close();
    }
  } finally {
    await bus.close();
    await tracing.shutdown();
  }
}

main().catch((err: unknown) => {
  // A setting to fix is told plainly, to the person starting the process.
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'the command consumer failed');
  process.exit(err instanceof ConfigError ? 2 : 1);
});
