/**
 * Finds (or builds with Go) Jaeger v2 and runs it as a child process: OTLP/HTTP in, traces kept in memory, the query
 * HTTP API out, on ports the caller chose. Also a small typed client of that API's JSON (`/api/traces`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_LOOKBACK, fetchTrace, searchTraces, TraceNotFoundError } from '../client/traces';
import type { JaegerTrace } from '../client/traces';
import {
  GoToolError,
  GoToolErrorCode,
  goToolBinaryPath,
  projectToolDir,
  resolveGoTool,
  runGo,
} from './go-tool';
import type {
  GoBuildContext,
  GoToolSource,
  GoToolSpec,
  ResolveGoToolOptions,
  ResolvedGoTool,
} from './go-tool';
import { describeExit, spawnServer, waitUntilReady } from './server-process';
import type { ProcessExit } from './server-process';

// Pinned: `go install` refuses Jaeger (its go.mod has a replace directive), so it is built as a tool of the module in
// local/jaeger-tool, whose go.mod and go.sum pin this version and every dependency.
/** Version of the Jaeger Go module the project builds and caches (a Jaeger v2 backend). */
export const JAEGER_VERSION = 'v1.75.0';

/** Go package path of the Jaeger v2 command. */
export const JAEGER_PACKAGE = 'github.com/jaegertracing/jaeger/cmd/jaeger';

/** Where a Go build of Jaeger is kept: ignored by git, reused by every later run. */
export const JAEGER_TOOL_DIR = projectToolDir(`jaeger-${JAEGER_VERSION}`);

/** The small Go module, kept in the project, that Jaeger is built from (`tool` line, pinned go.sum). */
export const JAEGER_MODULE_DIR = path.join(__dirname, 'jaeger-tool');

/** Where the resolved binary came from. */
export type JaegerSource = GoToolSource;

/** The Jaeger binary to run, and how it was found. */
export type ResolvedJaeger = ResolvedGoTool;

/** Options of {@link resolveJaeger}; `env` is read for `JAEGER_PATH` and `PATH`. */
export type ResolveJaegerOptions = ResolveGoToolOptions;

/** Why the Jaeger binary could not be provided (`BadEnvPath` is about `JAEGER_PATH`). */
export const JaegerToolErrorCode = GoToolErrorCode;
/** One of {@link JaegerToolErrorCode}. */
export type JaegerToolErrorCode = GoToolErrorCode;

/** The Jaeger binary could not be found or built; the message says what to do. */
export class JaegerToolError extends GoToolError {
  override readonly name = 'JaegerToolError';
}

/** How Jaeger is found and built. */
const JAEGER: GoToolSpec = {
  displayName: 'Jaeger backend',
  binaryName: 'jaeger',
  envVar: 'JAEGER_PATH',
  goPackage: JAEGER_PACKAGE,
  version: JAEGER_VERSION,
  toolDir: JAEGER_TOOL_DIR,
  goRequirement: 'Go >= 1.24.6',
  buildCommand: 'npm run jaeger',
  installHint:
    'install a Jaeger v2 release (https://www.jaegertracing.io/download/) so that its `jaeger` binary is on PATH',
  notFoundNotes: [
    '(A Go build serves the query API; its web UI is a placeholder, as the UI assets are not in the Go module.)',
  ],
  build: buildJaeger,
  errorClass: JaegerToolError,
};

/**
 * Resolves Jaeger: `JAEGER_PATH`, then `jaeger` on PATH, then the project's cached build, then a fresh build of
 * {@link JAEGER_VERSION} from local/jaeger-tool into that cache.
 */
export function resolveJaeger(options: ResolveJaegerOptions = {}): Promise<ResolvedJaeger> {
  return resolveGoTool(JAEGER, options);
}

/** Path of the cached build inside a tool folder. */
export function cachedJaegerPath(toolDir: string = JAEGER_TOOL_DIR): string {
  return goToolBinaryPath(JAEGER, toolDir);
}

/** `go build` of the tool module's Jaeger, read-only against its go.mod so the pinned versions are what is built. */
async function buildJaeger({ go, gobin, env, progress }: GoBuildContext): Promise<void> {
  const goModFile = path.join(JAEGER_MODULE_DIR, 'go.mod');
  const required = `github.com/jaegertracing/jaeger ${JAEGER_VERSION}`;
  const goMod = await readFile(goModFile, 'utf8');
  if (!goMod.split('\n').some((line) => line.trim().startsWith(`${required} `) || line.trim() === required)) {
    throw new GoToolError(
      GoToolErrorCode.BuildFailed,
      `${goModFile} does not require ${required}; run \`go get -tool ${JAEGER_PACKAGE}@${JAEGER_VERSION}\` ` +
        'there, or change JAEGER_VERSION to match it.',
    );
  }
  await runGo(
    go,
    [
      'build',
      '-mod=readonly',
      // Without it `jaeger --version` prints an empty version.
      `-ldflags=-X github.com/jaegertracing/jaeger/internal/version.latestVersion=${JAEGER_VERSION}`,
      '-o',
      goToolBinaryPath(JAEGER, gobin),
      JAEGER_PACKAGE,
    ],
    {
      cwd: JAEGER_MODULE_DIR,
      env,
      progress,
      displayName: JAEGER.displayName,
      goRequirement: JAEGER.goRequirement,
    },
  );
}

