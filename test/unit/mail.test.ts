import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MailPermanentError,
  MailTransientError,
  Mailer,
  SMS_MAX_LENGTH,
  classifyMailError,
  escapeHtml,
  messageIdFor,
  renderMessage,
  renderSmsText,
} from '../../services/mail';
import { decodeHeaderValue, parseMail } from '../../local/stand-ins/mime';
import { startSmtpSink } from '../../local/stand-ins/smtp-sink';
import type { MailMessage, PaymentOutcomeKind } from '../../services/mail';
import type { SmtpSink } from '../../local/stand-ins/smtp-sink';
import { freePort } from '../../services/ports';

const HOSTILE_NAME = '<script>alert("x")</script> & Co';
const ESCAPED_HOSTILE_NAME = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co';

function welcome(name = 'Ada Lovelace'): MailMessage {
  return { kind: 'welcome', name, customerId: 'C-1001', accountId: 'A-1001-EUR', currency: 'EUR' };
}

function outcome(kind: PaymentOutcomeKind, reason?: string): MailMessage {
  return {
    kind: 'payment_outcome',
    name: 'Ada Lovelace',
    paymentId: 'pay-42',
    outcome: kind,
    amount: '12.34 EUR',
    ...(reason === undefined ? {} : { reason }),
  };
}

/** An error shaped like the ones nodemailer hands to callers. */
function nodemailerError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('message templates', () => {
  test('renders a welcome with the customer, the account and a signature', () => {
    const rendered = renderMessage(welcome());
    assert.equal(rendered.subject, 'Welcome to baton');
    for (const body of [rendered.text, rendered.html]) {
      assert.match(body, /Hello Ada Lovelace,/);
      assert.match(body, /C-1001/);
      assert.match(body, /A-1001-EUR \(EUR\)/);
      assert.match(body, /baton/);
    }
    assert.match(rendered.text, /Thank you,\nbaton\n$/);
  });

  test('tells each payment outcome in its own words, with the amount and the payment id', () => {
    const subjects = new Set<string>();
    for (const kind of ['settled', 'failed', 'rejected', 'cancelled'] as const) {
      const rendered = renderMessage(outcome(kind));
      subjects.add(rendered.subject);
      assert.match(rendered.subject, /pay-42/);
      assert.match(rendered.text, /12\.34 EUR/);
      assert.match(rendered.html, /12\.34 EUR/);
      assert.doesNotMatch(rendered.text, /Reason:/);
    }
    assert.equal(subjects.size, 4);
    assert.match(renderMessage(outcome('settled')).text, /is complete/);
    assert.match(renderMessage(outcome('cancelled')).text, /cancelled as you asked/);
  });

  test('adds the reason of a refusal when there is one', () => {
    const rendered = renderMessage(outcome('rejected', 'insufficient funds'));
    assert.match(rendered.text, /Reason: insufficient funds/);
    assert.match(rendered.html, /Reason: insufficient funds/);
  });

  test('escapes the name in HTML and keeps it verbatim in the text', () => {
    const rendered = renderMessage(welcome(HOSTILE_NAME));
    assert.ok(rendered.html.includes(ESCAPED_HOSTILE_NAME));
    assert.ok(!rendered.html.includes('<script>'));
    assert.ok(rendered.text.includes(HOSTILE_NAME));
  });

  test('escapes every interpolated value in HTML, not only the name', () => {
    const rendered = renderMessage({
      kind: 'payment_outcome',
      name: 'Ada',
      paymentId: `p<1>`,
      outcome: 'failed',
      amount: `1 "EUR"`,
      reason: `Bank said 'no' & <b>closed</b>`,
    });
    assert.ok(rendered.html.includes('p&lt;1&gt;'));
    assert.ok(rendered.html.includes('1 &quot;EUR&quot;'));
    assert.ok(rendered.html.includes('Bank said &#39;no&#39; &amp; &lt;b&gt;closed&lt;/b&gt;'));
    assert.ok(!rendered.html.includes('<b>closed'));
  });

  test('keeps HTML out of the text body', () => {
    for (const message of [welcome(), outcome('failed', 'account closed')]) {
      assert.doesNotMatch(renderMessage(message).text, /<\/?[a-z!][^>]*>/i);
    }
  });

  test('escapeHtml replaces the five characters that matter and nothing else', () => {
    assert.equal(escapeHtml(`& < > " '`), '&amp; &lt; &gt; &quot; &#39;');
    assert.equal(escapeHtml('Zoë Ångström 12.34 €'), 'Zoë Ångström 12.34 €');
    assert.equal(escapeHtml('&amp;'), '&amp;amp;');
  });
});

