/**
 * Runs the local Twilio-compatible server as its own process: `npm run twilio-local`. Listens on
 * TWILIO_LOCAL_HOST:TWILIO_LOCAL_PORT and accepts the TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN credentials.
 */
import { serveUntilStopped } from './serve-until-stopped';
import { startLocalTwilio } from './local-twilio';

serveUntilStopped(
  'local twilio',
  (config, log) =>
    startLocalTwilio({
      host: config.TWILIO_LOCAL_HOST,
      port: config.TWILIO_LOCAL_PORT,
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      log,
    }),
  (twilio, config) => `listening on ${twilio.url} for account ${config.TWILIO_ACCOUNT_SID}`,
);
