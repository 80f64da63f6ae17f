/**
 * A PostgreSQL server of its own: a fresh data folder made by `initdb`, a free port on loopback, trust auth. The
 * cluster tests keep Temporal's state in one so they can stop and restart PostgreSQL under the server without
 * touching the machine's own. Uses the PostgreSQL binaries the machine has (Debian's /usr/lib/postgresql/<v>/bin,
 * PATH, or POSTGRES_BIN_DIR); as root, it runs them as the `postgres` user, since PostgreSQL refuses to run as root.
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../services/ports';
import { findOnPath, isExecutableFile } from './go-tool';
import { describeExit, spawnServer, tcpAccepts, waitUntilReady } from './server-process';
import type { ServerProcess } from './server-process';

const run = promisify(execFile);

/** How to run the private server. */
export interface PrivatePostgresOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Receives every line the server prints. */
  log?: (line: string) => void;
}

/** A running private PostgreSQL. */
export interface PrivatePostgres {
  host: string;
  port: number;
  /** The superuser (trust auth, no password). */
  user: string;
  /** Whether the server process is up right now. */
  running(): boolean;
  /** Stops the server as an operator would (`pg_ctl stop -m fast`: connections are cut, nothing is lost). */
  stop(): Promise<void>;
  /** Starts it again on the same folder and port. */
  start(): Promise<void>;
  /** Stops it and removes its data folder. */
  destroy(): Promise<void>;
}

/** The folder holding `initdb` and `postgres`. */
async function postgresBinDir(): Promise<string> {
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) return fromEnv;
  const onPath = await findOnPath('initdb', process.env.PATH);
  if (onPath) return path.dirname(onPath);
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = path.join('/usr/lib/postgresql', version, 'bin');
    if (await isExecutableFile(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error(
    'No PostgreSQL server binaries (initdb, postgres) found: install PostgreSQL (Debian: postgresql), put its bin ' +
      'folder on PATH, or set POSTGRES_BIN_DIR.',
  );
}

/** As root, the uid and gid of `postgres`; otherwise nothing (the binaries run as this user). */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/** Creates a data folder with `initdb` and starts PostgreSQL on it. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const binDir = await postgresBinDir();
  const user = await runAs();
  const root = await mkdtemp(path.join(tmpdir(), 'baton-postgres-'));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'socket');
  await mkdir(dataDir);
  await mkdir(socketDir);
  if (user) {
    await chown(root, user.uid, user.gid);
    await chown(dataDir, user.uid, user.gid);
    await chown(socketDir, user.uid, user.gid);
  }
  await run(
    path.join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C'],
    { ...user, cwd: root },
  );
  const port = options.port ?? (await freePort());
  const host = '127.0.0.1';
  let server: ServerProcess | undefined;

  const start = async (): Promise<void> => {
    const process = spawnServer(
      path.join(binDir, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        socketDir,
        '-c',
        `listen_addresses=${host}`,
        // Temporal opens about 30 connections per server process; two servers and a ledger fit.
        '-c',
        'max_connections=200',
        // A test server: a crash of the machine is not what these tests are about, a crash of the process is,
        // and that loses nothing without fsync (the OS still holds every write).
        '-c',
        'fsync=off',
      ],
      { log: options.log, cwd: root, ...user },
    );
    server = process;
    await waitUntilReady(process, {
      deadline: Date.now() + 30_000,
      probe: async () => {
        await tcpAccepts(host, port);
        const client = new Client({ host, port, user: 'postgres', database: 'postgres' });
        await client.connect();
        await client.end();
      },
      exitedError: (exit) =>
        new Error(`PostgreSQL ${describeExit(exit)} before it answered:\n${process.output.join('\n')}`),
      timeoutError: (lastError) =>
        new Error(`PostgreSQL did not answer on ${host}:${port} in 30 s (${String(lastError)})`),
    });
  };

  // SIGINT is PostgreSQL's fast shutdown (`pg_ctl stop -m fast`): open sessions are ended, every commit is kept.
  const halt = async (): Promise<void> => {
    const current = server;
    if (!current) return;
    server = undefined;
    current.kill('SIGINT');
    await current.exited;
  };

  await start();
  return {
    host,
    port,
    user: 'postgres',
    running: () => server !== undefined,
    stop: () => halt(),
    start,
    destroy: async () => {
      await halt();
      await rm(root, { recursive: true, force: true });
    },
  };
}
