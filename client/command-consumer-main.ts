/**
 * The command consumer as its own process (production): takes command events off the bus NATS_URL names and starts
 * the workflows they ask for on the Temporal cluster TEMPORAL_ADDRESS names. Scale it like workers: every copy
 * shares the one durable consumer, and a command is handed to one of them at a time. Stops on SIGINT or SIGTERM,
 * handing back the commands it holds.
 */
import { ConfigError, loadConfig } from '../config/config';
import { connectClient } from '../temporal/connection';
import { busSettingsFrom, openBus } from '../workers/services';
import { startCommandConsumer } from './command-consumer';

async function main(): Promise<void> {
  const config = loadConfig();
  const bus = await openBus({ ...busSettingsFrom(config), name: 'baton-command-consumer' });
  try {
    const client = await connectClient(config);
    try {
      const consumer = startCommandConsumer({
        bus,
        client,
        keys: config.codecKeys,
        log: (line) => console.log(line),
      });
      const stop = () => void consumer.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      console.log(
        `command consumer: ${config.NATS_URL} -> ${config.TEMPORAL_ADDRESS} (${config.TEMPORAL_NAMESPACE})`,
      );
      await consumer.finished;
    } finally {
      await client.connection.close();
    }
  } finally {
    await bus.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
