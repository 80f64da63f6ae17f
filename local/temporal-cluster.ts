/**
 * A Temporal server as a cluster runs it: `temporal-server` with every service in one process, its state and its
 * visibility (SQL, so baton's search attributes work) on PostgreSQL. The same three files as docker-compose.yml's
 * Temporal: `deploy/temporal/schema.sh` creates and migrates the databases, `deploy/temporal/config/baton.yaml` is
 * the configuration the server renders from the environment, `deploy/temporal/setup.sh` creates the namespace and
 * registers the search attributes.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from '../services/ports';
import { describeExit, spawnServer, tcpAccepts, waitUntilReady } from './server-process';
import type { ServerProcess } from './server-process';

const PROJECT_ROOT = path.resolve(__dirname, '..');
/** The folder of the shipped Temporal files (schema.sh, setup.sh, config/, dynamicconfig.yaml). */
export const TEMPORAL_DEPLOY_DIR = path.join(PROJECT_ROOT, 'deploy', 'temporal');

/** Where the server keeps its state. */
export interface ClusterPostgres {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** History database (default `temporal`). */
  database?: string;
  /** Visibility database (default `temporal_visibility`). */
  visibilityDatabase?: string;
}

/** The ports of the server's four services (gRPC and membership each, and the frontend's HTTP API). */
export interface ClusterPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

/** The ports a cluster uses unless told otherwise: the server's own defaults. */
export const DEFAULT_CLUSTER_PORTS: ClusterPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
};

/** How to run the server. */
export interface ClusterServerOptions {
  /** `temporal-server`, `temporal-sql-tool` and the `temporal` CLI (setup.sh runs it). */
  binaries: { server: string; sqlTool: string; cli: string };
  postgres: ClusterPostgres;
  /** `free` picks every port free on loopback (tests); default {@link DEFAULT_CLUSTER_PORTS}. */
  ports?: ClusterPorts | 'free';
  namespace?: string;
  /** Custom search attributes to register: name => type. */
  searchAttributes: Readonly<Record<string, string>>;
  /** Dynamic configuration file (default `deploy/temporal/dynamicconfig.yaml`). */
  dynamicConfigFile?: string;
  /** Serve the server's Prometheus metrics on this port. */
  metricsPort?: number;
  /** Server log level (default warn). */
  logLevel?: string;
  /** How long to wait for the server to answer (default 120 s: a first start on new databases is slow). */
  readyTimeoutMs?: number;
  /** Receives every line the server and the scripts print. */
  log?: (line: string) => void;
}

/** A running cluster server. */
export interface ClusterServer {
  /** `host:port` of the frontend. */
  address: string;
  namespace: string;
  ports: ClusterPorts;
  metricsUrl?: string;
  /** Process id of the current server process. */
  pid(): number;
  /** Stops the server: SIGTERM, then SIGKILL after 10 s. Safe to call more than once. */
  stop(): Promise<void>;
  /** Sends a signal to the server process and waits until it is gone (fault tests). */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same ports and databases, and waits until it answers. */
  restart(): Promise<void>;
}

/**
 * Free ports for every service. The server stores each membership port in a `smallint` column
 * (cluster_membership.rpc_port); freePort hands out none above 32767.
 */
async function freePorts(): Promise<ClusterPorts> {
  return {
    frontend: await freePort(),
    frontendHttp: await freePort(),
    frontendMembership: await freePort(),
    history: await freePort(),
    historyMembership: await freePort(),
    matching: await freePort(),
    matchingMembership: await freePort(),
    worker: await freePort(),
    workerMembership: await freePort(),
  };
}

/** Runs one of the shipped shell scripts, its output to `log`; rejects with its last lines when it fails. */
export function runDeployScript(
  script: 'schema.sh' | 'setup.sh',
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      [path.join(TEMPORAL_DEPLOY_DIR, script)],
      { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const lines = `${stdout}${stderr}`.split('\n').filter((line) => line.length > 0);
        for (const line of lines) log(`[${script}] ${line}`);
        if (error) {
          reject(
            new Error(`deploy/temporal/${script} failed: ${lines.slice(-15).join('\n')}`, { cause: error }),
          );
        } else {
          resolve();
        }
      },
    );
  });
}

/** The environment config/baton.yaml and schema.sh read, for these options. */
export function clusterEnvironment(
  options: Pick<ClusterServerOptions, 'postgres' | 'dynamicConfigFile' | 'metricsPort' | 'logLevel'>,
  ports: ClusterPorts,
): NodeJS.ProcessEnv {
  const pg = options.postgres;
  return {
    DB: 'postgres12',
    POSTGRES_SEEDS: pg.host,
    DB_PORT: String(pg.port),
    POSTGRES_USER: pg.user,
    POSTGRES_PWD: pg.password ?? '',
    DBNAME: pg.database ?? 'temporal',
    VISIBILITY_DBNAME: pg.visibilityDatabase ?? 'temporal_visibility',
    DYNAMIC_CONFIG_FILE_PATH:
      options.dynamicConfigFile ?? path.join(TEMPORAL_DEPLOY_DIR, 'dynamicconfig.yaml'),
    LOG_LEVEL: options.logLevel ?? 'warn',
    BIND_ON_IP: '127.0.0.1',
    FRONTEND_GRPC_PORT: String(ports.frontend),
    FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
    HISTORY_GRPC_PORT: String(ports.history),
    HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
    MATCHING_GRPC_PORT: String(ports.matching),
    MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
    WORKER_GRPC_PORT: String(ports.worker),
    WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
    ...(options.metricsPort === undefined ? {} : { PROMETHEUS_ENDPOINT: `127.0.0.1:${options.metricsPort}` }),
  };
}

