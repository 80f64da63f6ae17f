import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import twilio from 'twilio';
import { classifyTwilioError, SmsPermanentError, SmsTransientError, TwilioSms } from '../../services/sms';
import { segmentCount } from '../../local/stand-ins/local-twilio';

const NUMBER = '+15005550001';
const DIGITS = NUMBER.slice(1);

/** An error exactly as the SDK builds it from Twilio's answer. */
function restException(status: number, body: Record<string, unknown> | string | null): Error {
  return new twilio.RestException({ statusCode: status, body });
}

function twilioBody(status: number, code: number, message: string): Record<string, unknown> {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** Every text an error carries that could end up in a log or a workflow history. */
function texts(error: Error): string {
  const own = `${error.message} ${JSON.stringify(error)}`;
  return error instanceof SmsTransientError && error.cause instanceof Error
    ? `${own} ${error.cause.name}`
    : own;
}

function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, isAxiosError: true, name: 'AxiosError' });
}

describe('classifyTwilioError', () => {
  const permanentCases = [
    {
      code: 21211,
      reason: 'invalid_number',
      message: `The 'To' number ${NUMBER} is not a valid phone number.`,
    },
    { code: 21610, reason: 'unsubscribed', message: `The recipient ${NUMBER} has unsubscribed.` },
    { code: 21614, reason: 'not_sms_capable', message: `'To' number ${NUMBER} is not a mobile number` },
    { code: 21408, reason: 'rejected', message: `Permission to send to ${NUMBER} is not enabled.` },
    { code: 21612, reason: 'rejected', message: `The number ${NUMBER} cannot be reached.` },
  ] as const;

  for (const { code, reason, message } of permanentCases) {
    test(`treats Twilio error ${code} as permanent (${reason}) without repeating the number`, () => {
      const error = classifyTwilioError(restException(400, twilioBody(400, code, message)));
      assert.ok(error instanceof SmsPermanentError);
      assert.equal(error.reason, reason);
      assert.equal(error.twilioCode, code);
      assert.equal(error.httpStatus, 400);
      assert.equal(error.moreInfo, `https://www.twilio.com/docs/errors/${code}`);
      assert.equal(error.cause, undefined, 'the SDK error names the number, so it is not kept');
      assert.ok(!texts(error).includes(DIGITS), texts(error));
    });
  }

  test('reads the code from an answer whose body is still a JSON string', () => {
    const raw = JSON.stringify(twilioBody(400, 21610, `${NUMBER} unsubscribed`));
    const error = classifyTwilioError(restException(400, raw));
    assert.ok(error instanceof SmsPermanentError);
    assert.equal(error.reason, 'unsubscribed');
  });

  test('treats another 4xx as a permanent rejection, even without a Twilio code', () => {
    const error = classifyTwilioError(restException(404, '<html>not found</html>'));
    assert.ok(error instanceof SmsPermanentError);
    assert.equal(error.reason, 'rejected');
    assert.equal(error.twilioCode, undefined);
    assert.equal(error.httpStatus, 404);
  });

  const transientCases = [
    { status: 429, code: 20429, kind: 'rate_limited' },
    { status: 500, code: 20500, kind: 'provider_error' },
    { status: 502, code: undefined, kind: 'provider_error' },
    { status: 503, code: 20503, kind: 'provider_error' },
    { status: 400, code: 21611, kind: 'rate_limited' },
    { status: 401, code: 20003, kind: 'authentication' },
  ] as const;

  for (const { status, code, kind } of transientCases) {
    test(`treats HTTP ${status}${code === undefined ? '' : ` code ${code}`} as transient (${kind})`, () => {
      const body = code === undefined ? 'Bad Gateway' : twilioBody(status, code, `failed for ${NUMBER}`);
      const cause = restException(status, body);
      const error = classifyTwilioError(cause);
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.kind, kind);
      assert.equal(error.httpStatus, status);
      assert.equal(error.twilioCode, code);
      assert.equal(error.cause, cause);
      assert.ok(!error.message.includes(DIGITS), error.message);
    });
  }

  test('says which settings to check when Twilio rejects the credentials', () => {
    const error = classifyTwilioError(restException(401, twilioBody(401, 20003, 'Authenticate')));
    assert.ok(error instanceof SmsTransientError);
    assert.match(error.message, /TWILIO_ACCOUNT_SID/);
  });

  test('classifies the RFC 9457 shape of newer Twilio APIs by status and code', () => {
    const error = classifyTwilioError({ type: 'about:blank', title: 'Bad', status: 400, code: 21614 });
    assert.ok(error instanceof SmsPermanentError);
    assert.equal(error.reason, 'not_sms_capable');
  });

  test('treats a refused or reset connection as a transient network failure', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN']) {
      const cause = networkError(code, `connect ${code} 127.0.0.1:1`);
      const error = classifyTwilioError(cause);
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.kind, 'network');
      assert.equal(error.httpStatus, undefined);
      assert.equal(error.cause, cause);
    }
  });

  test('treats an axios error without any code as a transient network failure', () => {
    const error = classifyTwilioError(Object.assign(new Error('Network Error'), { isAxiosError: true }));
    assert.ok(error instanceof SmsTransientError);
    assert.equal(error.kind, 'network');
  });

  test('treats a timeout as transient', () => {
    for (const cause of [
      networkError('ECONNABORTED', 'timeout of 100ms exceeded'),
      networkError('ETIMEDOUT', 'timeout of 100ms exceeded'),
      Object.assign(new Error('The operation timed out'), { name: 'TimeoutError' }),
    ]) {
      const error = classifyTwilioError(cause);
      assert.ok(error instanceof SmsTransientError);
      assert.equal(error.kind, 'timeout');
    }
  });

  test('keeps anything unexpected retryable, with the original as cause', () => {
    const cause = new TypeError(`cannot read properties of undefined (${NUMBER})`);
    const error = classifyTwilioError(cause);
    assert.ok(error instanceof SmsTransientError);
    assert.equal(error.kind, 'unknown');
    assert.equal(error.cause, cause);
    assert.ok(!error.message.includes(DIGITS));
    assert.ok(classifyTwilioError('a string') instanceof SmsTransientError);
    assert.ok(classifyTwilioError(null) instanceof SmsTransientError);
  });

  test('returns an error that is already classified unchanged', () => {
    const permanent = new SmsPermanentError('no', { reason: 'rejected', httpStatus: 400 });
    const transient = new SmsTransientError('later', { kind: 'network' });
    assert.equal(classifyTwilioError(permanent), permanent);
    assert.equal(classifyTwilioError(transient), transient);
  });
});

