/**
 * The Temporal server as a cluster runs it, not the CLI's dev server: `temporal-server` (every service in one
 * process, on PostgreSQL), `temporal-sql-tool` (creates and migrates its schemas) and `temporal-ui-server` (the Web
 * UI, on its own). Each is found like every Go tool of the project (env var, PATH, `.tools/`) and otherwise built
 * from the Go module proxy at the version the CLI embeds, so the dev server and the cluster run the same engine.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { GoToolError, goInstall, projectToolDir, resolveGoTool } from './go-tool';
import type { GoBuild, GoToolSpec, ResolveGoToolOptions, ResolvedGoTool } from './go-tool';

/** Server version: the one the pinned Temporal CLI (v1.5.1) embeds. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

/** UI server version: the one that CLI embeds, and the `temporalio/ui` image docker-compose.yml names. */
export const TEMPORAL_UI_SERVER_VERSION = 'v2.42.1';

/** A cluster tool could not be found or built; the message says what to do. */
export class TemporalServerToolError extends GoToolError {
  override readonly name = 'TemporalServerToolError';
}

const SERVER_TOOL_DIR = projectToolDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`);

/**
 * `go install` names a binary after its package's folder (`server`, `sql`); the project's names are the ones the
 * server's own images use, so the build renames it.
 */
function installAs(spec: GoToolSpec, installedName: string): GoBuild {
  return async (context) => {
    await goInstall(spec)(context);
    await rename(path.join(context.gobin, installedName), path.join(context.gobin, spec.binaryName));
  };
}

function clusterTool(
  spec: Omit<GoToolSpec, 'errorClass' | 'goRequirement' | 'buildEnv' | 'build'>,
  installedName: string,
): GoToolSpec {
  const full: GoToolSpec = {
    ...spec,
    // Both modules start with `go 1.24`/`go 1.25.0`; GOTOOLCHAIN=auto fetches a newer Go if the installed one is older.
    goRequirement: 'Go >= 1.25',
    buildEnv: { GOFLAGS: '-mod=mod' },
    errorClass: TemporalServerToolError,
  };
  return { ...full, build: installAs(full, installedName) };
}

const TEMPORAL_SERVER = clusterTool(
  {
    displayName: 'Temporal server',
    binaryName: 'temporal-server',
    envVar: 'TEMPORAL_SERVER_PATH',
    goPackage: 'go.temporal.io/server/cmd/server',
    version: TEMPORAL_SERVER_VERSION,
    toolDir: SERVER_TOOL_DIR,
    buildCommand: 'npm run cluster:tools',
    installHint: `install temporal-server ${TEMPORAL_SERVER_VERSION} (from a Temporal server release) on PATH`,
  },
  'server',
);

const TEMPORAL_SQL_TOOL = clusterTool(
  {
    displayName: 'Temporal SQL schema tool',
    binaryName: 'temporal-sql-tool',
    envVar: 'TEMPORAL_SQL_TOOL_PATH',
    goPackage: 'go.temporal.io/server/cmd/tools/sql',
    version: TEMPORAL_SERVER_VERSION,
    toolDir: SERVER_TOOL_DIR,
    buildCommand: 'npm run cluster:tools',
    installHint: `install temporal-sql-tool ${TEMPORAL_SERVER_VERSION} (from a Temporal server release) on PATH`,
  },
  'sql',
);

const TEMPORAL_UI_SERVER = clusterTool(
  {
    displayName: 'Temporal UI server',
    binaryName: 'temporal-ui-server',
    envVar: 'TEMPORAL_UI_SERVER_PATH',
    goPackage: 'github.com/temporalio/ui-server/v2/cmd/server',
    version: TEMPORAL_UI_SERVER_VERSION,
    toolDir: projectToolDir(`temporal-ui-server-${TEMPORAL_UI_SERVER_VERSION}`),
    buildCommand: 'npm run cluster:tools',
    installHint:
      'run the temporalio/ui image instead, or put a ui-server build named temporal-ui-server on PATH',
  },
  'server',
);

/** The three binaries a local cluster runs. */
export interface ClusterTools {
  server: ResolvedGoTool;
  sqlTool: ResolvedGoTool;
  uiServer: ResolvedGoTool;
}

/** Finds (or builds, one after the other: two Go builds at once would only fight for the CPU) every cluster tool. */
export async function resolveClusterTools(options: ResolveGoToolOptions = {}): Promise<ClusterTools> {
  const server = await resolveGoTool(TEMPORAL_SERVER, options);
  const sqlTool = await resolveGoTool(TEMPORAL_SQL_TOOL, options);
  const uiServer = await resolveGoTool(TEMPORAL_UI_SERVER, options);
  return { server, sqlTool, uiServer };
}
