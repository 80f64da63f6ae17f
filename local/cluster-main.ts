/**
 * `npm run cluster`: Temporal as a cluster runs it, on one machine, for workers started by hand. The Temporal server
 * (every service in one process) on PostgreSQL, its Web UI and the codec server the UI decodes payloads through;
 * baton's ledger database on the same PostgreSQL, with the demo customers; and the stand-ins the worker's defaults
 * name (bank simulator, SMTP sink, local Twilio, NATS). No worker: start one or more with `npm run worker` (the
 * lines to paste are printed). Stays up until Ctrl-C; the state stays in PostgreSQL and `<DATA_DIR>/cluster`.
 *
 * Where Temporal keeps its state: TEMPORAL_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432), databases
 * `temporal` and `temporal_visibility` (created and migrated on every start, which changes nothing once they are
 * current). The ledger: database BATON_DATABASE (default `baton`) there.
 */
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { loadConfig, LOCAL_TWILIO, ConfigError } from '../config/config';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import { startCodecServer } from '../temporal/codec';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { CustomerStore } from '../services/customers';
import { Ledger } from '../services/ledger';
import { seedDemoCustomers } from './demo-seed';
import { resolveNatsServer, startNatsServer } from './nats-server';
import { startBankSimulator } from './stand-ins/bank-simulator';
import { startLocalTwilio } from './stand-ins/local-twilio';
import { startSmtpSink } from './stand-ins/smtp-sink';
import { DEFAULT_CLUSTER_PORTS, startClusterServer, startClusterUi } from './temporal-cluster';
import { resolveTemporalCli } from './temporal-cli';
import { resolveClusterTools } from './temporal-server-tools';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The PostgreSQL Temporal keeps its state on, from TEMPORAL_POSTGRES_URL. */
function clusterPostgres(): { host: string; port: number; user: string; password: string; url: URL } {
  const raw = process.env.TEMPORAL_POSTGRES_URL?.trim() || 'postgres://postgres@127.0.0.1:5432';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError([`TEMPORAL_POSTGRES_URL: "${raw}" is not a postgres:// URL`]);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError([`TEMPORAL_POSTGRES_URL: "${raw}" is not a postgres:// URL`]);
  }
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    password: decodeURIComponent(url.password),
    url,
  };
}

/** Creates the ledger's database when it is missing; returns its URL. */
async function ensureLedgerDatabase(server: URL, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new ConfigError([`BATON_DATABASE: "${name}" must be a lower-case PostgreSQL database name`]);
  }
  const admin = new URL(server);
  admin.pathname = '/postgres';
  const pg = new PgClient({ connectionString: admin.toString() });
  await pg.connect();
  try {
    const found = await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await pg.query(`CREATE DATABASE "${name}"`);
  } finally {
    await pg.end();
  }
  const ledger = new URL(server);
  ledger.pathname = `/${name}`;
  return ledger.toString();
}

async function main(): Promise<void> {
  const config = loadConfig();
  const postgres = clusterPostgres();
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async (): Promise<void> => {
    while (cleanups.length > 0)
      await cleanups
        .pop()?.()
        .catch((error: unknown) => say(String(error)));
  };
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    say('stopping...');
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const progress = (line: string): void => say(`  ${line}`);
    const cli = await resolveTemporalCli({ onProgress: progress });
    const tools = await resolveClusterTools({ onProgress: progress });
    say(`Temporal server ${tools.server.path}; state on PostgreSQL ${postgres.host}:${postgres.port}`);
    const server = await startClusterServer({
      binaries: { server: tools.server.path, sqlTool: tools.sqlTool.path, cli: cli.path },
      postgres,
      ports: { ...DEFAULT_CLUSTER_PORTS, frontend: config.TEMPORAL_PORT },
      namespace: config.TEMPORAL_NAMESPACE,
      searchAttributes: SEARCH_ATTRIBUTES,
      log: (line) => {
        if (line.startsWith('[')) say(`  ${line}`);
      },
    });
    cleanups.push(() => server.stop());

    const keys = parseKeyRing(LOCAL_DEV_KEYS);
    const codec = await startCodecServer({
      port: config.CODEC_SERVER_PORT,
      ring: keys,
      allowedOrigins: [
        `http://localhost:${config.TEMPORAL_UI_PORT}`,
        `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`,
      ],
    });
    cleanups.push(() => codec.close());
    const ui = await startClusterUi({
      binary: tools.uiServer.path,
      temporalAddress: server.address,
      port: config.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      codecEndpoint: codec.url,
    });
    cleanups.push(() => ui.stop());

    const databaseUrl = await ensureLedgerDatabase(
      postgres.url,
      process.env.BATON_DATABASE?.trim() || 'baton',
    );
    const ledger = await Ledger.open({ databaseUrl, poolSize: 2 });
    cleanups.push(() => ledger.close());
    await seedDemoCustomers(ledger, new CustomerStore(ledger.database));

    const bank = await startBankSimulator({
      host: config.BANK_SIM_HOST,
      port: config.BANK_SIM_PORT,
      webhookUrl: config.BANK_WEBHOOK_URL,
      webhookSecret: config.BANK_WEBHOOK_SECRET,
      defaultOutcome: config.BANK_SIM_OUTCOME,
      defaultDelayMs: config.BANK_SIM_DELAY_MS,
    });
    cleanups.push(() => bank.close());
    const mail = await startSmtpSink({ host: config.SMTP_SINK_HOST, port: config.SMTP_SINK_PORT });
    cleanups.push(() => mail.close());
    const sms = await startLocalTwilio({
      host: config.TWILIO_LOCAL_HOST,
      port: config.TWILIO_LOCAL_PORT,
      accountSid: LOCAL_TWILIO.accountSid,
      authToken: LOCAL_TWILIO.authToken,
    });
    cleanups.push(() => sms.close());
    const nats = await startNatsServer({
      binaryPath: (await resolveNatsServer({ onProgress: progress })).path,
      port: config.NATS_PORT,
      storeDir: path.resolve(config.DATA_DIR, 'cluster', 'nats'),
    });
    cleanups.push(() => nats.stop());

    say('');
    say(`Temporal cluster (PostgreSQL):  ${server.address}, namespace ${server.namespace}`);
    say(`Temporal Web UI:                ${ui.url}`);
    say(`ledger database:                ${databaseUrl}`);
    say(`bank simulator ${bank.url}, SMTP sink ${mail.url}, Twilio stand-in ${sms.url}, NATS ${nats.url}`);
    say('');
    say('Start a worker (and a second one in another terminal, on other ports):');
    say(`  DATABASE_URL=${databaseUrl} npm run worker`);
    say(`  DATABASE_URL=${databaseUrl} WEBHOOK_PORT=7311 WORKER_OPS_PORT=7313 npm run worker`);
    say('Then:');
    say('  npm run client -- pay --from A-1001-EUR --to-name "Jane Roe" --to-iban DE89370400440532013000 \\');
    say('                       --to-country DE --amount 12.34 --currency EUR --wait');
    say(
      '  npm run client -- register --name "Ana Lima" --email ana@example.com --channel email --currency EUR --wait',
    );
    say('Ctrl-C stops everything; the state stays in PostgreSQL.');
  } catch (error) {
    await stopAll();
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
