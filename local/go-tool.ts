/**
 * Finds a command-line tool written in Go — from an env var, from PATH, from the project's ignored tool folder — and
 * builds it with Go into that folder when nothing else provides it. Each tool is described by a {@link GoToolSpec}.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';

/** Root of the project (this file lives in `local/`). */
const PROJECT_ROOT = path.resolve(__dirname, '..');

/** A tool folder in the project's `.tools/`, which git ignores: `.tools/<name>` (e.g. `nats-server-v2.15.2`). */
export function projectToolDir(name: string): string {
  return path.join(PROJECT_ROOT, '.tools', name);
}

/** Where Go usually lives when it is installed from the official archive but is not on PATH. */
const DEFAULT_GO_FALLBACKS = ['/usr/local/go/bin/go'];

const EXE_SUFFIX = process.platform === 'win32' ? '.exe' : '';

/** How often, at most, a count of downloaded modules is reported while building. */
const DOWNLOAD_REPORT_EVERY_MS = 3_000;
/** How often a quiet build (compiling, no output) reports that it is still going. */
const HEARTBEAT_EVERY_MS = 20_000;
/** A build lock older than this is treated as left by a crash, whatever its owner pid says. */
const STALE_LOCK_MS = 30 * 60_000;
/** Lines of a failed Go command's output kept for its error message. */
const OUTPUT_LINES_KEPT = 30;

/** Where a resolved binary came from. */
export type GoToolSource = 'env' | 'path' | 'cache' | 'built';

/** The binary to run, and how it was found. */
export interface ResolvedGoTool {
  path: string;
  source: GoToolSource;
}

/** Options of {@link resolveGoTool}; the last three exist so tests can describe a machine. */
export interface ResolveGoToolOptions {
  /** Receives one human-readable line per build step; silent when omitted. */
  onProgress?: (line: string) => void;
  /** Whether a missing binary may be built with Go (default true). */
  allowBuild?: boolean;
  /** Environment to read the tool's env var and `PATH` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Folder holding the cached build (default the spec's `toolDir`). */
  toolDir?: string;
  /** Go binaries tried when `go` is not on PATH (default `/usr/local/go/bin/go`). */
  goFallbacks?: readonly string[];
}

/** What a build step is given: it must leave the tool's binary (named `binaryName`) in `gobin`. */
export interface GoBuildContext {
  /** The Go binary to run. */
  go: string;
  /** An empty private folder beside the cache; the binary found here afterwards is renamed into place. */
  gobin: string;
  /** Base environment for Go commands: `process.env`, `GOBIN=gobin`, and the spec's build settings. */
  env: NodeJS.ProcessEnv;
  progress: (line: string) => void;
}

/** Produces the binary in `context.gobin`; throws a {@link GoToolError} (BuildFailed) when it cannot. */
export type GoBuild = (context: GoBuildContext) => Promise<void>;

/** Why a Go tool could not be provided. */
export const GoToolErrorCode = {
  /** The tool's env var names a file that is missing or not executable. */
  BadEnvPath: 'bad_env_path',
  /** No binary anywhere, and no Go to build one (or building was not allowed). */
  NotFound: 'not_found',
  /** Go was found but the build failed. */
  BuildFailed: 'build_failed',
} as const;
/** One of {@link GoToolErrorCode}. */
export type GoToolErrorCode = (typeof GoToolErrorCode)[keyof typeof GoToolErrorCode];

/** A Go tool could not be found or built; the message says what to do. Tools subclass it to be told apart. */
export class GoToolError extends Error {
  override readonly name: string = 'GoToolError';

