/**
 * Finds (or builds with Go) the NATS server and runs it as a child process with JetStream on a file store, waiting
 * until JetStream answers before handing it over.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { GoToolError, GoToolErrorCode, goToolBinaryPath, projectToolDir, resolveGoTool } from './go-tool';
import type { GoToolSource, GoToolSpec, ResolveGoToolOptions, ResolvedGoTool } from './go-tool';
import { describeExit, spawnServer, tcpAccepts, waitUntilReady } from './server-process';
import type { ProcessExit } from './server-process';

/** Version of the NATS server the project builds and caches. */
export const NATS_SERVER_VERSION = 'v2.15.2';

/** Go package path of the NATS server command. */
export const NATS_SERVER_PACKAGE = 'github.com/nats-io/nats-server/v2';

/** Where a Go build of the server is kept: ignored by git, reused by every later run. */
export const NATS_SERVER_TOOL_DIR = projectToolDir(`nats-server-${NATS_SERVER_VERSION}`);

/** How every local server's name starts; each start adds a suffix of its own (see startNatsServer). */
export const NATS_SERVER_NAME = 'baton-local';

/** Where the resolved binary came from. */
export type NatsServerSource = GoToolSource;

/** The NATS server binary to run, and how it was found. */
export type ResolvedNatsServer = ResolvedGoTool;

/** Options of {@link resolveNatsServer}; `env` is read for `NATS_SERVER_PATH` and `PATH`. */
export type ResolveNatsServerOptions = ResolveGoToolOptions;

/** Why the NATS server binary could not be provided (`BadEnvPath` is about `NATS_SERVER_PATH`). */
export const NatsServerToolErrorCode = GoToolErrorCode;
/** One of {@link NatsServerToolErrorCode}. */
export type NatsServerToolErrorCode = GoToolErrorCode;

/** The NATS server binary could not be found or built; the message says what to do. */
export class NatsServerToolError extends GoToolError {
  override readonly name = 'NatsServerToolError';
}

/** How the NATS server is found and built. */
const NATS_SERVER: GoToolSpec = {
  displayName: 'NATS server',
  binaryName: 'nats-server',
  envVar: 'NATS_SERVER_PATH',
  goPackage: NATS_SERVER_PACKAGE,
  version: NATS_SERVER_VERSION,
  toolDir: NATS_SERVER_TOOL_DIR,
  goRequirement: 'Go >= 1.26',
  buildCommand: 'npm run nats:server',
  installHint:
    'install the NATS server (https://docs.nats.io/running-a-nats-service/introduction/installation) so that ' +
    '`nats-server` is on PATH',
  errorClass: NatsServerToolError,
};

/**
 * Resolves the NATS server: `NATS_SERVER_PATH`, then `nats-server` on PATH, then the project's cached build, then a
 * fresh `go install` of {@link NATS_SERVER_VERSION} into that cache.
 */
export function resolveNatsServer(options: ResolveNatsServerOptions = {}): Promise<ResolvedNatsServer> {
  return resolveGoTool(NATS_SERVER, options);
}

/** Path of the cached build inside a tool folder. */
export function cachedNatsServerPath(toolDir: string = NATS_SERVER_TOOL_DIR): string {
  return goToolBinaryPath(NATS_SERVER, toolDir);
}

/** How to run the NATS server. */
export interface NatsServerOptions {
  /** The `nats-server` binary (see {@link resolveNatsServer}). */
  binaryPath: string;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Client port. */
  port: number;
  /**
   * JetStream's file store; streams survive a restart (even after SIGKILL) that reuses it. A temp folder, removed on
   * stop, when omitted.
   */
  storeDir?: string;
  /** HTTP monitoring port (`/varz`, `/jsz`, `/healthz`); none when omitted. */
  monitorPort?: number;
  /** Receives every line the server prints. */
  log?: (line: string) => void;
  /** How long to wait for JetStream to answer (default 30 s). */
  readyTimeoutMs?: number;
}

