/**
 * The NATS server as the local stack and the fault suite run it: ready only when this start's own process answers,
 * and a JetStream store that survives a SIGKILL and a restart on the same folder.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../services/ports';
import {
  NatsServerError,
  NatsServerErrorCode,
  resolveNatsServer,
  startNatsServer,
} from '../../local/nats-server';
import type { NatsServer } from '../../local/nats-server';
import { PAYMENT_COMMAND_SUBJECT, STREAMS } from '../../services/bus';
import { openNatsBus } from '../../services/bus/nats-bus';

let binaryPath: string;
let storeDir: string;
const started: NatsServer[] = [];

async function start(port: number, store = storeDir): Promise<NatsServer> {
  const server = await startNatsServer({ binaryPath, port, storeDir: store, readyTimeoutMs: 20_000 });
  started.push(server);
  return server;
}

async function commandsIn(url: string): Promise<string[]> {
  const bus = await openNatsBus({ url, name: 'nats-server-test' });
  try {
    const bodies: string[] = [];
    for await (const message of bus.read(STREAMS.commands))
      bodies.push(Buffer.from(message.body).toString('utf8'));
    return bodies;
  } finally {
    await bus.close();
  }
}

before(async () => {
  binaryPath = (await resolveNatsServer()).path;
  storeDir = await mkdtemp(path.join(tmpdir(), 'baton-nats-test-'));
});

after(async () => {
  await Promise.all(started.map((server) => server.stop()));
  await rm(storeDir, { recursive: true, force: true });
});

describe('the local NATS server', () => {
  test('refuses to call itself ready when another server holds its port, and keeps its streams through a SIGKILL', async () => {
    const port = await freePort();
    const first = await start(port);
    const bus = await openNatsBus({ url: first.url, name: 'nats-server-test' });
    try {
      await bus.ensureTopology();
      await bus.publish(PAYMENT_COMMAND_SUBJECT, Buffer.from('kept'), { messageId: 'kept-1' });
    } finally {
      await bus.close();
    }

    // A second server on the same port dies on the taken address; the first one answering must not pass for it.
    await assert.rejects(
      start(port, path.join(storeDir, 'other')),
      (error: unknown) => error instanceof NatsServerError && error.code === NatsServerErrorCode.Exited,
    );
    assert.deepEqual(await commandsIn(first.url), ['kept']);

    first.kill('SIGKILL');
    await first.exited;
    const again = await start(port);
    assert.deepEqual(await commandsIn(again.url), ['kept'], 'the stream came back from the store');
  });
});
