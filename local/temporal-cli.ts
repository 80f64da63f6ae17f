/**
 * Finds the Temporal CLI binary that runs the dev server, building it with Go into the project's ignored tool
 * folder when nothing else provides it.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';

// Pinned: from v1.6.0 on, the CLI's go.mod carries a `replace` directive, and `go install` refuses such modules.
/** Version of the Temporal CLI the project builds and caches. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Go package path of the Temporal CLI command. */
export const TEMPORAL_CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';

/** Root of the project (this file lives in `workers/`). */
const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Where a Go build of the CLI is kept: ignored by git, reused by every later run. */
export const DEFAULT_TOOL_DIR = path.join(PROJECT_ROOT, '.tools', `temporal-cli-${TEMPORAL_CLI_VERSION}`);

/** Where Go usually lives when it is installed from the official archive but is not on PATH. */
const DEFAULT_GO_FALLBACKS = ['/usr/local/go/bin/go'];

const EXE_SUFFIX = process.platform === 'win32' ? '.exe' : '';

/** How often, at most, a count of downloaded modules is reported while building. */
const DOWNLOAD_REPORT_EVERY_MS = 3_000;
/** How often a quiet build (compiling, no output) reports that it is still going. */
const HEARTBEAT_EVERY_MS = 20_000;
/** A build lock older than this is treated as left by a crash, whatever its owner pid says. */
const STALE_LOCK_MS = 30 * 60_000;

/** Where the resolved binary came from. */
export type TemporalCliSource = 'env' | 'path' | 'cache' | 'built';

/** The Temporal CLI binary to run, and how it was found. */
export interface ResolvedTemporalCli {
  path: string;
  source: TemporalCliSource;
}

/** Options of {@link resolveTemporalCli}; the last three exist so tests can describe a machine. */
export interface ResolveTemporalCliOptions {
  /** Receives one human-readable line per build step; silent when omitted. */
  onProgress?: (line: string) => void;
  /** Whether a missing binary may be built with Go (default true). */
  allowBuild?: boolean;
  /** Environment to read `TEMPORAL_CLI_PATH` and `PATH` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Folder holding the cached build (default `.tools/temporal-cli-v1.5.1` in the project). */
  toolDir?: string;
  /** Go binaries tried when `go` is not on PATH (default `/usr/local/go/bin/go`). */
  goFallbacks?: readonly string[];
}

/** Why the Temporal CLI could not be provided. */
export const TemporalCliErrorCode = {
  /** `TEMPORAL_CLI_PATH` names a file that is missing or not executable. */
  BadEnvPath: 'bad_env_path',
  /** No binary anywhere, and no Go to build one (or building was not allowed). */
  NotFound: 'not_found',
  /** Go was found but `go install` failed. */
  BuildFailed: 'build_failed',
} as const;
/** One of {@link TemporalCliErrorCode}. */
export type TemporalCliErrorCode = (typeof TemporalCliErrorCode)[keyof typeof TemporalCliErrorCode];

/** The Temporal CLI could not be found or built; the message says what to do. */
export class TemporalCliError extends Error {
  override readonly name = 'TemporalCliError';