/** A running NATS server. */
export interface NatsServer {
  /** `nats://host:port` clients connect to. */
  url: string;
  host: string;
  port: number;
  pid: number;
  /** The JetStream store folder in use. */
  storeDir: string;
  /**
   * Stops the server: SIGTERM, then SIGKILL if it is still there after 10 s; removes the store when it was a temp
   * folder. Safe to call more than once.
   */
  stop: () => Promise<void>;
  /** Sends a signal to the server process, without waiting (fault tests). */
  kill: (signal: NodeJS.Signals) => void;
  /** Resolves once the process is gone, however it ended; never rejects. */
  exited: Promise<ProcessExit>;
}

/** Why the NATS server did not come up. */
export const NatsServerErrorCode = {
  /** The process exited (or could not be spawned) before JetStream answered. */
  Exited: 'exited',
  /** JetStream did not answer within the ready timeout. */
  Timeout: 'timeout',
} as const;
/** One of {@link NatsServerErrorCode}. */
export type NatsServerErrorCode = (typeof NatsServerErrorCode)[keyof typeof NatsServerErrorCode];

/** The NATS server failed to start; `lastOutput` holds its final lines. */
export class NatsServerError extends Error {
  override readonly name = 'NatsServerError';

  constructor(
    readonly code: NatsServerErrorCode,
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

/** Starts `nats-server` with JetStream and resolves once JetStream answers on the client port. */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServer> {
  const host = options.host ?? '127.0.0.1';
  const { port } = options;
  // A server listening on every interface is still reached on loopback.
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `nats://${connectHost}:${port}`;
  const ownStore = options.storeDir === undefined;
  const storeDir = ownStore
    ? await mkdtemp(path.join(tmpdir(), 'baton-nats-'))
    : path.resolve(options.storeDir ?? '');
  if (!ownStore) await mkdir(storeDir, { recursive: true });

  // A name of this start's own, so readiness is proven by this process answering, not by whatever server already
  // holds the port (a machine's own NATS on 4222, a previous run's server not yet gone).
  const serverName = `${NATS_SERVER_NAME}-${randomBytes(4).toString('hex')}`;
  const server = spawnServer(options.binaryPath, natsServerArgs({ ...options, host, storeDir, serverName }), {
    log: options.log,
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await server.stop();
      if (ownStore) await rm(storeDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady(server, {
      deadline: Date.now() + (options.readyTimeoutMs ?? 30_000),
      probe: (remainingMs) => jetStreamAnswers(connectHost, port, serverName, Math.min(remainingMs, 5_000)),
      exitedError: (exit) =>
        new NatsServerError(
          NatsServerErrorCode.Exited,
          `the NATS server ${describeExit(exit)} before JetStream answered on ${url}`,
          [...server.output],
          { cause: exit.error },
        ),
      timeoutError: (lastError) =>
        new NatsServerError(
          NatsServerErrorCode.Timeout,
          `JetStream did not answer on ${url} in time` +
            (lastError instanceof Error ? ` (last error: ${lastError.message})` : ''),
          [...server.output],
          { cause: lastError },
        ),
    });
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    host: connectHost,
    port,
    pid: server.pid,
    storeDir,
    stop,
    kill: server.kill,
    exited: server.exited,
  };
}

/** The `nats-server` command line for these options. */
export function natsServerArgs(
  options: NatsServerOptions & { host: string; storeDir: string; serverName: string },
): string[] {
  const args = [
    '--jetstream',
    '--addr',
    options.host,
    '--port',
    String(options.port),
    '--store_dir',
    options.storeDir,
    '--server_name',
    options.serverName,
  ];
  if (options.monitorPort !== undefined) args.push('--http_port', String(options.monitorPort));
  return args;
}

/**
 * Ready means a client gets a JetStream API answer, not merely a log line or an open port: the server restores its
 * streams from the store before it accepts clients, so an answered `$JS.API.INFO` proves the restored state is
 * served. It needs no monitoring port and no parsing of log text that changes between versions. A plain TCP probe
 * comes first, so a closed port fails at once instead of inside the client's connect timeout.
 */
async function jetStreamAnswers(
  host: string,
  port: number,
  serverName: string,
  timeoutMs: number,
): Promise<void> {
  await tcpAccepts(host, port);
  const nc = await connect({ servers: `${host}:${port}`, reconnect: false, timeout: timeoutMs });
  try {
    const answering = nc.info?.server_name;
    if (answering !== serverName) {
      throw new Error(`another NATS server (${answering ?? 'unnamed'}) answers on port ${port}`);
    }
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}
