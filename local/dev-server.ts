/**
 * Runs `temporal server start-dev` as a child process: the one-machine Temporal server, with its SQLite file, the
 * project's search attributes and the Web UI, and waits until it answers before handing it over.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';

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

const STOP_GRACE_MS = 10_000;
const OUTPUT_LINES_KEPT = 40;
const RETRY_EVERY_MS = 200;

/** Every dev server still running; killed if this process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Exit handlers cannot wait, so the last resort is an immediate SIGKILL.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Starts `temporal server start-dev` and resolves once it answers with the requested search attributes. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const log = options.log ?? (() => undefined);
  // A server listening on every interface is still reached on loopback.
  const host = ip === '0.0.0.0' || ip === '::' ? '127.0.0.1' : ip;
  const address = `${host}:${options.port}`;

  if (options.dbFile) await mkdir(path.dirname(path.resolve(options.dbFile)), { recursive: true });

  const args = devServerArgs({ ...options, ip, namespace, logLevel: options.logLevel ?? 'warn' });
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  installExitHook();
  running.add(child);

  const output: string[] = [];
  const onLine = (line: string): void => {
    output.push(line);
    if (output.length > OUTPUT_LINES_KEPT) output.shift();
    log(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);

  const closed = new Promise<void>((resolve) => {
    child.once('close', () => {
      running.delete(child);
      resolve();
    });
  });
  // 'error' without 'close' means the process never started (missing binary, no permission).
  const exited = new Promise<Error | undefined>((resolve) => {
    void closed.then(() => resolve(undefined));
    child.once('error', (error) => {
      running.delete(child);
      resolve(error);
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.pid === undefined || !running.has(child)) return;
      child.kill('SIGTERM');
      const forced = sleep(STOP_GRACE_MS, 'timeout' as const, { ref: false });
      if ((await Promise.race([exited.then(() => 'exited' as const), forced])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  try {
    await waitUntilReady({
      address,
      namespace,
      host,
      port: options.port,
      searchAttributes: Object.keys(options.searchAttributes),
      deadline: Date.now() + readyTimeoutMs,
      exited,
      output,
    });
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    address,
    uiUrl: options.uiPort === undefined ? undefined : `http://${host}:${options.uiPort}`,
    namespace,
    pid: child.pid ?? -1,
    stop,
    kill: (signal) => {
      child.kill(signal);
    },
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
  for (const [name, type] of Object.entries(options.searchAttributes)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  args.push(...(options.extraArgs ?? []));
  return args;
}

interface ReadinessProbe {
  address: string;
  host: string;
  port: number;
  namespace: string;
  searchAttributes: readonly string[];
  deadline: number;
  /** Resolves when the process is gone (or could not be spawned); never rejects. */
  exited: Promise<Error | undefined>;
  output: readonly string[];
}

/**
 * Waits until the server accepts TCP connections, then until it answers gRPC and lists every requested search
 * attribute. Each wait races the process's exit, so a server that dies is reported at once.
 */
async function waitUntilReady(probe: ReadinessProbe): Promise<void> {
  let lastError: unknown;
  let exitedWith: { error: Error | undefined } | undefined;
  void probe.exited.then((error) => {
    exitedWith = { error };
  });
  for (;;) {
    if (exitedWith) {
      const why = exitedWith.error
        ? `could not be started: ${exitedWith.error.message}`
        : 'exited before answering';
      throw new DevServerError(
        DevServerErrorCode.Exited,
        `the Temporal dev server ${why}`,
        [...probe.output],
        { cause: exitedWith.error },
      );
    }
    const remaining = probe.deadline - Date.now();
    if (remaining <= 0) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new DevServerError(
        lastError instanceof DevServerError ? lastError.code : DevServerErrorCode.Timeout,
        `the Temporal dev server did not answer on ${probe.address} in time${detail}`,
        [...probe.output],
        { cause: lastError },
      );
    }
    // A plain TCP probe first: a gRPC connect to a closed port waits through its own reconnect backoff.
    const attempt = tcpAccepts(probe.host, probe.port).then(() =>
      missingSearchAttributes(probe, Math.min(remaining, 5_000)),
    );
    attempt.catch(() => undefined); // also observed below; this keeps a late rejection after exit quiet
    try {
      const missing = await Promise.race([attempt, probe.exited.then(() => undefined)]);
      if (missing?.length === 0) return;
      if (missing) {
        lastError = new DevServerError(
          DevServerErrorCode.SearchAttributes,
          `namespace ${probe.namespace} lacks search attributes ${missing.join(', ')}`,
          [],
        );
      }
    } catch (error) {
      lastError = error;
    }
    if (!exitedWith) await Promise.race([sleep(RETRY_EVERY_MS), probe.exited]);
  }
}

function tcpAccepts(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

async function missingSearchAttributes(probe: ReadinessProbe, timeoutMs: number): Promise<string[]> {
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
