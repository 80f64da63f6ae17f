/** A real Temporal dev server for a test file: in memory, on a free port, with baton's search attributes. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { quietWorkerRuntime } from '../../temporal/runtime';
import { startDevServer } from '../../local/dev-server';
import { freePort } from '../../services/ports';
import { resolveTemporalCli } from '../../local/temporal-cli';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';

/** A dev server with a client and a worker connection on it. */
export interface TestTemporal {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
  stop(): Promise<void>;
}

/** Starts a dev server for one test file; `stop()` closes the connections and the server. */
export async function startTestTemporal(): Promise<TestTemporal> {
  quietWorkerRuntime();
  const { path: cliPath } = await resolveTemporalCli({ onProgress: (line) => console.log(line) });
  const server = await startDevServer({
    cliPath,
    port: await freePort(),
    searchAttributes: SEARCH_ATTRIBUTES,
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    return {
      address: server.address,
      client: new Client({ connection, namespace: server.namespace }),
      nativeConnection,
      async stop() {
        await nativeConnection.close();
        await connection.close();
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
