import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MailPermanentError,
  MailTransientError,
  Mailer,
  messageIdFor,
  renderMessage,
} from '../../services/mail';
import { startSmtpSink } from '../../local/stand-ins/smtp-sink';
import type { MailMessage, MailerOptions } from '../../services/mail';
import type { SmtpSink, SmtpSinkOptions } from '../../local/stand-ins/smtp-sink';
import { freePort } from '../../services/ports';
import { logMessages } from '../support/logs';

const FROM = 'baton <no-reply@baton.local>';
const ROOT = path.resolve(__dirname, '../..');

function welcome(name: string): MailMessage {
  return { kind: 'welcome', name, customerId: 'C-2001', accountId: 'A-2001-EUR', currency: 'EUR' };
}

/** Runs `body` against a fresh sink and a mailer pointed at it; stops both whatever happens. */
async function withMail(
  body: (sink: SmtpSink, mailer: Mailer) => Promise<void>,
  options: { sink?: SmtpSinkOptions; mailer?: Partial<MailerOptions> } = {},
): Promise<void> {
  const sink = await startSmtpSink(options.sink);
  const mailer = new Mailer({ smtpUrl: sink.url, from: FROM, ...options.mailer });
  try {
    await body(sink, mailer);
  } finally {
    mailer.close();
    await sink.close();
  }
}

/**
 * Sends until the mailer succeeds, the way an activity's retry policy would: transient failures are retried after a
 * short pause, anything else ends the loop. Returns the transient failures seen on the way.
 */
async function sendWithRetries(
  mailer: Mailer,
  input: Parameters<Mailer['send']>[0],
  options: { attempts: number; pauseMs: number; onFailure?: (failures: number) => void },
): Promise<{ failures: MailTransientError[] }> {
  const failures: MailTransientError[] = [];
  for (let attempt = 1; attempt <= options.attempts; attempt += 1) {
    try {
      await mailer.send(input);
      return { failures };
    } catch (error) {
      if (!(error instanceof MailTransientError)) throw error;
      failures.push(error);
      options.onFailure?.(failures.length);
      await sleep(options.pauseMs);
    }
  }
  throw new Error(`not delivered after ${options.attempts} attempts`);
}

