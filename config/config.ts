/**
 * Every setting baton reads from the environment, in one validated schema. A bad value stops start-up with a
 * message naming the variable; `.env.example` lists the same variables.
 */
import { z } from 'zod';
import { KeyRingError, LOCAL_DEV_KEYS, parseKeyRing } from './key-ring';
import type { KeyRing } from './key-ring';

const port = z.coerce.number().int().min(1).max(65535);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const duration = z.coerce.number().int().min(0);
/** A comma-separated list of `item`s; unset or blank is undefined, and a set list names at least one. */
function commaList<T extends z.ZodType<string, string>>(item: T) {
  return optionalText.pipe(
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((entry) => entry.trim())
          .filter((entry) => entry !== ''),
      )
      .pipe(z.array(item).min(1, 'must list at least one value'))
      .optional(),
  );
}
const origin = z.string().refine((value) => URL.canParse(value) && new URL(value).origin === value, {
  message: 'each entry must be an origin such as http://localhost:8233 (scheme, host and port, no path)',
});

/** A Temporal namespace name as the codec server accepts and logs it. */
export const NAMESPACE_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** The Web UI's origins on a local dev server, allowed to call the codec server when nothing else is configured. */
const DEFAULT_CODEC_ALLOWED_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'] as const;

/** The sender of baton's email unless MAIL_FROM names another. */
export const DEFAULT_MAIL_FROM = 'baton <no-reply@baton.local>';

/**
 * The Twilio account the local stand-in accepts, and Twilio's documented test sender: the defaults, so the local
 * stack works with no settings. A real deployment sets its own account, token and sender.
 */
export const LOCAL_TWILIO = {
  accountSid: 'AC00000000000000000000000000000000',
  authToken: 'local-twilio-token',
  from: '+15005550006',
} as const;

/**
 * How a worker's runs move when a new build becomes current: `auto-upgrade` runs take their next step on the new
 * build (so the change must be patched), `pinned` runs stay on the build they started on until they end.
 */
export const VERSIONING_BEHAVIORS = ['auto-upgrade', 'pinned'] as const;
/** One of {@link VERSIONING_BEHAVIORS}. */
export type VersioningBehaviorSetting = (typeof VERSIONING_BEHAVIORS)[number];

/** The worker deployment version a worker polls as (`<name>:<buildId>`), and its runs' default behavior. */
export interface WorkerDeployment {
  name: string;
  buildId: string;
  behavior: VersioningBehaviorSetting;
}

/** The environment schema: variable name => validation and default. */
export const configSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port')
    .default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TLS_CERT_PATH: optionalText,
  TEMPORAL_TLS_KEY_PATH: optionalText,
  TEMPORAL_TLS_CA_PATH: optionalText,
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  TEMPORAL_API_KEY: optionalText,
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  JAEGER_QUERY_URL: z.url().default('http://127.0.0.1:16686'),
  TEMPORAL_CLI_PATH: optionalText,
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_METRICS_PORT: port.default(7234),
  /** Where `npm start` runs Jaeger: its query API (and UI placeholder) and its OTLP/HTTP receiver. */
  JAEGER_PORT: port.default(16686),
  JAEGER_OTLP_PORT: port.default(4318),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
  ),
  DATABASE_SCHEMA: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case PostgreSQL schema name')
      .optional(),
  ),
  LEDGER_PORT: port.default(7432),
  BANK_URL: z.url().default('http://127.0.0.1:7300'),
  BANK_API_KEY: optionalText,
  BANK_WEBHOOK_SECRET: z
    .string()
    .min(16, 'must be at least 16 characters')
    .default('local-dev-webhook-secret-change-me'),
  BANK_WEBHOOK_URL: z.url().default('http://127.0.0.1:7301/webhooks/bank'),
  BANK_SIM_PORT: port.default(7300),
  BANK_SIM_HOST: z.string().min(1).default('127.0.0.1'),
  BANK_SIM_DELAY_MS: duration.default(3000),
  BANK_SIM_OUTCOME: z.enum(['settled', 'failed', 'returned']).default('settled'),
  WEBHOOK_PORT: port.default(7301),
  WEBHOOK_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_OPS_PORT: port.default(7303),
  WORKER_OPS_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_METRICS: z.enum(['on', 'off']).default('on'),
  CONSUMER_OPS_PORT: port.default(7304),
  /** OTLP/HTTP address traces are exported to (`<it>/v1/traces`); no export when unset. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalText.pipe(z.url().optional()),
  /** Lowest level of the JSON log lines (services/telemetry/logger.ts reads it too). */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  AML_WATCHLIST_PATH: optionalText,
  WORKFLOW_BUNDLE_PATH: optionalText,
  /** The worker deployment the worker joins; with WORKER_BUILD_ID, or neither for an unversioned worker. */
  WORKER_DEPLOYMENT_NAME: optionalText.pipe(
    z
      .string()
      .max(255)
      .regex(/^[^.:]+$/, 'must not contain "." or ":"')
      .refine((name) => !name.startsWith('__'), 'must not start with "__"')
      .optional(),
  ),
  /** The build the worker runs, one per release of the workflow code (a git commit, an image tag). */
  WORKER_BUILD_ID: optionalText.pipe(
    z
      .string()
      .max(255)
      .refine((id) => !id.startsWith('__'), 'must not start with "__"')
      .optional(),
  ),
  /** How a run moves to a new build: `auto-upgrade` (the default in a deployment) or `pinned`. */
  WORKER_VERSIONING_BEHAVIOR: optionalText.pipe(z.enum(VERSIONING_BEHAVIORS).optional()),
  WORKER_MAX_CACHED_WORKFLOWS: optionalText.pipe(
    z
      .string()
      .regex(/^\d{1,7}$/, 'must be a whole number')
      .transform(Number)
      .refine(
        (n) => n >= 2,
        'must be at least 2: with no cache the SDK drops the local activities a workflow task waits for ' +
          '(screening, debit, settlement), and the task is retried with a growing back-off',
      )
      .optional(),
  ),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL')
    .default('smtp://127.0.0.1:1025'),
  MAIL_FROM: z.string().min(3).default(DEFAULT_MAIL_FROM),
  SMTP_SINK_PORT: port.default(1025),
  SMTP_SINK_HOST: z.string().min(1).default('127.0.0.1'),
  TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, 'must be "AC" followed by 32 hex digits')
    .default(LOCAL_TWILIO.accountSid),
  TWILIO_AUTH_TOKEN: z.string().min(8, 'must be at least 8 characters').default(LOCAL_TWILIO.authToken),
  TWILIO_FROM: optionalText.pipe(
    z
      .string()
      .regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 number')
      .optional(),
  ),
  TWILIO_MESSAGING_SERVICE_SID: optionalText.pipe(
    z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'must be "MG" followed by 32 hex digits')
      .optional(),
  ),
  TWILIO_API_BASE_URL: optionalText.pipe(z.url().optional()),
  TWILIO_LOCAL_PORT: port.default(7310),
  TWILIO_LOCAL_HOST: z.string().min(1).default('127.0.0.1'),
  NATS_URL: z
    .string()
    .regex(
      /^(nats|tls):\/\/[^\s,]+(,(nats|tls):\/\/[^\s,]+)*$/,
      'must be nats://host:port (or several, comma-separated)',
    )
    .default('nats://127.0.0.1:7422'),
  NATS_CREDS_PATH: optionalText,
  NATS_PORT: port.default(7422),
  WATCHDOG_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  WATCHDOG_STUCK_AFTER_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(2 * 60 * 60),
  WATCHDOG_REVIEW_OVERDUE_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(24 * 60 * 60),
  WATCHDOG_MAX_ATTEMPTS: z.coerce.number().int().min(2).max(1000).default(5),
  WATCHDOG_BANK_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 60 * 60),
  WATCHDOG_COMMAND_BACKLOG: z.coerce.number().int().min(0).default(100),
  WATCHDOG_DEAD_LETTER_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 60 * 60),
  OPS_EMAIL: optionalText.pipe(z.email('must be an email address').optional()),
  BATON_CODEC_KEYS: optionalText.transform((keys) => keys ?? LOCAL_DEV_KEYS),
  BATON_CODEC_ACTIVE_KEY: optionalText,
  CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_SERVER_PORT: port.default(8888),
  CODEC_ALLOWED_ORIGINS: commaList(origin).transform(
    (origins) => origins ?? [...DEFAULT_CODEC_ALLOWED_ORIGINS],
  ),
  CODEC_AUTH_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  CODEC_NAMESPACES: commaList(z.string().regex(NAMESPACE_NAME, 'each entry must be a namespace name')),
});

