/**
 * Runs the SMTP sink as its own process: `npm run smtp-sink`. Listens on SMTP_SINK_HOST:SMTP_SINK_PORT and prints
 * each message's Message-ID and subject, never an address.
 */
import { serveUntilStopped } from './serve-until-stopped';
import { startSmtpSink } from './smtp-sink';

serveUntilStopped(
  'SMTP sink',
  (config, log) =>
    startSmtpSink({
      host: config.SMTP_SINK_HOST,
      port: config.SMTP_SINK_PORT,
      log,
    }),
  (sink) => `listening on ${sink.url}`,
);
