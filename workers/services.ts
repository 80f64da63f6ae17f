/**
 * The one place baton's services are built: the worker process, the local stack and the benchmark each say where
 * the outside world is, and get the same services, opened and closed the same way.
 */
import path from 'node:path';
import type { Config } from '../config/config';
import { AmlScreener } from '../services/aml';
import { BankClient } from '../services/bank';
import type { BankClientOptions } from '../services/bank';
import { CustomerStore } from '../services/customers';
import type { DatabaseOptions } from '../services/db';
import { Ledger } from '../services/ledger';
import { Mailer } from '../services/mail';
import type { MailerOptions } from '../services/mail';
import { SendLog } from '../services/send-log/send-log';
import { TwilioSms } from '../services/sms';
import type { TwilioSmsOptions } from '../services/sms';
import type { BatonServices } from './worker';
import type { KeyRing } from '../config/key-ring';
import { openNatsBus } from '../services/bus';
import type { MessageBus, NatsBusOptions } from '../services/bus';
import { FindingStore } from '../services/watchdog/findings';
import { DEFAULT_WATCHDOG_SETTINGS } from '../activities/watchdog';
import type { WatchdogSettings } from '../activities/watchdog';

/** Where each service finds its part of the outside world. */
export interface ServiceSettings {
  /** baton's database: the ledger, the customers and the send log share it. */
  database: DatabaseOptions;
  mail: MailerOptions;
  sms: TwilioSmsOptions;
  bank: BankClientOptions;
  /** The watchlist file; the synthetic list shipped beside the screener when omitted. */
  amlWatchlistPath?: string;
  /** The message bus domain events go out on, and the keys that seal their personal fields. */
  events?: { bus: NatsBusOptions; keys: KeyRing };
  /** The watchdog's thresholds and operator address; the defaults, with no address, when omitted. */
  watchdog?: WatchdogSettings;
}

/** Connects to the bus and creates its streams and the command consumer (idempotent). */
export async function openBus(options: NatsBusOptions): Promise<MessageBus> {
  const bus = await openNatsBus(options);
  try {
    await bus.ensureTopology();
  } catch (error) {
    await bus.close();
    throw error;
  }
  return bus;
}

/** Every service the activities drive, and one call that closes them all. */
export type OpenServices = BatonServices & { close(): Promise<void> };

/** Opens the database (bringing its schema up to date) and builds every service over the settings. */
export async function openServices(settings: ServiceSettings): Promise<OpenServices> {
  const aml = await AmlScreener.fromFile(settings.amlWatchlistPath);
  const bus = settings.events === undefined ? undefined : await openBus(settings.events.bus);
  const ledger = await Ledger.open(settings.database).catch(async (error: unknown) => {
    await bus?.close();
    throw error;
  });
  const mailer = new Mailer(settings.mail);
  let closing: Promise<void> | undefined;
  return {
    ...(bus === undefined || settings.events === undefined
      ? {}
      : { events: { bus, keys: settings.events.keys } }),
    ledger,
    customers: new CustomerStore(ledger.database),
    findings: new FindingStore(ledger.database),
    watchdog: settings.watchdog ?? DEFAULT_WATCHDOG_SETTINGS,
    sendLog: new SendLog(ledger.database),
    mailer,
    sms: new TwilioSms(settings.sms),
    aml,
    bank: new BankClient(settings.bank),
    close() {
      closing ??= (async () => {
        mailer.close();
        await ledger.close();
        await bus?.close();
      })();
      return closing;
    },
  };
}

/** The service settings the environment names (see `.env.example`). */
export function serviceSettingsFrom(config: Config): ServiceSettings {
  return {
    database:
      config.DATABASE_URL !== undefined
        ? {
            databaseUrl: config.DATABASE_URL,
            ...(config.DATABASE_SCHEMA === undefined ? {} : { schema: config.DATABASE_SCHEMA }),
          }
        : { dataDir: path.resolve(config.DATA_DIR, 'ledger') },
    mail: { smtpUrl: config.SMTP_URL, from: config.MAIL_FROM },
    sms: {
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      ...(config.TWILIO_FROM === undefined ? {} : { from: config.TWILIO_FROM }),
      ...(config.TWILIO_MESSAGING_SERVICE_SID === undefined
        ? {}
        : { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID }),
      ...(config.TWILIO_API_BASE_URL === undefined ? {} : { apiBaseUrl: config.TWILIO_API_BASE_URL }),
    },
    bank: { baseUrl: config.BANK_URL, ...(config.BANK_API_KEY ? { apiKey: config.BANK_API_KEY } : {}) },
    ...(config.AML_WATCHLIST_PATH === undefined ? {} : { amlWatchlistPath: config.AML_WATCHLIST_PATH }),
    events: { bus: busSettingsFrom(config), keys: config.codecKeys },
    watchdog: watchdogSettingsFrom(config),
  };
}

/** The watchdog's thresholds and operator address, as the environment sets them. */
export function watchdogSettingsFrom(config: Config): WatchdogSettings {
  return {
    stuckAfterMs: config.WATCHDOG_STUCK_AFTER_SECONDS * 1000,
    reviewOverdueMs: config.WATCHDOG_REVIEW_OVERDUE_SECONDS * 1000,
    maxAttempts: config.WATCHDOG_MAX_ATTEMPTS,
    bankWindowMs: config.WATCHDOG_BANK_WINDOW_SECONDS * 1000,
    commandBacklog: config.WATCHDOG_COMMAND_BACKLOG,
    deadLetterWindowMs: config.WATCHDOG_DEAD_LETTER_WINDOW_SECONDS * 1000,
    ...(config.OPS_EMAIL === undefined ? {} : { opsEmail: config.OPS_EMAIL }),
    uiUrl: config.TEMPORAL_UI_URL,
  };
}

/** Where the environment says the message bus is. */
export function busSettingsFrom(config: Config): NatsBusOptions {
  return {
    url: config.NATS_URL,
    ...(config.NATS_CREDS_PATH === undefined ? {} : { credsPath: config.NATS_CREDS_PATH }),
  };
}
