import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { Ledger } from '../../services/ledger';
import { serveEmbeddedLedger } from '../../local/stand-ins/ledger-wire-server';
import type { ServedLedger } from '../../local/stand-ins/ledger-wire-server';
import { TEST_DATABASE_URL } from '../support/postgres';

const DATABASE_URL = TEST_DATABASE_URL;
const REPO_ROOT = resolve(__dirname, '..', '..');
const CLEARING_EUR = Ledger.systemAccountId('clearing', 'EUR');
const FUNDING_EUR = Ledger.systemAccountId('funding', 'EUR');

async function openCustomer(ledger: Ledger, id: string, amountMinor: number): Promise<void> {
  await ledger.openAccount({ id, kind: 'customer', customerId: `${id}:person`, currency: 'EUR' });
  await ledger.transfer({
    idempotencyKey: `${id}:fund`,
    fromAccountId: FUNDING_EUR,
    toAccountId: id,
    amountMinor,
    currency: 'EUR',
  });
}

async function balanceOf(ledger: Ledger, id: string): Promise<number | undefined> {
  return (await ledger.getAccount(id))?.balance;
}

/** A PostgreSQL wire client by hand, to stop a session half-way as a slow or crashed client would. */
class RawWireClient {
  private buffered = Buffer.alloc(0);
  private waiter: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiter?.();
    });
  }

  static async connect(url: string): Promise<RawWireClient> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((done, fail) => {
      socket.once('connect', done);
      socket.once('error', fail);
    });
    const client = new RawWireClient(socket);
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    socket.write(Buffer.concat([startup, params]));
    await client.until('Z');
    return client;
  }

  /** Sends a simple query and waits for its ReadyForQuery; returns the transaction status ('I', 'T' or 'E'). */
  async simpleQuery(sql: string): Promise<string> {
    this.socket.write(message('Q', Buffer.from(`${sql}\0`)));
    const replies = await this.until('Z');
    return String.fromCharCode(replies.at(-1)?.body[0] ?? 0);
  }

  /** Sends Parse alone, the first step of an extended-protocol query, and waits for ParseComplete. */
  async parse(sql: string): Promise<void> {
    this.socket.write(message('P', Buffer.concat([Buffer.from(`\0${sql}\0`), Buffer.alloc(2)])));
    await this.until('1');
  }

  /** Sends Parse alone and does not wait: an extended-protocol query that is never finished. */
  parseOnly(sql: string): void {
    this.socket.write(message('P', Buffer.concat([Buffer.from(`\0${sql}\0`), Buffer.alloc(2)])));
  }

  /** Binds and executes the unnamed statement, then Sync; returns the first column of each row as text. */
  async bindExecuteSync(): Promise<string[]> {
    const bind = Buffer.concat([Buffer.from('\0\0'), Buffer.alloc(6)]);
    const execute = Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]);
    this.socket.write(
      Buffer.concat([message('B', bind), message('E', execute), message('S', Buffer.alloc(0))]),
    );
    const replies = await this.until('Z');
    return replies
      .filter((reply) => reply.type === 'D')
      .map((row) => row.body.subarray(6, 6 + row.body.readInt32BE(2)).toString());
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Reads replies up to and including the first of type `type`. */
  private async until(type: string): Promise<{ type: string; body: Buffer }[]> {
    const replies: { type: string; body: Buffer }[] = [];
    for (;;) {
      while (this.buffered.length >= 5 && this.buffered.length >= 1 + this.buffered.readInt32BE(1)) {
        const length = this.buffered.readInt32BE(1);
        const reply = {
          type: String.fromCharCode(this.buffered[0] ?? 0),
          body: this.buffered.subarray(5, 1 + length),
        };
        this.buffered = this.buffered.subarray(1 + length);
        replies.push(reply);
        if (reply.type === type) return replies;
      }
      await new Promise<void>((wake) => (this.waiter = wake));
    }
  }
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

