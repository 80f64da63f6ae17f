/**
 * The worker's operations port: `/metrics` in Prometheus's text format (the SDK runtime's own metrics and baton's
 * business metrics, which the runtime serves on a loopback port of its own and this server passes on), `/healthz`
 * (the process is alive and its worker has not failed) and `/readyz` (the worker polls, and its database and bus
 * answer now). What a load balancer, an orchestrator's probes and a Prometheus scrape ask a worker.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One readiness check: resolves when the part answers, rejects saying why not. */
export type ReadinessCheck = () => Promise<void>;

/** What the ops server serves. */
export interface OpsServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Where the SDK runtime serves its Prometheus text; `/metrics` answers 404 when metrics are off. */
  runtimeMetricsUrl?: string;
  /** Whether the process is alive: false when the worker failed or stopped. */
  live: () => boolean;
  /** Each part readiness needs, by name (`worker`, `database`, `bus`). */
  checks: Readonly<Record<string, ReadinessCheck>>;
  log?: (line: string) => void;
}

/** A running ops server. */
export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

// A check that does not answer in this time counts as failed: a probe must answer before its own timeout.
const CHECK_TIMEOUT_MS = 2_000;

/** What `/readyz` found, part by part: `ok` or why not. */
export async function readiness(
  checks: Readonly<Record<string, ReadinessCheck>>,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      });
      try {
        await Promise.race([check(), timeout]);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, error instanceof Error ? error.message : String(error)] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, result]) => result === 'ok'), checks: Object.fromEntries(results) };
}

/** Starts the ops server. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const log = options.log ?? (() => undefined);
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  };

  const metrics = async (res: http.ServerResponse) => {
    if (options.runtimeMetricsUrl === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('metrics are off in this process\n');
      return;
    }
    const upstream = await fetch(options.runtimeMetricsUrl, {
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    res.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'text/plain; version=0.0.4',
    });
    res.end(await upstream.text());
  };

  const server = http.createServer((req, res) => {
    const route = new URL(req.url ?? '/', 'http://ops').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'only GET' });
      return;
    }
    const answer = async () => {
      if (route === '/metrics') return metrics(res);
      if (route === '/healthz') {
        const live = options.live();
        return json(res, live ? 200 : 503, { live });
      }
      if (route === '/readyz') {
        const found = await readiness(options.checks);
        return json(res, found.ready ? 200 : 503, found);
      }
      return json(res, 404, { error: `no ${route}; try /metrics, /healthz or /readyz` });
    };
    answer().catch((error: unknown) => {
      log(`ops server: ${route} failed: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) json(res, 502, { error: 'the runtime did not answer' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