describe('SMS text', () => {
  test('is one plain line with the name and the essentials', () => {
    const sms = renderSmsText(welcome());
    assert.match(sms, /^baton: Welcome, Ada Lovelace!/);
    assert.match(sms, /A-1001-EUR/);
    assert.doesNotMatch(sms, /\n/);
    assert.doesNotMatch(sms, /&amp;|<p>/);
  });

  test('keeps a hostile name verbatim, since SMS is not HTML', () => {
    assert.ok(renderSmsText(welcome(HOSTILE_NAME)).includes(HOSTILE_NAME));
  });

  test('never exceeds the SMS length, whatever the name and the reason', () => {
    const long = 'Wolfeschlegelsteinhausenbergerdorff '.repeat(20);
    for (const message of [
      welcome(long),
      { ...outcome('rejected', long), name: long },
      { ...outcome('cancelled'), name: `line\nbreaks\r\nand\ttabs ${long}` },
    ]) {
      const sms = renderSmsText(message);
      assert.ok(sms.length <= SMS_MAX_LENGTH, `${sms.length} characters`);
      assert.doesNotMatch(sms, /[\r\n\t]/);
    }
  });

  test('tells the payment outcome and its reason', () => {
    const sms = renderSmsText(outcome('failed', 'account closed'));
    assert.match(sms, /12\.34 EUR/);
    assert.match(sms, /pay-42/);
    assert.match(sms, /Reason: account closed/);
  });
});

describe('Message-ID', () => {
  test('is the same for the same key, every time', () => {
    const key = 'registration:r-1:welcome';
    assert.equal(messageIdFor(key), messageIdFor(key));
    assert.match(messageIdFor(key), /^<[0-9a-f]{32}@baton\.local>$/);
  });

  test('differs between purposes of one workflow and between workflows', () => {
    const ids = new Set([
      messageIdFor('registration:r-1:welcome'),
      messageIdFor('registration:r-1:welcome-fallback'),
      messageIdFor('registration:r-2:welcome'),
      messageIdFor('payment:p-1:outcome'),
    ]);
    assert.equal(ids.size, 4);
  });

  test('uses the domain it is given', () => {
    assert.match(messageIdFor('k', 'mail.baton.example'), /^<[0-9a-f]{32}@mail\.baton\.example>$/);
    assert.equal(messageIdFor('k', 'mail.baton.example').split('@')[0], messageIdFor('k').split('@')[0]);
  });
});