describe('serving an embedded ledger over the PostgreSQL wire protocol', { timeout: 120_000 }, () => {
  let ledger: Ledger;

  before(async () => {
    ledger = await Ledger.open({});
    await ledger.ensureSystemAccounts('EUR');
    await openCustomer(ledger, 'alice', 10_000);
    await ledger.transfer({
      idempotencyKey: 'alice:debit',
      fromAccountId: 'alice',
      toAccountId: CLEARING_EUR,
      amountMinor: 1_500,
      currency: 'EUR',
    });
  });

  after(async () => {
    await ledger.close();
  });

  test('lets a second ledger read the same books through the served URL while this process keeps writing', async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      assert.match(served.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
      const remote = await Ledger.open({ databaseUrl: served.url, poolSize: 1 });
      try {
        assert.deepEqual(await remote.listAccounts(), await ledger.listAccounts());
        assert.deepEqual(
          await remote.getTransferByKey('alice:debit'),
          await ledger.getTransferByKey('alice:debit'),
        );
        assert.deepEqual(await remote.balanceTotals(), [{ currency: 'EUR', sum: 0 }]);

        // The in-process ledger still writes while the client is connected, and the client sees it.
        await ledger.transfer({
          idempotencyKey: 'alice:debit-2',
          fromAccountId: 'alice',
          toAccountId: CLEARING_EUR,
          amountMinor: 500,
          currency: 'EUR',
        });
        assert.equal(await balanceOf(remote, 'alice'), 8_000);
        assert.equal(await remote.entriesImbalance(), 0);
      } finally {
        await remote.close();
      }

      // And after the client is gone.
      await ledger.transfer({
        idempotencyKey: 'alice:debit-3',
        fromAccountId: 'alice',
        toAccountId: CLEARING_EUR,
        amountMinor: 1_000,
        currency: 'EUR',
      });
      assert.equal(await balanceOf(ledger, 'alice'), 7_000);
    } finally {
      await served.close();
    }
    await ledger.transfer({
      idempotencyKey: 'alice:debit-4',
      fromAccountId: 'alice',
      toAccountId: CLEARING_EUR,
      amountMinor: 1_000,
      currency: 'EUR',
    });
    assert.equal(await balanceOf(ledger, 'alice'), 6_000);
  });

  test('keeps remote reads and in-process transfers from running inside each other', async () => {
    await openCustomer(ledger, 'bob', 1_000_000);
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    const remote = await Ledger.open({ databaseUrl: served.url, poolSize: 1 });
    try {
      // Both sides yield to the event loop between steps, as a worker's activities and a CLI's queries would.
      const writer = async () => {
        const written = [];
        for (let i = 0; i < 40; i += 1) {
          await setImmediate();
          written.push(
            await ledger.transfer({
              idempotencyKey: `bob:debit:${i}`,
              fromAccountId: 'bob',
              toAccountId: CLEARING_EUR,
              amountMinor: 100 + i,
              currency: 'EUR',
            }),
          );
        }
        return written;
      };
      const reader = async () => {
        const seen = [];
        for (let i = 0; i < 40; i += 1) {
          seen.push({
            totals: await remote.balanceTotals(),
            imbalance: await remote.entriesImbalance(),
            drift: await remote.balanceDrift(),
          });
        }
        return seen;
      };
      const [written, seen] = await Promise.all([writer(), reader()]);

      assert.equal(written.length, 40);
      for (const view of seen) {
        assert.deepEqual(view, { totals: [{ currency: 'EUR', sum: 0 }], imbalance: 0, drift: 0 });
      }
      const expected = 1_000_000 - written.reduce((sum, transfer) => sum + transfer.amountMinor, 0);
      assert.equal(await balanceOf(remote, 'bob'), expected);
      assert.equal(await balanceOf(ledger, 'bob'), expected);
    } finally {
      await remote.close();
      await served.close();
    }
  });

  test('serves the books to a ledger opened in another process', async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      const script = `
        const { Ledger } = require('./services/ledger');
        (async () => {
          const remote = await Ledger.open({ databaseUrl: process.env.LEDGER_URL, poolSize: 1 });
          try {
            process.stdout.write(JSON.stringify(await remote.listAccounts()));
          } finally {
            await remote.close();
          }
        })().catch((error) => { console.error(error); process.exit(1); });`;
      // Asynchronous on purpose: this process's event loop is what answers the child's queries.
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
        cwd: REPO_ROOT,
        env: { ...process.env, LEDGER_URL: served.url },
      });
      assert.deepEqual(JSON.parse(stdout), await ledger.listAccounts());
    } finally {
      await served.close();
    }
  });

  test("keeps this process's statements out of a client's unfinished extended-protocol query", async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      const client = await RawWireClient.connect(served.url);
      await client.parse("SELECT 'the client''s row'");
      // Started while the client's statement is parsed but not yet executed: it must wait for the client's Sync.
      const local = ledger.database.query("SELECT 'this process''s row' AS origin");
      // Awaited only after the client's statement; a failure meanwhile is still this test's, not unhandled.
      local.catch(() => undefined);
      await setImmediate();
      assert.deepEqual(await client.bindExecuteSync(), ["the client's row"]);
      assert.deepEqual(await local, [{ origin: "this process's row" }]);
      client.destroy();
    } finally {
      await served.close();
    }
  });

  test('rolls back a transaction a client leaves open when it disconnects', async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      const before = await balanceOf(ledger, 'alice');
      const client = new Client({ connectionString: served.url });
      await client.connect();
      await client.query('BEGIN');
      await client.query("UPDATE accounts SET balance = balance + 1 WHERE id = 'alice'");
      await client.end();

      assert.equal(await balanceOf(ledger, 'alice'), before);
      await ledger.transfer({
        idempotencyKey: 'alice:after-rollback',
        fromAccountId: 'alice',
        toAccountId: CLEARING_EUR,
        amountMinor: 1,
        currency: 'EUR',
      });
      assert.equal(await ledger.entriesImbalance(), 0);
      assert.equal(await ledger.balanceDrift(), 0);
    } finally {
      await served.close();
    }
  });

  test('gives the session back when a client vanishes in the middle of a transaction and a statement', async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      const before = await balanceOf(ledger, 'alice');
      const client = await RawWireClient.connect(served.url);
      assert.equal(await client.simpleQuery('BEGIN'), 'T');
      assert.equal(
        await client.simpleQuery("UPDATE accounts SET balance = balance + 7 WHERE id = 'alice'"),
        'T',
      );
      client.parseOnly('SELECT 1');
      client.destroy();

      // This waits until the server notices the client is gone, then runs outside what it left open.
      assert.equal(await balanceOf(ledger, 'alice'), before);
      await ledger.transfer({
        idempotencyKey: 'alice:after-vanish',
        fromAccountId: 'alice',
        toAccountId: CLEARING_EUR,
        amountMinor: 1,
        currency: 'EUR',
      });
      assert.equal(await ledger.balanceDrift(), 0);
    } finally {
      await served.close();
    }
  });

  test('gives the session back when a client vanishes half-way through a statement outside a transaction', async () => {
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      const client = await RawWireClient.connect(served.url);
      client.parseOnly('SELECT 1');
      client.destroy();

      await ledger.transfer({
        idempotencyKey: 'alice:after-half-statement',
        fromAccountId: 'alice',
        toAccountId: CLEARING_EUR,
        amountMinor: 1,
        currency: 'EUR',
      });
      assert.equal(await ledger.balanceDrift(), 0);
    } finally {
      await served.close();
    }
  });

  test('stops accepting connections once closed, while the ledger goes on working', async () => {
    const served: ServedLedger = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    const client = new Client({ connectionString: served.url });
    await client.connect();
    await client.query('SELECT 1');
    client.on('error', () => undefined);
    await served.close();

    const late = new Client({ connectionString: served.url });
    await assert.rejects(late.connect());
    await client.end().catch(() => undefined);
    assert.ok((await ledger.listAccounts()).length > 0);
  });

  test('refuses to serve on anything but loopback, or twice at once', async () => {
    await assert.rejects(serveEmbeddedLedger(ledger, { host: '0.0.0.0', port: 0 }), /loopback/);
    const served = await serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 });
    try {
      await assert.rejects(serveEmbeddedLedger(ledger, { host: '127.0.0.1', port: 0 }), /already/);
    } finally {
      await served.close();
    }
  });

  test('refuses to serve a ledger that is on PostgreSQL', async () => {
    const schema = `ledger_serve_${process.pid}_${randomBytes(4).toString('hex')}`;
    const onPostgres = await Ledger.open({ databaseUrl: DATABASE_URL, schema, poolSize: 1 });
    try {
      await assert.rejects(serveEmbeddedLedger(onPostgres, { host: '127.0.0.1', port: 0 }), /PGlite/);
    } finally {
      await onPostgres.close();
      const admin = new Client({ connectionString: DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
});