  constructor(
    readonly code: TemporalCliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const envSchema = z.object({
  TEMPORAL_CLI_PATH: z.string().trim().optional(),
  PATH: z.string().optional(),
});

/**
 * Resolves the Temporal CLI: `TEMPORAL_CLI_PATH`, then `temporal` on PATH, then the project's cached build, then a
 * fresh `go install` of {@link TEMPORAL_CLI_VERSION} into that cache.
 */
export async function resolveTemporalCli(
  options: ResolveTemporalCliOptions = {},
): Promise<ResolvedTemporalCli> {
  const env = envSchema.parse(options.env ?? process.env);
  const toolDir = options.toolDir ?? DEFAULT_TOOL_DIR;
  const progress = options.onProgress ?? (() => undefined);

  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (!(await isExecutableFile(resolved))) {
      throw new TemporalCliError(
        TemporalCliErrorCode.BadEnvPath,
        `TEMPORAL_CLI_PATH is set to "${fromEnv}", which is not an executable file. ` +
          'Point it at a Temporal CLI binary, or unset it to let baton find or build one.',
      );
    }
    return { path: resolved, source: 'env' };
  }

  const onPath = await findOnPath(`temporal${EXE_SUFFIX}`, env.PATH);
  if (onPath) return { path: onPath, source: 'path' };

  const cached = cachedBinaryPath(toolDir);
  if (await isExecutableFile(cached)) return { path: cached, source: 'cache' };

  const go = await findGo(env.PATH, options.goFallbacks ?? DEFAULT_GO_FALLBACKS);
  if (!go || options.allowBuild === false) {
    throw new TemporalCliError(TemporalCliErrorCode.NotFound, notFoundMessage(go, toolDir));
  }
  await buildWithGo(go, toolDir, progress);
  return { path: cached, source: 'built' };
}

/** Path of the cached build inside a tool folder. */
export function cachedBinaryPath(toolDir: string = DEFAULT_TOOL_DIR): string {
  return path.join(toolDir, `temporal${EXE_SUFFIX}`);
}

function notFoundMessage(go: string | undefined, toolDir: string): string {
  const lead = go
    ? `The Temporal CLI was not found and building it was not allowed (Go is at ${go}).`
    : 'The Temporal CLI was not found, and neither Go nor a binary is available to provide it.';
  return [
    lead,
    'Do one of these:',
    '  - install the Temporal CLI (https://docs.temporal.io/cli) so that `temporal` is on PATH;',
    '  - set TEMPORAL_CLI_PATH to the path of a `temporal` binary;',
    `  - install Go >= 1.25 (on PATH or at /usr/local/go/bin/go) and run \`npm run temporal:cli\`, which builds ` +
      `${TEMPORAL_CLI_PACKAGE}@${TEMPORAL_CLI_VERSION} into ${toolDir}.`,
    "(The Temporal SDK's own download of the dev server needs temporal.download, which baton does not rely on.)",
  ].join('\n');
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function findGo(
  searchPath: string | undefined,
  fallbacks: readonly string[],
): Promise<string | undefined> {
  const onPath = await findOnPath(`go${EXE_SUFFIX}`, searchPath);
  if (onPath) return onPath;
  for (const candidate of fallbacks) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Builds the CLI into a private temp folder beside the cache, then renames the binary into place: a crash never
 * leaves a half-written binary, and a lock file keeps a second resolver from building the same thing twice.
 */
async function buildWithGo(go: string, toolDir: string, progress: (line: string) => void): Promise<void> {
  const parent = path.dirname(toolDir);
  await mkdir(parent, { recursive: true });
  const release = await acquireBuildLock(`${toolDir}.lock`, progress);
  try {
    const target = cachedBinaryPath(toolDir);
    // Another resolver may have finished the build while this one waited for the lock.
    if (await isExecutableFile(target)) return;
    const workDir = await mkdtemp(path.join(parent, `.temporal-cli-build-`));
    try {
      progress('building the Temporal CLI with Go (first run only, a few minutes)...');
      await runGoInstall(go, workDir, progress);
      await mkdir(toolDir, { recursive: true });
      await rename(cachedBinaryPath(workDir), target);
      progress(`built the Temporal CLI at ${target}`);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } finally {
    await release();
  }
}

function runGoInstall(go: string, gobin: string, progress: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, ['install', `${TEMPORAL_CLI_PACKAGE}@${TEMPORAL_CLI_VERSION}`], {
      env: {
        ...process.env,
        GOBIN: gobin,
        CGO_ENABLED: '0',
        GOFLAGS: '-mod=mod',
        // Go's toolchain directive (`go 1.25.0`) may ask for a newer toolchain than the installed one.
        GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = Date.now();
    const tail: string[] = [];
    let downloads = 0;
    let lastReport = Date.now();
    const onLine = (line: string): void => {
      if (line.startsWith('go: downloading ')) {
        downloads += 1;
        if (Date.now() - lastReport >= DOWNLOAD_REPORT_EVERY_MS) {
          lastReport = Date.now();
          progress(`go: downloaded ${downloads} modules so far...`);
        }
        return;
      }
      tail.push(line);
      if (tail.length > 30) tail.shift();
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastReport < HEARTBEAT_EVERY_MS) return;
      lastReport = Date.now();
      const seconds = Math.round((Date.now() - started) / 1000);
      progress(`still building the Temporal CLI (${seconds} s, ${downloads} modules downloaded)...`);
    }, 1_000);
    heartbeat.unref();
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(
        new TemporalCliError(TemporalCliErrorCode.BuildFailed, `could not run ${go}: ${error.message}`, {
          cause: error,
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearInterval(heartbeat);
      if (code === 0) {
        resolve();
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(
        new TemporalCliError(
          TemporalCliErrorCode.BuildFailed,
          `go install ${TEMPORAL_CLI_PACKAGE}@${TEMPORAL_CLI_VERSION} ${how} (Go >= 1.25 is needed).\n` +
            tail.join('\n'),
        ),
      );
    });
  });
}

const lockSchema = z.object({ pid: z.number().int(), at: z.number() });

/** Takes an exclusive lock file, waiting while a live process holds it; returns its release. */
async function acquireBuildLock(
  lockFile: string,
  progress: (line: string) => void,
): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }));
      await handle.close();
      return () => rm(lockFile, { force: true });
    } catch (error) {
      if (!isErrnoCode(error, 'EEXIST')) throw error;
    }
    if (await isStaleLock(lockFile)) {
      await rm(lockFile, { force: true });
      continue;
    }
    if (!announced) {
      progress('another process is building the Temporal CLI; waiting for it...');
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function isStaleLock(lockFile: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(lockFile, 'utf8');
  } catch (error) {
    // Released between our attempt and this read: not stale, just gone; the next attempt takes it.
    if (isErrnoCode(error, 'ENOENT')) return false;
    throw error;
  }
  let owner: z.infer<typeof lockSchema>;
  try {
    owner = lockSchema.parse(JSON.parse(text));
  } catch {
    // The owner may be between creating and writing the file; only an old unreadable lock is stale.
    const info = await stat(lockFile).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > 60_000;
  }
  return Date.now() - owner.at > STALE_LOCK_MS || !isAlive(owner.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrnoCode(error, 'EPERM');
  }
}

function isErrnoCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}