describe('error classification on nodemailer-shaped errors', () => {
  test('a 550 to RCPT TO is permanent and keeps the reply code', () => {
    const error = classifyMailError(
      nodemailerError("Can't send mail - all recipients were rejected: 550 mailbox unavailable", {
        code: 'EENVELOPE',
        responseCode: 550,
        command: 'RCPT TO',
        response: '550 mailbox unavailable',
      }),
    );
    assert.ok(error instanceof MailPermanentError);
    assert.equal(error.responseCode, 550);
    assert.equal(error.command, 'RCPT TO');
    assert.equal(error.code, 'EENVELOPE');
  });

  test('a 5xx to DATA is permanent', () => {
    const error = classifyMailError(
      nodemailerError('Message failed: 554 rejected as spam', {
        code: 'EMESSAGE',
        responseCode: 554,
        command: 'DATA',
      }),
    );
    assert.ok(error instanceof MailPermanentError);
  });

  test('an address nodemailer will not put in an envelope is permanent without a reply code', () => {
    const error = classifyMailError(
      nodemailerError('Invalid recipient "a\\nb"', { code: 'EENVELOPE', command: 'API' }),
    );
    assert.ok(error instanceof MailPermanentError);
    assert.equal(error.responseCode, undefined);
  });

  test('4xx replies, a 503 and a 421 greeting are transient', () => {
    for (const [code, responseCode, command] of [
      ['EENVELOPE', 452, 'RCPT TO'],
      ['EENVELOPE', 451, 'MAIL FROM'],
      ['EMESSAGE', 450, 'DATA'],
      ['EENVELOPE', 503, 'RCPT TO'],
      ['EPROTOCOL', 421, 'CONN'],
    ] as const) {
      const error = classifyMailError(nodemailerError('refused', { code, responseCode, command }));
      assert.ok(error instanceof MailTransientError, `${responseCode} on ${command}`);
      assert.equal(error.responseCode, responseCode);
    }
  });

  test('connection failures, timeouts, failed logins and unknown errors are transient', () => {
    for (const fields of [
      { code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' },
      { code: 'ECONNECTION', command: 'CONN' },
      { code: 'ETIMEDOUT', command: 'CONN', timeoutType: 'GREETING_TIMEOUT' },
      { code: 'EDNS', command: 'CONN' },
      { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' },
      { code: 'EPROTOCOL', responseCode: 554, command: 'CONN' },
    ]) {
      assert.ok(
        classifyMailError(nodemailerError('failed', fields)) instanceof MailTransientError,
        fields.code,
      );
    }
    const unknown = classifyMailError(new Error('something odd'));
    assert.ok(unknown instanceof MailTransientError);
    assert.equal(unknown.code, 'UNKNOWN');
    assert.ok(classifyMailError('not even an error') instanceof MailTransientError);
  });

  test('leaves recipient addresses out of the message and of the cause', () => {
    const error = classifyMailError(
      nodemailerError(
        "Can't send mail - all recipients were rejected: 550 <jane.roe@example.com>: no such user",
        {
          code: 'EENVELOPE',
          responseCode: 550,
          command: 'RCPT TO',
          response: '550 <jane.roe@example.com>: no such user',
          recipient: 'jane.roe@example.com',
        },
      ),
    );
    assert.ok(error instanceof MailPermanentError);
    assert.ok(error.cause instanceof Error);
    for (const text of [error.message, error.cause.message, error.cause.stack ?? '', error.stack ?? '']) {
      assert.ok(!text.includes('jane.roe'), text);
    }
    assert.match(error.message, /no such user/);
  });

  test('returns an already classified error as it is', () => {
    const error = new MailTransientError('later', { code: 'ECONNECTION' });
    assert.equal(classifyMailError(error), error);
  });
});

describe('error classification on a real SMTP exchange', () => {
  let sink: SmtpSink;
  let mailer: Mailer;
  const logLines: string[] = [];

  before(async () => {
    sink = await startSmtpSink({ rejectRecipients: (address) => address.startsWith('gone') });
    mailer = new Mailer({
      smtpUrl: sink.url,
      from: 'baton <no-reply@baton.local>',
      log: (line) => logLines.push(line),
    });
  });

  after(async () => {
    mailer.close();
    await sink.close();
  });

  test('a recipient the server answers 550 for is a permanent failure with its reply code', async () => {
    await assert.rejects(
      mailer.send({
        to: 'gone@example.com',
        message: welcome(),
        idempotencyKey: 'registration:r-550:welcome',
      }),
      (error: unknown) => {
        assert.ok(error instanceof MailPermanentError);
        assert.equal(error.responseCode, 550);
        assert.equal(error.command, 'RCPT TO');
        assert.ok(!error.message.includes('gone@example.com'));
        return true;
      },
    );
    assert.equal(sink.messages().length, 0);
  });

  test('an address that is not an email address is refused before any server is asked', async () => {
    await assert.rejects(
      mailer.send({ to: 'not an address', message: welcome(), idempotencyKey: 'registration:r-bad:welcome' }),
      (error: unknown) => error instanceof MailPermanentError && error.responseCode === undefined,
    );
    assert.equal(sink.messages().length, 0);
  });

  test('a server that is not there is a transient failure', async () => {
    const nobody = new Mailer({
      smtpUrl: `smtp://127.0.0.1:${await freePort()}`,
      from: 'baton <no-reply@baton.local>',
      pool: false,
    });
    try {
      await assert.rejects(
        nobody.send({
          to: 'ada@example.com',
          message: welcome(),
          idempotencyKey: 'registration:r-x:welcome',
        }),
        (error: unknown) => {
          assert.ok(error instanceof MailTransientError);
          assert.equal(error.code, 'ESOCKET');
          assert.equal(error.responseCode, undefined);
          return true;
        },
      );
      await assert.rejects(nobody.verify(), MailTransientError);
    } finally {
      nobody.close();
    }
  });

  test('logs neither the address nor the name', async () => {
    await mailer.send({
      to: 'ada.secret@example.com',
      message: welcome('Ada Secretname'),
      idempotencyKey: 'registration:r-log:welcome',
    });
    assert.ok(logLines.length >= 3);
    for (const line of logLines) {
      assert.doesNotMatch(line, /@example\.com|Secretname|gone|not an address/, line);
    }
    assert.ok(logLines.some((line) => line.includes(messageIdFor('registration:r-log:welcome'))));
  });
});

describe('correlation id on email', () => {
  let sink: SmtpSink;
  let mailer: Mailer;

  before(async () => {
    sink = await startSmtpSink();
    mailer = new Mailer({ smtpUrl: sink.url, from: 'baton <no-reply@baton.local>' });
  });

  after(async () => {
    mailer.close();
    await sink.close();
  });

  test('a message sent for a process carries its X-Correlation-ID as the server received it', async () => {
    await mailer.send({
      to: 'ada@example.com',
      message: welcome(),
      idempotencyKey: 'registration:r-corr:welcome',
      correlationId: 'signup-2026:ada',
    });
    const mail = sink.messages().find((m) => m.messageId === messageIdFor('registration:r-corr:welcome'));
    assert.ok(mail);
    assert.equal(mail.correlationId, 'signup-2026:ada');
    assert.match(mail.raw, /^X-Correlation-ID: signup-2026:ada\r$/m);
  });

  test('a message sent outside a process has no correlation header', async () => {
    await mailer.send({
      to: 'ada@example.com',
      message: welcome(),
      idempotencyKey: 'registration:r-none:welcome',
    });
    const mail = sink.messages().find((m) => m.messageId === messageIdFor('registration:r-none:welcome'));
    assert.ok(mail);
    assert.equal(mail.correlationId, undefined);
    assert.doesNotMatch(mail.raw, /X-Correlation-ID/i);
  });

  test('a correlation id that is not one is refused before any server is asked', async () => {
    const sentBefore = sink.messages().length;
    await assert.rejects(
      mailer.send({
        to: 'ada@example.com',
        message: welcome(),
        idempotencyKey: 'registration:r-badcorr:welcome',
        correlationId: 'two words\r\nBcc: someone@example.com',
      }),
      (error: unknown) => error instanceof MailPermanentError && /correlationId/.test(error.message),
    );
    assert.equal(sink.messages().length, sentBefore);
  });
});

describe('reading raw messages', () => {
  test('unfolds headers and decodes encoded words split in the middle of a character', () => {
    const raw = [
      'Subject: =?UTF-8?Q?Caf=C3?=',
      ' =?UTF-8?Q?=A9_cr=C3=A8me?= and =?ISO-8859-1?B?5g==?=',
      'Message-ID:',
      '  <abc@baton.local>',
      'X-Long: first',
      '\tsecond',
      '',
      'body',
    ].join('\r\n');
    const parsed = parseMail(Buffer.from(raw, 'latin1'));
    assert.equal(parsed.subject, 'Café crème and æ');
    assert.equal(parsed.messageId, '<abc@baton.local>');
    assert.equal(parsed.headers.get('x-long')?.[0], 'first\tsecond');
    assert.equal(parsed.text, 'body');
    assert.equal(parsed.html, undefined);
  });

  test('leaves words that are not encoded alone, and the spaces between them', () => {
    assert.equal(decodeHeaderValue('plain  words'), 'plain  words');
    assert.equal(decodeHeaderValue('a =?utf-8?b?w6k=?= b'), 'a é b');
    assert.equal(decodeHeaderValue('=?x-unknown?Q?abc?='), 'abc');
  });

  test('finds the text and HTML parts of nested multiparts, in base64 and quoted-printable', () => {
    const text = 'Grüße aus Köln — ' + 'x'.repeat(80);
    const html = '<p>Grüße</p>';
    const qp = Buffer.from(text, 'utf8')
      .toString('latin1')
      .replace(/[^\x20-\x7e]|=/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    const softBroken = `${qp.slice(0, 60)}=\r\n${qp.slice(60)}`;
    const raw = [
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      'preamble',
      '--outer',
      'Content-Type: multipart/alternative;',
      ' boundary="inner boundary"',
      '',
      '--inner boundary',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      softBroken,
      '--inner boundary',
      'Content-Type: text/html; charset="UTF-8"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(html, 'utf8').toString('base64'),
      '--inner boundary--',
      '--outer',
      'Content-Type: text/plain',
      'Content-Disposition: attachment; filename=notes.txt',
      '',
      'not the body',
      '--outer--',
      'epilogue',
    ].join('\r\n');
    const parsed = parseMail(Buffer.from(raw, 'latin1'));
    assert.equal(parsed.text, text);
    assert.equal(parsed.html, html);
  });

  test('reads a single-part HTML message and an 8-bit body in its charset', () => {
    const htmlOnly = parseMail(Buffer.from('Content-Type: text/html\r\n\r\n<p>hi</p>\r\n'));
    assert.equal(htmlOnly.text, '');
    assert.equal(htmlOnly.html, '<p>hi</p>\n');
    const latin = Buffer.concat([
      Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
      Buffer.from([0x4e, 0xfa, 0xf1, 0x65, 0x7a]),
    ]);
    assert.equal(parseMail(latin).text, 'Núñez');
  });

  test('never throws on a message it cannot make sense of', () => {
    for (const raw of [
      '',
      'no headers at all',
      'Content-Type: multipart/alternative\r\n\r\n--x',
      '\r\n\r\n',
    ]) {
      assert.doesNotThrow(() => parseMail(Buffer.from(raw)));
    }
    const truncated = parseMail(
      Buffer.from('Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nunfinished'),
    );
    assert.equal(truncated.text, 'unfinished');
  });
});