  constructor(
    readonly code: GoToolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How to find and build one tool. */
export interface GoToolSpec {
  /** Name in messages, used after "the" ("Temporal CLI"). */
  displayName: string;
  /** File name of the binary on PATH and in the tool folder, without `.exe`. */
  binaryName: string;
  /** Env var that names the binary to use, before anything else. */
  envVar: string;
  /** Go package path of the command (`go install <goPackage>@<version>`). */
  goPackage: string;
  /** Pinned version that is built and cached. */
  version: string;
  /** Default folder of the cached build: ignored by git, reused by every later run. */
  toolDir: string;
  /** The Go the build needs, as told to a user ("Go >= 1.25"). */
  goRequirement: string;
  /** Command that builds the tool ahead of time (`npm run temporal:cli`). */
  buildCommand: string;
  /** First way out in the not-found message: how to install the tool by hand, without trailing punctuation. */
  installHint: string;
  /** Lines appended to the not-found message. */
  notFoundNotes?: readonly string[];
  /** Settings added to the build's environment, over the defaults (`CGO_ENABLED=0`, `GOTOOLCHAIN=auto`). */
  buildEnv?: Readonly<Record<string, string>>;
  /** The build step (default {@link goInstall} of `goPackage@version`). */
  build?: GoBuild;
  /** Error class thrown for this tool (default {@link GoToolError}). */
  errorClass?: new (code: GoToolErrorCode, message: string, options?: { cause?: unknown }) => GoToolError;
}

const envSchema = z.object({ PATH: z.string().optional() });

/**
 * Resolves a tool: its env var, then its binary on PATH, then the project's cached build, then a fresh build of the
 * pinned version into that cache.
 */
export async function resolveGoTool(
  spec: GoToolSpec,
  options: ResolveGoToolOptions = {},
): Promise<ResolvedGoTool> {
  const rawEnv = options.env ?? process.env;
  const env = envSchema.extend({ [spec.envVar]: z.string().trim().optional() }).parse(rawEnv);
  const toolDir = options.toolDir ?? spec.toolDir;
  const progress = options.onProgress ?? (() => undefined);
  const fail = (code: GoToolErrorCode, message: string, cause?: unknown): GoToolError =>
    new (spec.errorClass ?? GoToolError)(code, message, cause === undefined ? undefined : { cause });

  const fromEnv = env[spec.envVar];
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (!(await isExecutableFile(resolved))) {
      throw fail(
        GoToolErrorCode.BadEnvPath,
        `${spec.envVar} is set to "${fromEnv}", which is not an executable file. ` +
          `Point it at a ${spec.displayName} binary, or unset it to let baton find or build one.`,
      );
    }
    return { path: resolved, source: 'env' };
  }

  const onPath = await findOnPath(`${spec.binaryName}${EXE_SUFFIX}`, env.PATH);
  if (onPath) return { path: onPath, source: 'path' };

  const cached = goToolBinaryPath(spec, toolDir);
  if (await isExecutableFile(cached)) return { path: cached, source: 'cache' };

  const go = await findGo(env.PATH, options.goFallbacks ?? DEFAULT_GO_FALLBACKS);
  if (!go || options.allowBuild === false) {
    throw fail(GoToolErrorCode.NotFound, notFoundMessage(spec, go, toolDir));
  }
  try {
    await buildWithGo(spec, go, toolDir, progress);
  } catch (error) {
    // Build steps throw the generic class; callers branch on the tool's own.
    if (!(error instanceof GoToolError) || error.constructor === (spec.errorClass ?? GoToolError))
      throw error;
    throw fail(error.code, error.message, error);
  }
  return { path: cached, source: 'built' };
}

/** Path of a tool's cached build inside a tool folder. */
export function goToolBinaryPath(spec: Pick<GoToolSpec, 'binaryName' | 'toolDir'>, toolDir?: string): string {
  return path.join(toolDir ?? spec.toolDir, `${spec.binaryName}${EXE_SUFFIX}`);
}

/** The default build step: `go install <goPackage>@<version>` with `GOBIN` set to the private folder. */
export function goInstall(
  spec: Pick<GoToolSpec, 'displayName' | 'goPackage' | 'version' | 'goRequirement'>,
): GoBuild {
  return ({ go, env, progress }) =>
    runGo(go, ['install', `${spec.goPackage}@${spec.version}`], {
      env,
      progress,
      displayName: spec.displayName,
      goRequirement: spec.goRequirement,
    });
}

/** Options of {@link runGo}. */
export interface RunGoOptions {
  env: NodeJS.ProcessEnv;
  progress: (line: string) => void;
  /** Tool being built, for heartbeat lines. */
  displayName: string;
  /** Told in the error when the command fails ("Go >= 1.25"). */
  goRequirement: string;
  /** Working folder of the command (default the current one). */
  cwd?: string;
}

/**
 * Runs one Go command for a build, condensing `go: downloading` lines into a count, reporting a heartbeat while it is
 * quiet, and failing with {@link GoToolErrorCode.BuildFailed} and the command's last output lines.
 */
export function runGo(go: string, args: readonly string[], options: RunGoOptions): Promise<void> {
  const { progress } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (tail.length > OUTPUT_LINES_KEPT) tail.shift();
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastReport < HEARTBEAT_EVERY_MS) return;
      lastReport = Date.now();
      const seconds = Math.round((Date.now() - started) / 1000);
      progress(
        `still building the ${options.displayName} (${seconds} s, ${downloads} modules downloaded)...`,
      );
    }, 1_000);
    heartbeat.unref();
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(
        new GoToolError(GoToolErrorCode.BuildFailed, `could not run ${go}: ${error.message}`, {
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
        new GoToolError(
          GoToolErrorCode.BuildFailed,
          `go ${args.join(' ')} ${how} (${options.goRequirement} is needed).\n` + tail.join('\n'),
        ),
      );
    });
  });
}

