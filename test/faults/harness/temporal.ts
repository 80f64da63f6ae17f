/**
 * The Temporal a fault scenario runs on, and the faults it suffers: the dev server on a SQLite file (what `npm start`
 * runs), or `temporal-server` on a PostgreSQL of its own (what a deployment runs; see local/ephemeral-cluster.ts).
 * Either is SIGKILLed and started again on the same port and state; the cluster's PostgreSQL can be stopped under it.
 */
import path from 'node:path';
import { startDevServer } from '../../../local/dev-server';
import type { DevServer } from '../../../local/dev-server';
import { startEphemeralCluster } from '../../../local/ephemeral-cluster';
import { resolveTemporalCli } from '../../../local/temporal-cli';
import { freePort } from '../../../services/ports';
import { SEARCH_ATTRIBUTES } from '../../../temporal/search-attributes';
import type { LineLog } from './processes';
import { sleep } from './random';

/** Which Temporal a scenario runs on: the dev server on SQLite, or a cluster on PostgreSQL. */
export type TemporalBackendKind = 'dev' | 'cluster';

/** When a killed or stopped part went down and when it answered again (epoch ms). */
export interface Outage {
  killedAt: number;
  readyAt: number;
}

/** A running Temporal of either kind. */
export interface TemporalBackend {
  readonly kind: TemporalBackendKind;
  /** `host:port` of the frontend; the same after every restart. */
  readonly address: string;
  readonly namespace: string;
  /** The Temporal CLI: the operator's own tool against this server. */
  readonly cliPath: string;
  /** SIGKILLs the server, waits `downMs`, starts it again on the same port and state. */
  kill(downMs: number): Promise<Outage>;
  /**
   * Stops the PostgreSQL under the server (fast shutdown: sessions cut, every commit kept), waits `downMs`, starts it
   * again on the same data. Only a cluster has one.
   */
  restartPostgres(downMs: number): Promise<Outage>;
  stop(): Promise<void>;
}

/** Starts the Temporal of `kind`, its state in `tempDir` (dev) or in a PostgreSQL of its own (cluster). */
export async function startTemporalBackend(
  kind: TemporalBackendKind,
  tempDir: string,
  harnessLog: LineLog,
  temporalLog: LineLog,
): Promise<TemporalBackend> {
  return kind === 'dev' ? startDev(tempDir, harnessLog, temporalLog) : startCluster(harnessLog, temporalLog);
}

async function startDev(
  tempDir: string,
  harnessLog: LineLog,
  temporalLog: LineLog,
): Promise<TemporalBackend> {
  const cliPath = (await resolveTemporalCli({ onProgress: (line) => harnessLog.write(`[cli] ${line}`) }))
    .path;
  const serverOptions = {
    cliPath,
    port: await freePort(),
    dbFile: path.join(tempDir, 'temporal.db'),
    // The journal npm start uses, so the server kills prove it loses nothing.
    sqliteJournal: 'wal' as const,
    searchAttributes: SEARCH_ATTRIBUTES,
    readyTimeoutMs: 120_000,
    log: (line: string) => temporalLog.write(line),
  };
  let server: DevServer = await startDevServer(serverOptions);
  harnessLog.write(`[harness] Temporal dev server on ${server.address} (pid ${server.pid})`);
  return {
    kind: 'dev',
    // The port survives a restart of the server (see kill), so the address stays valid.
    address: server.address,
    namespace: server.namespace,
    cliPath,
    async kill(downMs) {
      const killedAt = Date.now();
      harnessLog.write(`[harness] SIGKILL to the Temporal dev server (pid ${server.pid})`);
      server.kill('SIGKILL');
      await server.stop(); // returns once the killed process is gone
      await sleep(downMs);
      server = await startDevServer(serverOptions);
      harnessLog.write(`[harness] Temporal dev server back on ${server.address} (pid ${server.pid})`);
      return { killedAt, readyAt: Date.now() };
    },
    restartPostgres() {
      return Promise.reject(
        new Error('the Temporal dev server keeps its state in SQLite: it has no PostgreSQL'),
      );
    },
    stop: () => server.stop(),
  };
}

async function startCluster(harnessLog: LineLog, temporalLog: LineLog): Promise<TemporalBackend> {
  const cluster = await startEphemeralCluster({ log: (line) => temporalLog.write(line) });
  const { server, postgres } = cluster;
  harnessLog.write(
    `[harness] Temporal cluster on ${server.address} (pid ${server.pid()}), its PostgreSQL on ${postgres.host}:${postgres.port}`,
  );
  return {
    kind: 'cluster',
    address: server.address,
    namespace: server.namespace,
    cliPath: cluster.tools.cli,
    async kill(downMs) {
      const killedAt = Date.now();
      harnessLog.write(`[harness] SIGKILL to temporal-server (pid ${server.pid()})`);
      await server.kill('SIGKILL'); // returns once the killed process is gone
      await sleep(downMs);
      // The same ports and databases: what a supervisor restarting the process gives.
      await server.restart();
      harnessLog.write(`[harness] temporal-server back on ${server.address} (pid ${server.pid()})`);
      return { killedAt, readyAt: Date.now() };
    },
    async restartPostgres(downMs) {
      const killedAt = Date.now();
      harnessLog.write(`[harness] stopping the PostgreSQL under temporal-server (fast shutdown)`);
      await postgres.stop();
      await sleep(downMs);
      await postgres.start();
      harnessLog.write(`[harness] the PostgreSQL under temporal-server answers again`);
      // The server is meant to ride the outage out; had it exited instead, every run would wait for ever.
      if (!alive(server.pid())) throw new Error('temporal-server exited while its PostgreSQL was down');
      return { killedAt, readyAt: Date.now() };
    },
    stop: () => cluster.stop(),
  };
}

/** Whether a process with this id exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