describe('TwilioSms options', () => {
  const valid = { accountSid: `AC${'a'.repeat(32)}`, authToken: 'token', from: '+15005550006' };

  test('accepts a sender number or a Messaging Service', () => {
    assert.ok(new TwilioSms(valid));
    const { from: _from, ...withoutFrom } = valid;
    assert.ok(new TwilioSms({ ...withoutFrom, messagingServiceSid: `MG${'b'.repeat(32)}` }));
  });

  test('refuses options without a sender, naming the missing setting', () => {
    const { from: _from, ...withoutFrom } = valid;
    assert.throws(() => new TwilioSms(withoutFrom), /from or messagingServiceSid/);
  });

  test('refuses a malformed account sid, base URL or timeout', () => {
    assert.throws(() => new TwilioSms({ ...valid, accountSid: 'SK123' }), /accountSid/);
    assert.throws(() => new TwilioSms({ ...valid, apiBaseUrl: 'ftp://example.test' }), /apiBaseUrl/);
    assert.throws(() => new TwilioSms({ ...valid, timeoutMs: 0 }), /timeoutMs/);
  });
});

describe('segmentCount', () => {
  test('counts GSM-7 text in 160/153 septet segments, extension characters twice', () => {
    assert.equal(segmentCount('a'.repeat(160)), 1);
    assert.equal(segmentCount('a'.repeat(161)), 2);
    assert.equal(segmentCount('€'.repeat(80)), 1);
    assert.equal(segmentCount('€'.repeat(81)), 2);
  });

  test('counts other text in 70/67 UCS-2 segments', () => {
    assert.equal(segmentCount('ж'.repeat(70)), 1);
    assert.equal(segmentCount('ж'.repeat(71)), 2);
    assert.equal(segmentCount('😀'.repeat(35)), 1);
  });
});
