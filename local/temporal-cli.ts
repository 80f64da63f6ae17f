/**
 * Finds the Temporal CLI binary that runs the dev server, building it with Go into the project's ignored tool
 * folder when nothing else provides it.
 */
import { GoToolError, GoToolErrorCode, goToolBinaryPath, projectToolDir, resolveGoTool } from './go-tool';
import type { GoToolSource, GoToolSpec, ResolveGoToolOptions, ResolvedGoTool } from './go-tool';

// Pinned: from v1.6.0 on, the CLI's go.mod carries a `replace` directive, and `go install` refuses such modules.
/** Version of the Temporal CLI the project builds and caches. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Go package path of the Temporal CLI command. */
export const TEMPORAL_CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';

/** Where a Go build of the CLI is kept: ignored by git, reused by every later run. */
export const DEFAULT_TOOL_DIR = projectToolDir(`temporal-cli-${TEMPORAL_CLI_VERSION}`);

/** Where the resolved binary came from. */
export type TemporalCliSource = GoToolSource;

/** The Temporal CLI binary to run, and how it was found. */
export type ResolvedTemporalCli = ResolvedGoTool;

/** Options of {@link resolveTemporalCli}; `env` is read for `TEMPORAL_CLI_PATH` and `PATH`. */
export type ResolveTemporalCliOptions = ResolveGoToolOptions;

/** Why the Temporal CLI could not be provided (`BadEnvPath` is about `TEMPORAL_CLI_PATH`). */
export const TemporalCliErrorCode = GoToolErrorCode;
/** One of {@link TemporalCliErrorCode}. */
export type TemporalCliErrorCode = GoToolErrorCode;

/** The Temporal CLI could not be found or built; the message says what to do. */
export class TemporalCliError extends GoToolError {
  override readonly name = 'TemporalCliError';
}

/** How the Temporal CLI is found and built. */
const TEMPORAL_CLI: GoToolSpec = {
  displayName: 'Temporal CLI',
  binaryName: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  goPackage: TEMPORAL_CLI_PACKAGE,
  version: TEMPORAL_CLI_VERSION,
  toolDir: DEFAULT_TOOL_DIR,
  goRequirement: 'Go >= 1.25',
  buildCommand: 'npm run temporal:cli',
  installHint: 'install the Temporal CLI (https://docs.temporal.io/cli) so that `temporal` is on PATH',
  notFoundNotes: [
    "(The Temporal SDK's own download of the dev server needs temporal.download, which baton does not rely on.)",
  ],
  buildEnv: { GOFLAGS: '-mod=mod' },
  errorClass: TemporalCliError,
};

/**
 * Resolves the Temporal CLI: `TEMPORAL_CLI_PATH`, then `temporal` on PATH, then the project's cached build, then a
 * fresh `go install` of {@link TEMPORAL_CLI_VERSION} into that cache.
 */
export function resolveTemporalCli(options: ResolveTemporalCliOptions = {}): Promise<ResolvedTemporalCli> {
  return resolveGoTool(TEMPORAL_CLI, options);
}

/** Path of the cached build inside a tool folder. */
export function cachedBinaryPath(toolDir: string = DEFAULT_TOOL_DIR): string {
  return goToolBinaryPath(TEMPORAL_CLI, toolDir);
}
