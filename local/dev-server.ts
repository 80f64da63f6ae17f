/**
 * Runs `temporal server start-dev` as a child process: the one-machine Temporal server, with its SQLite file, the
 * project's search attributes and the Web UI, and waits until it answers before handing it over.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { spawnServer, tcpAccepts, waitUntilReady } from './server-process';

/** How to run the dev server. */
export interface DevServerOptions {
  /** The Temporal CLI binary (see resolveTemporalCli). */
  cliPath: string;
  /** Address to listen on (default 127.0.0.1). */
  ip?: string;
  /** gRPC port of the frontend. */
  port: number;
  /** Port of the Web UI; without it the server runs headless. */
  uiPort?: number;
  /** SQLite file that keeps the server's state (its folder is created); in memory when omitted. */
  dbFile?: string;
  /**
   * How the SQLite file commits: `wal` (write-ahead log, synchronous=NORMAL) or the dev server's own `default`
   * (rollback journal, a sync on every commit). WAL does about three times the workflows per second on one disk and
   * loses nothing when the server is killed; an OS crash or power cut may lose the last commits. Default `default`.
   */
  sqliteJournal?: 'wal' | 'default';
  /** Namespace to create besides `default` (default `default`). */
  namespace?: string;
  /** Custom search attributes to register: name => type (Keyword, Int, Text, Double, Bool, Datetime, KeywordList). */
  searchAttributes: Readonly<Record<string, string>>;
  /** Port of the server's own Prometheus metrics (`/metrics`); a free one the server picks when omitted. */
  metricsPort?: number;
  /** Remote codec endpoint the Web UI uses to decode payloads. */
  uiCodecEndpoint?: string;
  /** Server log level: debug, info, warn, error or never (default warn). */
  logLevel?: string;
  /** Further `start-dev` flags, appended last. */
  extraArgs?: readonly string[];
  /** How long to wait for the server to answer (default 60 s). */
  readyTimeoutMs?: number;
  /** Receives every line the server prints. */
  log?: (line: string) => void;
}

/** A running dev server. */
export interface DevServer {
  /** `host:port` clients connect to. */
  address: string;
  /** Web UI address, when the UI is served. */
  uiUrl?: string;
  /** The server's Prometheus metrics, when a port was asked for. */
  metricsUrl?: string;
  namespace: string;
  pid: number;
  /** Stops the server: SIGTERM, then SIGKILL if it is still there after 10 s. Safe to call more than once. */
  stop(): Promise<void>;
  /** Sends a signal to the server process, without waiting (fault tests). */
  kill(signal: NodeJS.Signals): void;
}

/** Why the dev server did not come up. */
export const DevServerErrorCode = {
  /** The process exited (or could not be spawned) before answering. */
  Exited: 'exited',
  /** It did not answer within the ready timeout. */
  Timeout: 'timeout',
  /** It answered, but without the requested search attributes. */
  SearchAttributes: 'search_attributes',
} as const;
/** One of {@link DevServerErrorCode}. */
export type DevServerErrorCode = (typeof DevServerErrorCode)[keyof typeof DevServerErrorCode];

/** The dev server failed to start; `lastOutput` holds its final lines. */
export class DevServerError extends Error {
  override readonly name = 'DevServerError';

  constructor(
    readonly code: DevServerErrorCode,
    message: string,
    readonly lastOutput: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      lastOutput.length > 0 ? `${message}\n--- last output ---\n${lastOutput.join('\n')}` : message,
      options,
    );
  }
}

/** Starts `temporal server start-dev` and resolves once it answers with the requested search attributes. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  // A server listening on every interface is still reached on loopback.
  const host = ip === '0.0.0.0' || ip === '::' ? '127.0.0.1' : ip;
  const address = `${host}:${options.port}`;

  if (options.dbFile) await mkdir(path.dirname(path.resolve(options.dbFile)), { recursive: true });

  const args = devServerArgs({ ...options, ip, namespace, logLevel: options.logLevel ?? 'warn' });
  const server = spawnServer(options.cliPath, args, { log: options.log });
  const searchAttributes = Object.keys(options.searchAttributes);

  try {
    await waitUntilReady(server, {
      deadline: Date.now() + readyTimeoutMs,
      // A plain TCP probe first: a gRPC connect to a closed port waits through its own reconnect backoff.
      probe: async (remainingMs) => {
        await tcpAccepts(host, options.port);
        const missing = await missingSearchAttributes(
          { address, namespace, searchAttributes },
          Math.min(remainingMs, 5_000),
        );
        if (missing.length > 0) {
          throw new DevServerError(
            DevServerErrorCode.SearchAttributes,
            `namespace ${namespace} lacks search attributes ${missing.join(', ')}`,
            [],
          );
        }
      },
      exitedError: (exit) =>
        new DevServerError(
          DevServerErrorCode.Exited,
          `the Temporal dev server ${exit.error ? `could not be started: ${exit.error.message}` : 'exited before answering'}`,
          [...server.output],
          { cause: exit.error },
        ),
      timeoutError: (lastError) =>
        new DevServerError(
          lastError instanceof DevServerError ? lastError.code : DevServerErrorCode.Timeout,
          `the Temporal dev server did not answer on ${address} in time` +
            (lastError instanceof Error ? ` (last error: ${lastError.message})` : ''),
          [...server.output],
          { cause: lastError },
        ),
    });
  } catch (error) {
    await server.stop();
    throw error;
  }

  return {
    address,
    uiUrl: options.uiPort === undefined ? undefined : `http://${host}:${options.uiPort}`,
    ...(options.metricsPort === undefined
      ? {}
      : { metricsUrl: `http://${host}:${options.metricsPort}/metrics` }),
    namespace,
    pid: server.pid,
    stop: server.stop,
    kill: server.kill,
  };
}

/** The `start-dev` command line for these options. */
export function devServerArgs(
  options: DevServerOptions & { ip: string; namespace: string; logLevel: string },
): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    options.ip,
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-format',
    'text',
    '--log-level',
    options.logLevel,
    // Updates (review, cancel) must be on; the version check would call out to the internet.
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
  ];
  if (options.dbFile) {
    args.push('--db-filename', path.resolve(options.dbFile));
    if (options.sqliteJournal === 'wal') {
      args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL');
    }
  }
  if (options.uiPort === undefined) {
    args.push('--headless');
  } else {
    args.push('--ui-port', String(options.uiPort));
    if (options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  }
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));
  for (const [name, type] of Object.entries(options.searchAttributes)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  args.push(...(options.extraArgs ?? []));
  return args;
}

/** What the search-attribute check needs to know. */
interface SearchAttributeProbe {
  address: string;
  namespace: string;
  searchAttributes: readonly string[];
}

async function missingSearchAttributes(probe: SearchAttributeProbe, timeoutMs: number): Promise<string[]> {
  const connection = await Connection.connect({ address: probe.address, connectTimeout: timeoutMs });
  try {
    await connection.workflowService.getSystemInfo({});
    if (probe.searchAttributes.length === 0) return [];
    const listed = await connection.operatorService.listSearchAttributes({ namespace: probe.namespace });
    const known = new Set(Object.keys(listed.customAttributes ?? {}));
    return probe.searchAttributes.filter((name) => !known.has(name));
  } finally {
    await connection.close();
  }
}