/**
 * Migrates the databases (schema.sh), starts the server, waits until its frontend answers, then creates the
 * namespace and registers the search attributes (setup.sh) and waits until they are visible.
 */
export async function startClusterServer(options: ClusterServerOptions): Promise<ClusterServer> {
  const log = options.log ?? (() => undefined);
  const ports = options.ports === 'free' ? await freePorts() : (options.ports ?? DEFAULT_CLUSTER_PORTS);
  const namespace = options.namespace ?? 'default';
  const address = `127.0.0.1:${ports.frontend}`;
  const env = clusterEnvironment(options, ports);
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;

  await runDeployScript('schema.sh', { ...env, TEMPORAL_SQL_TOOL: options.binaries.sqlTool }, log);

  let server: ServerProcess | undefined;
  const launch = async (): Promise<void> => {
    const process_ = spawnServer(
      options.binaries.server,
      ['--root', TEMPORAL_DEPLOY_DIR, '--config', 'config', '--env', 'baton', '--allow-no-auth', 'start'],
      { env: { ...process.env, ...env }, log },
    );
    server = process_;
    try {
      await waitUntilReady(process_, {
        deadline: Date.now() + readyTimeoutMs,
        probe: async (remainingMs) => {
          await tcpAccepts('127.0.0.1', ports.frontend);
          const connection = await Connection.connect({
            address,
            connectTimeout: Math.min(remainingMs, 5_000),
          });
          try {
            await connection.workflowService.getSystemInfo({});
          } finally {
            await connection.close();
          }
        },
        exitedError: (exit) =>
          new Error(
            `temporal-server ${describeExit(exit)} before it answered:\n${process_.output.join('\n')}`,
          ),
        timeoutError: (lastError) =>
          new Error(
            `temporal-server did not answer on ${address} in ${readyTimeoutMs / 1000} s (${String(lastError)}):\n` +
              process_.output.join('\n'),
          ),
      });
    } catch (error) {
      await process_.stop();
      throw error;
    }
  };

  await launch();
  try {
    await runDeployScript(
      'setup.sh',
      {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        SEARCH_ATTRIBUTES: Object.entries(options.searchAttributes)
          .map(([name, type]) => `${name}=${type}`)
          .join(' '),
        PATH: `${path.dirname(options.binaries.cli)}${path.delimiter}${process.env.PATH ?? ''}`,
      },
      log,
    );
  } catch (error) {
    await server?.stop();
    throw error;
  }

  const current = (): ServerProcess => {
    if (!server) throw new Error('the Temporal server is not running');
    return server;
  };
  return {
    address,
    namespace,
    ports,
    ...(options.metricsPort === undefined
      ? {}
      : { metricsUrl: `http://127.0.0.1:${options.metricsPort}/metrics` }),
    pid: () => current().pid,
    stop: async () => {
      await server?.stop();
    },
    kill: async (signal) => {
      const process_ = current();
      process_.kill(signal);
      await process_.exited;
    },
    restart: launch,
  };
}

/** How to run the Web UI against a cluster. */
export interface ClusterUiOptions {
  /** The `temporal-ui-server` binary. */
  binary: string;
  /** Frontend `host:port`. */
  temporalAddress: string;
  port: number;
  namespace?: string;
  /** Remote codec endpoint the UI decodes payloads through. */
  codecEndpoint?: string;
  log?: (line: string) => void;
}

/** A running UI server. */
export interface ClusterUi {
  url: string;
  stop(): Promise<void>;
}

/** Starts the Temporal Web UI server on a configuration written into a temp folder, and waits until it serves. */
export async function startClusterUi(options: ClusterUiOptions): Promise<ClusterUi> {
  const root = await mkdtemp(path.join(tmpdir(), 'baton-ui-'));
  await mkdir(path.join(root, 'config'));
  const settings = [
    `temporalGrpcAddress: ${JSON.stringify(options.temporalAddress)}`,
    'host: 127.0.0.1',
    `port: ${options.port}`,
    'enableUi: true',
    `defaultNamespace: ${JSON.stringify(options.namespace ?? 'default')}`,
    // It would otherwise ask GitHub for a newer release; this machine, and many deployments, have no way out.
    'notifyOnNewVersion: false',
    'refreshInterval: 0s',
    'codec:',
    `  endpoint: ${JSON.stringify(options.codecEndpoint ?? '')}`,
  ];
  await writeFile(path.join(root, 'config', 'baton.yaml'), `${settings.join('\n')}\n`);
  const ui = spawnServer(options.binary, ['--root', root, '--config', 'config', '--env', 'baton', 'start'], {
    log: options.log,
  });
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await waitUntilReady(ui, {
      deadline: Date.now() + 30_000,
      probe: async () => {
        const response = await fetch(`${url}/api/v1/settings`);
        if (!response.ok) throw new Error(`GET /api/v1/settings answered ${response.status}`);
      },
      exitedError: (exit) =>
        new Error(`temporal-ui-server ${describeExit(exit)} before it served:\n${ui.output.join('\n')}`),
      timeoutError: (lastError) =>
        new Error(`the Temporal UI did not serve ${url} in 30 s (${String(lastError)})`),
    });
  } catch (error) {
    await ui.stop();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    stop: async () => {
      await ui.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