/** How to run Jaeger. */
export interface JaegerOptions {
  /** The `jaeger` binary (see {@link resolveJaeger}). */
  binaryPath: string;
  /** Address every listener binds (default 127.0.0.1). */
  host?: string;
  /** Port of the OTLP/HTTP receiver (`POST /v1/traces`). */
  otlpHttpPort: number;
  /** Port of the query HTTP API (`/api/...`) and the UI. */
  queryPort: number;
  /** Port of the query gRPC API, which Jaeger always opens; one the OS picks when omitted. */
  queryGrpcPort?: number;
  /** Folder for the generated configuration; a temp folder, removed on stop, when omitted. */
  configDir?: string;
  /**
   * Traces kept in memory before the oldest are dropped (default 100 000). Jaeger refuses a search whose limit exceeds
   * it, and a search's default limit is 100.
   */
  maxTraces?: number;
  /** Receives every line Jaeger prints. */
  log?: (line: string) => void;
  /** How long to wait for Jaeger to answer (default 30 s). */
  readyTimeoutMs?: number;
}

/** A running Jaeger. */
export interface Jaeger {
  /** Base URL of the OTLP/HTTP receiver; an OTLP exporter appends `/v1/traces`. */
  otlpEndpoint: string;
  /** Base URL of the query HTTP API (`${queryUrl}/api/traces`). */
  queryUrl: string;
  /** The configuration file Jaeger runs on. */
  configFile: string;
  pid: number;
  /** Stops Jaeger: SIGTERM, then SIGKILL after 10 s; removes a temp config folder. Safe to call more than once. */
  stop: () => Promise<void>;
  /** Sends a signal to the process, without waiting (fault tests). */
  kill: (signal: NodeJS.Signals) => void;
  /** Resolves once the process is gone, however it ended; never rejects. */
  exited: Promise<ProcessExit>;
}

/** Why Jaeger did not come up. */
export const JaegerErrorCode = {
  /** The process exited (or could not be spawned) before it answered. */
  Exited: 'exited',
  /** The query API or the OTLP receiver did not answer within the ready timeout. */
  Timeout: 'timeout',
} as const;
/** One of {@link JaegerErrorCode}. */
export type JaegerErrorCode = (typeof JaegerErrorCode)[keyof typeof JaegerErrorCode];

/** Jaeger failed to start; `lastOutput` holds its final lines. */
export class JaegerError extends Error {
  override readonly name = 'JaegerError';