describe('mailer and SMTP sink over real SMTP', () => {
  test('stores the text and the HTML body decoded, exactly as rendered, with the Message-ID it was sent with', async () => {
    await withMail(async (sink, mailer) => {
      const message: MailMessage = {
        kind: 'payment_outcome',
        name: 'Zoë Ångström-Núñez',
        paymentId: 'pay-777',
        outcome: 'failed',
        amount: '1,234.56 EUR',
        reason: 'The beneficiary’s account is closed — “Konto aufgelöst” & <returned>',
      };
      const key = 'payment:pay-777:outcome';
      const result = await mailer.send({ to: 'zoe@example.com', message, idempotencyKey: key });
      assert.equal(result.messageId, messageIdFor(key));
      assert.equal(result.accepted, true);

      const stored = sink.messages();
      assert.equal(stored.length, 1);
      const [mail] = stored;
      assert.ok(mail);
      const rendered = renderMessage(message);
      assert.equal(mail.messageId, messageIdFor(key));
      assert.equal(mail.subject, rendered.subject);
      assert.equal(mail.text, rendered.text);
      assert.equal(mail.html, rendered.html);
      assert.equal(mail.from, 'no-reply@baton.local');
      assert.deepEqual(mail.to, ['zoe@example.com']);
      assert.match(mail.raw, /^Message-ID: <[0-9a-f]{32}@baton\.local>\r$/m);
      assert.ok(!Number.isNaN(Date.parse(mail.receivedAt)));
    });
  });

  test('keeps accents and non-Latin names intact in both bodies, whichever transfer encoding is chosen', async () => {
    await withMail(async (sink, mailer) => {
      // Mostly ASCII text goes quoted-printable; mostly non-ASCII text goes base64.
      const names = ['José Müller-Ærøskøbing', '山田 太郎 ・ ゆうこ 山田', 'Ελένη Παπαδοπούλου'];
      for (const [index, name] of names.entries()) {
        await mailer.send({
          to: `person${index}@example.com`,
          message: welcome(name),
          idempotencyKey: `registration:r-accents-${index}:welcome`,
        });
      }
      const stored = sink.messages();
      assert.equal(stored.length, names.length);
      for (const [index, name] of names.entries()) {
        const mail = stored[index];
        assert.ok(mail);
        assert.equal(mail.text, renderMessage(welcome(name)).text);
        assert.ok(mail.html?.includes(`Hello ${name},`), name);
      }
    });
  });

  test('a sink that refuses connections gives a transient failure, and nothing is stored', async () => {
    await withMail(
      async (sink, mailer) => {
        sink.refuseUntilCleared();
        await assert.rejects(
          mailer.send({
            to: 'ada@example.com',
            message: welcome('Ada'),
            idempotencyKey: 'registration:r-421:w',
          }),
          (error: unknown) => {
            assert.ok(error instanceof MailTransientError);
            assert.equal(error.responseCode, 421);
            return true;
          },
        );
        await assert.rejects(mailer.verify(), MailTransientError);
        assert.equal(sink.messages().length, 0);
      },
      { mailer: { pool: false } },
    );
  });

  test('a refusal also reaches a pooled connection that is already open', async () => {
    await withMail(async (sink, mailer) => {
      await mailer.send({
        to: 'ada@example.com',
        message: welcome('Ada'),
        idempotencyKey: 'registration:r-p1:w',
      });
      sink.refuseUntilCleared();
      await assert.rejects(
        mailer.send({
          to: 'ada@example.com',
          message: welcome('Ada'),
          idempotencyKey: 'registration:r-p2:w',
        }),
        (error: unknown) => error instanceof MailTransientError && error.responseCode === 421,
      );
      sink.acceptAgain();
      await mailer.send({
        to: 'ada@example.com',
        message: welcome('Ada'),
        idempotencyKey: 'registration:r-p2:w',
      });
      assert.deepEqual(
        sink.messages().map((mail) => mail.messageId),
        [messageIdFor('registration:r-p1:w'), messageIdFor('registration:r-p2:w')],
      );
    });
  });

  test('a sink down until it is cleared, then up, gives exactly one delivered welcome', async () => {
    await withMail(async (sink, mailer) => {
      const key = 'registration:r-outage:welcome';
      sink.refuseUntilCleared();
      const { failures } = await sendWithRetries(
        mailer,
        { to: 'ada@example.com', message: welcome('Ada'), idempotencyKey: key },
        { attempts: 10, pauseMs: 10, onFailure: (count) => (count === 3 ? sink.acceptAgain() : undefined) },
      );
      assert.equal(failures.length, 3);
      assert.deepEqual(
        sink.messages().map((mail) => mail.messageId),
        [messageIdFor(key)],
      );
    });
  });

  test('a sink down for a while, then up, gives exactly one delivered welcome', async () => {
    await withMail(async (sink, mailer) => {
      const key = 'registration:r-while:welcome';
      sink.refuseFor(500);
      const { failures } = await sendWithRetries(
        mailer,
        { to: 'ada@example.com', message: welcome('Ada'), idempotencyKey: key },
        { attempts: 100, pauseMs: 50 },
      );
      assert.ok(failures.length >= 1);
      assert.ok(failures.every((failure) => failure.responseCode === 421));
      assert.deepEqual(
        sink.messages().map((mail) => mail.messageId),
        [messageIdFor(key)],
      );
    });
  });

  test('a pooled mailer sends 20 messages at once and all 20 arrive with distinct ids', async () => {
    await withMail(async (sink, mailer) => {
      const keys = Array.from({ length: 20 }, (_, index) => `registration:r-many-${index}:welcome`);
      const results = await Promise.all(
        keys.map((key, index) =>
          mailer.send({
            to: `many${index}@example.com`,
            message: welcome(`Person ${index}`),
            idempotencyKey: key,
          }),
        ),
      );
      assert.deepEqual(
        results.map((result) => result.messageId),
        keys.map((key) => messageIdFor(key)),
      );
      const stored = sink.messages();
      assert.equal(stored.length, 20);
      assert.deepEqual(
        new Set(stored.map((mail) => mail.messageId)),
        new Set(keys.map((key) => messageIdFor(key))),
      );
    });
  });

  test('a message larger than the sink takes is refused for good', async () => {
    await withMail(
      async (sink, mailer) => {
        await assert.rejects(
          mailer.send({
            to: 'ada@example.com',
            message: welcome('Ada'),
            idempotencyKey: 'registration:r-big:w',
          }),
          MailPermanentError,
        );
        assert.equal(sink.messages().length, 0);
      },
      { sink: { maxMessageBytes: 512 } },
    );
  });

  test('clear() forgets stored messages', async () => {
    await withMail(async (sink, mailer) => {
      await mailer.send({
        to: 'ada@example.com',
        message: welcome('Ada'),
        idempotencyKey: 'registration:r-c:w',
      });
      assert.equal(sink.messages().length, 1);
      sink.clear();
      assert.equal(sink.messages().length, 0);
    });
  });

  test('closing the mailer and the sink leaves no sockets or servers open', async () => {
    const openNetworkHandles = () =>
      process.getActiveResourcesInfo().filter((resource) => resource.startsWith('TCP'));
    await withMail(async (sink, mailer) => {
      await Promise.all(
        [1, 2, 3].map((index) =>
          mailer.send({
            to: `ada${index}@example.com`,
            message: welcome('Ada'),
            idempotencyKey: `registration:r-close-${index}:w`,
          }),
        ),
      );
      assert.equal(sink.messages().length, 3);
    });
    // Sockets finish closing on the next turns of the event loop, not within close() itself.
    for (let turn = 0; turn < 200 && openNetworkHandles().length > 0; turn += 1) await sleep(10);
    assert.deepEqual(openNetworkHandles(), []);
  });
});

describe('the SMTP sink as its own process', () => {
  test('stops with exit code 2 and names the variable when SMTP_SINK_PORT is bad', async () => {
    const run = await runSinkMain({ SMTP_SINK_PORT: 'seventy' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /SMTP_SINK_PORT/);
  });

  test('prints each message id and subject without addresses, and stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/stand-ins/smtp-sink-main.ts'], {
      cwd: ROOT,
      env: { ...process.env, SMTP_SINK_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const waiters = new Set<() => void>();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      for (const wake of waiters) wake();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    /** Resolves once stdout matches `pattern`; fails if the process ends first. */
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(logMessages(stdout))) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        void exited.then(() => reject(new Error(`sink exited before printing ${pattern}:\n${stdout}`)));
      });
    try {
      await seen(/listening on smtp:\/\/127\.0\.0\.1:\d+/);
      const mailer = new Mailer({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, pool: false });
      const key = 'registration:r-main:welcome';
      try {
        await mailer.send({
          to: 'ada.private@example.com',
          message: welcome('Ada Private'),
          idempotencyKey: key,
        });
      } finally {
        mailer.close();
      }
      await seen(new RegExp(`${messageIdFor(key)} "Welcome to baton"`));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.doesNotMatch(stdout, /example\.com|Private/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

/** Runs the sink entry point to its end with `env` added; for start-up failures. */
function runSinkMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/stand-ins/smtp-sink-main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}