/** Validated configuration, with the payload encryption keys parsed and the worker's deployment, if any. */
export type Config = z.infer<typeof configSchema> & {
  codecKeys: KeyRing;
  /** The deployment version the worker polls as; undefined for an unversioned worker. */
  workerDeployment: WorkerDeployment | undefined;
};

/** A configuration that cannot start: each line names the variable and what is wrong with it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads and validates the configuration from `env` (default: process.env). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    // Messages only: zod's issues may quote the received value, and a token or key must not reach a log.
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const [variable, index] = issue.path;
        const entry = typeof index === 'number' ? `entry ${index + 1}: ` : '';
        return `${variable === undefined ? '(environment)' : String(variable)}: ${entry}${issue.message}`;
      }),
    );
  }
  let codecKeys: KeyRing;
  try {
    codecKeys = parseKeyRing(parsed.data.BATON_CODEC_KEYS, parsed.data.BATON_CODEC_ACTIVE_KEY);
  } catch (err) {
    if (err instanceof KeyRingError) throw new ConfigError([err.message]);
    throw err;
  }
  const config = { ...parsed.data, codecKeys, workerDeployment: workerDeploymentOf(parsed.data) };
  if ((config.TEMPORAL_TLS_CERT_PATH === undefined) !== (config.TEMPORAL_TLS_KEY_PATH === undefined)) {
    throw new ConfigError(['TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together']);
  }
  if (config.TWILIO_FROM === undefined && config.TWILIO_MESSAGING_SERVICE_SID === undefined) {
    // Twilio's documented test sender; real deployments set their own number or messaging service.
    return { ...config, TWILIO_FROM: LOCAL_TWILIO.from };
  }
  return config;
}

/**
 * The deployment version of WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID: both set, or neither (an unversioned
 * worker). A behavior without a deployment would silently do nothing, so it is refused too.
 */
function workerDeploymentOf(env: z.infer<typeof configSchema>): WorkerDeployment | undefined {
  const {
    WORKER_DEPLOYMENT_NAME: name,
    WORKER_BUILD_ID: buildId,
    WORKER_VERSIONING_BEHAVIOR: behavior,
  } = env;
  if (name === undefined && buildId === undefined) {
    if (behavior !== undefined) {
      throw new ConfigError([
        'WORKER_VERSIONING_BEHAVIOR applies to a worker in a deployment: set WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID too',
      ]);
    }
    return undefined;
  }
  if (name === undefined || buildId === undefined) {
    throw new ConfigError([
      'WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID must be set together (neither: an unversioned worker)',
    ]);
  }
  return { name, buildId, behavior: behavior ?? 'auto-upgrade' };
}
