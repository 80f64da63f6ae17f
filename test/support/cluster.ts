/**
 * A Temporal cluster for tests: `temporal-server` on a PostgreSQL of its own (so a test may stop that PostgreSQL
 * under it), on free ports, started through the same shipped files as `npm run cluster` and docker-compose.yml.
 */
import { resolveTemporalCli } from '../../local/temporal-cli';
import { startPrivatePostgres } from '../../local/private-postgres';
import type { PrivatePostgres } from '../../local/private-postgres';
import { startClusterServer, startClusterUi } from '../../local/temporal-cluster';
import type { ClusterServer, ClusterServerOptions, ClusterUi } from '../../local/temporal-cluster';
import { resolveClusterTools } from '../../local/temporal-server-tools';
import type { ClusterTools } from '../../local/temporal-server-tools';
import { freePort } from '../../services/ports';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';

/** A running test cluster and the PostgreSQL under it. */
export interface TestCluster {
  postgres: PrivatePostgres;
  server: ClusterServer;
  tools: ClusterTools & { cli: string };
  /** Starts the Web UI on it (stopped with the cluster). */
  startUi(codecEndpoint?: string): Promise<ClusterUi>;
  stop(): Promise<void>;
}

/** Options of {@link startTestCluster}. */
export interface TestClusterOptions {
  /** Dynamic configuration file (default the shipped one). */
  dynamicConfigFile?: string;
  log?: (line: string) => void;
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
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