  constructor(
    readonly code: JaegerErrorCode,
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

/** Starts Jaeger on a configuration of its own; resolves once this process's query API and OTLP receiver answer. */
export async function startJaeger(options: JaegerOptions): Promise<Jaeger> {
  const host = options.host ?? '127.0.0.1';
  // A server listening on every interface is still reached on loopback.
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const otlpEndpoint = `http://${connectHost}:${options.otlpHttpPort}`;
  const queryUrl = `http://${connectHost}:${options.queryPort}`;
  const ownDir = options.configDir === undefined;
  const configDir = ownDir
    ? await mkdtemp(path.join(tmpdir(), 'baton-jaeger-'))
    : path.resolve(options.configDir ?? '');
  if (!ownDir) await mkdir(configDir, { recursive: true });

  // An id of this start's own, injected into the UI page, so readiness is proven by this process answering and not
  // by whatever already holds the query port (another Jaeger, a previous run's not yet gone).
  const instance = randomBytes(6).toString('hex');
  const uiConfigFile = path.join(configDir, 'ui-config.json');
  await writeFile(uiConfigFile, JSON.stringify({ batonInstance: instance }));
  const configFile = path.join(configDir, 'jaeger.json');
  // JSON is YAML: the configuration needs no YAML writer.
  await writeFile(configFile, JSON.stringify(jaegerConfig({ ...options, host, uiConfigFile }), null, 2));

  const server = spawnServer(options.binaryPath, ['--config', `file:${configFile}`], { log: options.log });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await server.stop();
      if (ownDir) await rm(configDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady(server, {
      deadline: Date.now() + (options.readyTimeoutMs ?? 30_000),
      probe: (remainingMs) =>
        jaegerAnswers({ queryUrl, otlpEndpoint }, instance, Math.min(remainingMs, 5_000)),
      exitedError: (exit) =>
        new JaegerError(
          JaegerErrorCode.Exited,
          `Jaeger ${describeExit(exit)} before it answered on ${queryUrl} and ${otlpEndpoint}`,
          [...server.output],
          { cause: exit.error },
        ),
      timeoutError: (lastError) =>
        new JaegerError(
          JaegerErrorCode.Timeout,
          `Jaeger did not answer on ${queryUrl} and ${otlpEndpoint} in time` +
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
    otlpEndpoint,
    queryUrl,
    configFile,
    pid: server.pid,
    stop,
    kill: server.kill,
    exited: server.exited,
  };
}

/**
 * The Jaeger (OpenTelemetry Collector) configuration for these options. It lists only what the tests need — the
 * memory store, the query extension, the OTLP/HTTP receiver — because every component of the default all-in-one
 * configuration (OTLP gRPC 4317, Jaeger and Zipkin receivers, remote sampling, health check, expvar, zpages, the
 * Prometheus telemetry port 8888) listens on a fixed port of its own.
 */
export function jaegerConfig(
  options: Pick<JaegerOptions, 'otlpHttpPort' | 'queryPort' | 'queryGrpcPort' | 'maxTraces'> & {
    host: string;
    uiConfigFile: string;
  },
): Record<string, unknown> {
  const store = 'baton_memory';
  const { host } = options;
  return {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: { traces: { receivers: ['otlp'], exporters: ['jaeger_storage_exporter'] } },
      // Level none for metrics is what keeps the collector from opening its Prometheus port.
      telemetry: { metrics: { level: 'none' }, traces: { level: 'none' }, logs: { level: 'info' } },
    },
    extensions: {
      jaeger_storage: { backends: { [store]: { memory: { max_traces: options.maxTraces ?? 100_000 } } } },
      jaeger_query: {
        storage: { traces: store },
        // On, the query service would export its own spans over OTLP gRPC to localhost:4317.
        enable_tracing: false,
        http: { endpoint: `${host}:${options.queryPort}` },
        grpc: { endpoint: `${host}:${options.queryGrpcPort ?? 0}` },
        ui: { config_file: options.uiConfigFile },
      },
    },
    // Only the protocols named here are opened: no `grpc` key, no OTLP gRPC listener.
    receivers: { otlp: { protocols: { http: { endpoint: `${host}:${options.otlpHttpPort}` } } } },
    exporters: { jaeger_storage_exporter: { trace_storage: store } },
  };
}

/**
 * Ready means the query API reads the store (`/api/services` answers 200), the page it serves carries this start's
 * instance id, and the OTLP receiver accepts an empty export. The collector starts its receivers after its
 * extensions, so the query API alone answering does not yet mean spans can be sent.
 */
async function jaegerAnswers(
  urls: { queryUrl: string; otlpEndpoint: string },
  instance: string,
  timeoutMs: number,
): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  const services = await fetch(`${urls.queryUrl}/api/services`, { signal });
  await services.body?.cancel();
  if (services.status !== 200) throw new Error(`/api/services answered ${services.status}`);
  const page = await fetch(`${urls.queryUrl}/`, { signal });
  if (!(await page.text()).includes(`"batonInstance":"${instance}"`)) {
    throw new Error(`another server answers on ${urls.queryUrl}`);
  }
  const exported = await fetch(`${urls.otlpEndpoint}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [] }),
    signal,
  });
  await exported.body?.cancel();
  if (exported.status !== 200) throw new Error(`the OTLP receiver answered ${exported.status}`);
}

/** What {@link findTraces} searches for. */
export interface JaegerTraceQuery {
  /** Service name (the OTel resource's `service.name`); Jaeger requires it. */
  service: string;
  /**
   * Attributes every matching trace has on one span (span, scope or resource attributes), compared as strings.
   * `error` is special: `true` matches spans with status ERROR, `false` those with status OK.
   */
  tags?: Readonly<Record<string, string>>;
  /** How far back span start times may lie (default two days). */
  lookbackMs?: number;
  /** Most traces returned (default 20). */
  limit?: number;
}

/**
 * The trace with this id (lowercase hex, as OTel writes it), or undefined while Jaeger has none. Jaeger writes an id
 * whose upper 64 bits are zero with 16 digits. Read through the CLI's reader (client/traces.ts).
 */
export async function getTrace(queryUrl: string, traceId: string): Promise<JaegerTrace | undefined> {
  try {
    return await fetchTrace({ baseUrl: queryUrl }, traceId);
  } catch (error) {
    if (error instanceof TraceNotFoundError) return undefined;
    throw error;
  }
}

/** The traces of a service that match a query; the memory store lists the most recently written first. */
export function findTraces(queryUrl: string, query: JaegerTraceQuery): Promise<JaegerTrace[]> {
  const ms = query.lookbackMs ?? DEFAULT_LOOKBACK.ms;
  return searchTraces(
    { baseUrl: queryUrl },
    {
      service: query.service,
      tags: query.tags ?? {},
      lookback: { label: `${Math.max(1, Math.ceil(ms / 60_000))}m`, ms },
      ...(query.limit === undefined ? {} : { limit: query.limit }),
    },
  );
}

export type { JaegerSpan, JaegerTrace } from '../client/traces';
