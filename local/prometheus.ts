/**
 * Prometheus and promtool, as Debian packages them (`apt-get install prometheus`): found through an env path or
 * PATH, never downloaded. Used by the tests that check the alert rules and scrape a real stack, and by operators
 * who want the rules checked on their machine.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findOnPath, isExecutableFile } from './go-tool';
import { describeExit, spawnServer, waitUntilReady } from './server-process';

/** The two binaries of the prometheus package, and the variable that may name each. */
const TOOLS = {
  prometheus: 'PROMETHEUS_PATH',
  promtool: 'PROMTOOL_PATH',
} as const;

/** The binary could not be found; the message says how to get it. */
export class PrometheusToolError extends Error {
  override readonly name = 'PrometheusToolError';
}

/** The path of `prometheus` or `promtool`: the env variable's path when set, else the first on PATH. */
export async function resolvePrometheusTool(
  tool: keyof typeof TOOLS,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const variable = TOOLS[tool];
  const named = env[variable];
  if (named !== undefined && named !== '') {
    if (await isExecutableFile(named)) return named;
    throw new PrometheusToolError(`${variable}=${named} is not an executable file`);
  }
  const found = await findOnPath(tool, env.PATH);
  if (found !== undefined) return found;
  throw new PrometheusToolError(
    `${tool} is not on PATH: install it (Debian: apt-get install --no-install-recommends prometheus) ` +
      `or set ${variable} to its path`,
  );
}

/** What a test's Prometheus scrapes, and where it keeps its data. */
export interface PrometheusOptions {
  binaryPath: string;
  port: number;
  /** Folder for the configuration and the time-series database. */
  dataDir: string;
  /** Scrape jobs: job name => `host:port` targets (paths are `/metrics`). */
  jobs: Readonly<Record<string, readonly string[]>>;
  /** Rule files to load (absolute paths). */
  ruleFiles?: readonly string[];
  /** How often each target is scraped (default 1s: tests want samples soon). */
  scrapeInterval?: string;
  log?: (line: string) => void;
}

/** A running Prometheus. */
export interface RunningPrometheus {
  url: string;
  /** Runs an instant PromQL query and returns its result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** Writes a configuration for `options.jobs` and starts Prometheus on it; resolves once it answers `/-/ready`. */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  await mkdir(options.dataDir, { recursive: true });
  const configFile = path.join(options.dataDir, 'prometheus.yml');
  const interval = options.scrapeInterval ?? '1s';
  // JSON is YAML: the configuration needs no YAML writer.
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const url = `http://127.0.0.1:${options.port}`;
  const server = spawnServer(
    options.binaryPath,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(options.dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
    ],
    { ...(options.log === undefined ? {} : { log: options.log }) },
  );
  try {
    await waitUntilReady(server, {
      deadline: Date.now() + 30_000,
      probe: async () => {
        const res = await fetch(`${url}/-/ready`);
        if (!res.ok) throw new Error(`/-/ready answered ${res.status}`);
      },
      exitedError: (exit) =>
        new Error(`prometheus ${describeExit(exit)}\n${server.output.slice(-10).join('\n')}`),
      timeoutError: (lastError) =>
        new Error(`prometheus did not answer on ${url}: ${String(lastError)}`, { cause: lastError }),
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data === undefined) {
        throw new Error(`prometheus refused ${expr}: ${body.error ?? res.status}`);
      }
      return body.data.result;
    },
    stop: () => server.stop(),
  };
}
