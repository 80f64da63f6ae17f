/**
 * A throwaway Temporal cluster, for tests and the benchmark: `temporal-server` on a PostgreSQL of its own (so a test
 * may stop that PostgreSQL under it), on free ports, started through the same shipped files as `npm run cluster` and
 * docker-compose.yml. Stopping it removes everything it made.
 */
import { resolveTemporalCli } from './temporal-cli';
import { startPrivatePostgres } from './private-postgres';
import type { PrivatePostgres } from './private-postgres';
import { startClusterServer, startClusterUi } from './temporal-cluster';
import type { ClusterServer, ClusterServerOptions, ClusterUi } from './temporal-cluster';
import { resolveClusterTools } from './temporal-server-tools';
import type { ClusterTools } from './temporal-server-tools';
import { freePort } from '../services/ports';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';

/** A running throwaway cluster and the PostgreSQL under it. */
export interface EphemeralCluster {
  postgres: PrivatePostgres;
  server: ClusterServer;
  tools: ClusterTools & { cli: string };
  /** Starts the Web UI on it (stopped with the cluster). */
  startUi(codecEndpoint?: string): Promise<ClusterUi>;
  stop(): Promise<void>;
}

/** Options of {@link startEphemeralCluster}. */
export interface EphemeralClusterOptions {
  /** Dynamic configuration file (default the shipped one). */
  dynamicConfigFile?: string;
  log?: (line: string) => void;
}

export async function startEphemeralCluster(
  options: EphemeralClusterOptions = {},
): Promise<EphemeralCluster> {
  const tools = await resolveClusterTools();
  const cli = (await resolveTemporalCli()).path;
  const postgres = await startPrivatePostgres({ log: options.log });
  const uis: ClusterUi[] = [];
  try {
    const serverOptions: ClusterServerOptions = {
      binaries: { server: tools.server.path, sqlTool: tools.sqlTool.path, cli },
      postgres: { host: postgres.host, port: postgres.port, user: postgres.user },
      ports: 'free',
      searchAttributes: SEARCH_ATTRIBUTES,
      ...(options.dynamicConfigFile === undefined ? {} : { dynamicConfigFile: options.dynamicConfigFile }),
      ...(options.log === undefined ? {} : { log: options.log }),
    };
    const server = await startClusterServer(serverOptions);
    return {
      postgres,
      server,
      tools: { ...tools, cli },
      async startUi(codecEndpoint) {
        const ui = await startClusterUi({
          binary: tools.uiServer.path,
          temporalAddress: server.address,
          port: await freePort(),
          ...(codecEndpoint === undefined ? {} : { codecEndpoint }),
        });
        uis.push(ui);
        return ui;
      },
      async stop() {
        for (const ui of uis) await ui.stop();
        await server.stop();
        await postgres.destroy();
      },
    };
  } catch (error) {
    await postgres.destroy();
    throw error;
  }
}
