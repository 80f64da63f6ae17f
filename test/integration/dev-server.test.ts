import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { DevServerError, DevServerErrorCode, startDevServer } from '../../local/dev-server';
import type { DevServer } from '../../local/dev-server';
import { resolveTemporalCli } from '../../local/temporal-cli';
import { freePort } from '../../services/ports';

const execFileAsync = promisify(execFile);

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Visibility query for settled payments: it only parses when PaymentStatus is a registered search attribute. */
async function settledPayments(server: DevServer): Promise<string[]> {
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: server.namespace });
    const ids: string[] = [];
    for await (const run of client.workflow.list({ query: `PaymentStatus = "settled"` }))
      ids.push(run.workflowId);
    return ids;
  } finally {
    await connection.close();
  }
}

describe('Temporal dev server', () => {
  let cliPath: string;
  let dataDir: string;
  const started: DevServer[] = [];

  before(async () => {
    cliPath = (await resolveTemporalCli({ onProgress: (line) => console.error(line) })).path;
    dataDir = await mkdtemp(path.join(tmpdir(), 'baton-dev-server-'));
  });

  after(async () => {
    await Promise.all(started.map((server) => server.stop()));
    await rm(dataDir, { recursive: true, force: true });
  });

  async function start(options: { port: number; dbFile: string; uiPort?: number }): Promise<DevServer> {
    const server = await startDevServer({ cliPath, searchAttributes: SEARCH_ATTRIBUTES, ...options });
    started.push(server);
    return server;
  }

  test('serves visibility queries on the project search attributes, stops, and restarts on the same file', async () => {
    const dbFile = path.join(dataDir, 'nested', 'temporal.sqlite');
    const port = await freePort();

    const first = await start({ port, dbFile });
    assert.equal(first.address, `127.0.0.1:${port}`);
    assert.equal(first.uiUrl, undefined);
    assert.deepEqual(await settledPayments(first), []);
    assert.ok((await stat(dbFile)).size > 0, 'state is kept in the SQLite file');

    await first.stop();
    assert.equal(isRunning(first.pid), false, 'the server process is gone after stop()');
    await first.stop(); // a second stop is harmless

    const uiPort = await freePort();
    const second = await start({ port, dbFile, uiPort });
    assert.notEqual(second.pid, first.pid);
    assert.deepEqual(await settledPayments(second), []);
    assert.equal(second.uiUrl, `http://127.0.0.1:${uiPort}`);
    const ui = await fetch(second.uiUrl);
    assert.equal(ui.status, 200);
    await ui.body?.cancel();

    await second.stop();
    assert.equal(isRunning(second.pid), false);
  });

  test('takes the server down when the owning process exits without stopping it', async () => {
    const script = path.join(dataDir, 'owner.ts');
    await writeFile(
      script,
      [
        `import { startDevServer } from ${JSON.stringify(path.resolve(__dirname, '../../local/dev-server'))};`,
        `void startDevServer({ cliPath: ${JSON.stringify(cliPath)}, port: ${await freePort()}, searchAttributes: {} })`,
        '  .then((server) => { process.stdout.write(`${server.pid}\\n`); process.exit(0); });',
      ].join('\n'),
    );
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], {
      cwd: process.cwd(),
    });
    const pid = Number(stdout.trim());
    assert.ok(Number.isInteger(pid) && pid > 0, `the owner printed the server pid, got "${stdout}"`);
    // SIGKILL was sent before the owner exited; the kernel may take a moment to reap the server.
    for (let i = 0; i < 100 && isRunning(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(isRunning(pid), false, 'the dev server did not outlive its owner');
  });

  test('reports a CLI path that cannot be run', async () => {
    await assert.rejects(
      startDevServer({
        cliPath: path.join(dataDir, 'no-such-temporal'),
        port: await freePort(),
        searchAttributes: {},
      }),
      (error: unknown) => {
        assert.ok(error instanceof DevServerError);
        assert.equal(error.code, DevServerErrorCode.Exited);
        assert.match(error.message, /could not be started: .*ENOENT/);
        return true;
      },
    );
  });

  test('fails with the server output when the server exits before answering', async () => {
    const port = await freePort();
    await assert.rejects(
      startDevServer({
        cliPath,
        port,
        searchAttributes: { PaymentStatus: 'NoSuchType' },
      }),
      (error: unknown) => {
        assert.ok(error instanceof DevServerError);
        assert.equal(error.code, DevServerErrorCode.Exited);
        assert.ok(error.lastOutput.length > 0, 'the last output lines are kept');
        return true;
      },
    );
  });
});