function notFoundMessage(spec: GoToolSpec, go: string | undefined, toolDir: string): string {
  const lead = go
    ? `The ${spec.displayName} was not found and building it was not allowed (Go is at ${go}).`
    : `The ${spec.displayName} was not found, and neither Go nor a binary is available to provide it.`;
  return [
    lead,
    'Do one of these:',
    `  - ${spec.installHint};`,
    `  - set ${spec.envVar} to the path of a \`${spec.binaryName}\` binary;`,
    `  - install ${spec.goRequirement} (on PATH or at /usr/local/go/bin/go) and run \`${spec.buildCommand}\`, ` +
      `which builds ${spec.goPackage}@${spec.version} into ${toolDir}.`,
    ...(spec.notFoundNotes ?? []),
  ].join('\n');
}

/** Whether a path is a regular file this process may execute. */
export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` in the folders of `searchPath` (a PATH value). */
export async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
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
 * Builds the tool into a private temp folder beside the cache, then renames the binary into place: a crash never
 * leaves a half-written binary, and a lock file keeps a second resolver from building the same thing twice.
 */
async function buildWithGo(
  spec: GoToolSpec,
  go: string,
  toolDir: string,
  progress: (line: string) => void,
): Promise<void> {
  const parent = path.dirname(toolDir);
  await mkdir(parent, { recursive: true });
  const release = await acquireBuildLock(`${toolDir}.lock`, spec.displayName, progress);
  try {
    const target = goToolBinaryPath(spec, toolDir);
    // Another resolver may have finished the build while this one waited for the lock.
    if (await isExecutableFile(target)) return;
    const workDir = await mkdtemp(path.join(parent, `.${spec.binaryName}-build-`));
    try {
      progress(`building the ${spec.displayName} with Go (first run only, a few minutes)...`);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        GOBIN: workDir,
        CGO_ENABLED: '0',
        // A module's toolchain directive (`go 1.25.0`) may ask for a newer toolchain than the installed one.
        GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto',
        ...spec.buildEnv,
      };
      await (spec.build ?? goInstall(spec))({ go, gobin: workDir, env, progress });
      await mkdir(toolDir, { recursive: true });
      await rename(goToolBinaryPath(spec, workDir), target);
      progress(`built the ${spec.displayName} at ${target}`);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } finally {
    await release();
  }
}

const lockSchema = z.object({ pid: z.number().int(), at: z.number() });

/** Takes an exclusive lock file, waiting while a live process holds it; returns its release. */
async function acquireBuildLock(
  lockFile: string,
  displayName: string,
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
      progress(`another process is building the ${displayName}; waiting for it...`);
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
