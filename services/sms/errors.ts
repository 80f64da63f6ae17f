/**
 * What a failed SMS send means for the caller. Every failure is one of two kinds: Twilio refused this message for
 * good ({@link SmsPermanentError}: do not retry, fall back to another channel) or the send did not happen now
 * ({@link SmsTransientError}: retry later). Messages and context never carry the recipient's number, although
 * Twilio's own error texts often do.
 */
import { z } from 'zod';

/** Why Twilio refused a message for good. */
export const SmsPermanentReason = {
  /** The recipient is not a valid phone number (21211). */
  invalid_number: 'invalid_number',
  /** The recipient replied STOP or is otherwise blocked (21610). */
  unsubscribed: 'unsubscribed',
  /** The number cannot receive SMS, e.g. a landline (21614). */
  not_sms_capable: 'not_sms_capable',
  /** Any other refusal that sending again will not change (other 4xx). */
  rejected: 'rejected',
} as const;
/** Why Twilio refused a message for good. */
export type SmsPermanentReason = (typeof SmsPermanentReason)[keyof typeof SmsPermanentReason];

/** Why a send did not happen now. */
export const SmsTransientKind = {
  /** Twilio asked to slow down (429, or a sender whose queue is full). */
  rate_limited: 'rate_limited',
  /** Twilio failed (5xx). */
  provider_error: 'provider_error',
  /** Twilio rejected baton's credentials (401, 20003): an operator must fix the deployment. */
  authentication: 'authentication',
  /** Twilio could not be reached (refused, reset, DNS). */
  network: 'network',
  /** No answer within the time budget; the message may or may not have been accepted. */
  timeout: 'timeout',
  /** Anything else; kept retryable so a surprise never drops a message silently. */
  unknown: 'unknown',
} as const;
/** Why a send did not happen now. */
export type SmsTransientKind = (typeof SmsTransientKind)[keyof typeof SmsTransientKind];

/** Twilio refused the message and will refuse it again: do not retry; the caller may use another channel. */
export class SmsPermanentError extends Error {
  override readonly name = 'SmsPermanentError';
  readonly reason: SmsPermanentReason;
  /** Twilio's error code, such as 21211; undefined when the answer carried none. */
  readonly twilioCode: number | undefined;
  readonly httpStatus: number;
  /** Twilio's documentation page of the error, when it sent one. */
  readonly moreInfo: string | undefined;

  constructor(
    message: string,
    context: { reason: SmsPermanentReason; httpStatus: number; twilioCode?: number; moreInfo?: string },
  ) {
    super(message);
    this.reason = context.reason;
    this.httpStatus = context.httpStatus;
    this.twilioCode = context.twilioCode;
    this.moreInfo = context.moreInfo;
  }
}

/** The send did not happen now (rate limit, outage, network, timeout, bad credentials): retry later. */
export class SmsTransientError extends Error {
  override readonly name = 'SmsTransientError';
  readonly kind: SmsTransientKind;
  /** HTTP status of Twilio's answer, when there was one. */
  readonly httpStatus: number | undefined;
  /** Twilio's error code, when its answer carried one. */
  readonly twilioCode: number | undefined;

  constructor(
    message: string,
    context: { kind: SmsTransientKind; httpStatus?: number; twilioCode?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = context.kind;
    this.httpStatus = context.httpStatus;
    this.twilioCode = context.twilioCode;
  }
}

/** Twilio codes that refuse this recipient for good, and how baton names them. */
const PERMANENT_CODES: ReadonlyMap<number, SmsPermanentReason> = new Map([
  [21211, SmsPermanentReason.invalid_number],
  [21610, SmsPermanentReason.unsubscribed],
  [21614, SmsPermanentReason.not_sms_capable],
]);

/** Twilio codes that come with a 4xx yet mean "not now". */
const TRANSIENT_CODES: ReadonlyMap<number, SmsTransientKind> = new Map([
  [20429, SmsTransientKind.rate_limited],
  [21611, SmsTransientKind.rate_limited],
]);

/** 4xx statuses that say "not now" rather than "no". */
const TRANSIENT_CLIENT_STATUSES = new Set([408, 425, 429]);

const AUTHENTICATION_CODE = 20003;

const REASON_TEXT: Record<SmsPermanentReason, string> = {
  invalid_number: 'the recipient is not a valid phone number',
  unsubscribed: 'the recipient has unsubscribed from messages of this sender',
  not_sms_capable: 'the recipient number cannot receive SMS',
  rejected: 'the request was refused',
};

/** Both the SDK's RestException (status, code, moreInfo) and its RFC 9457 variant (status, code) fit this. */
const HttpAnswerSchema = z.object({
  status: z.number().int().min(100).max(599),
  code: z.number().int().positive().optional().catch(undefined),
  moreInfo: z.string().optional().catch(undefined),
});

const NetworkErrorSchema = z.object({ code: z.string().min(1) });

/** Socket error codes that mean the request never reached Twilio or its answer never came back. */
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Sorts a failure of the twilio SDK into permanent or transient. Works on the SDK's RestException (an HTTP answer),
 * on network errors from its HTTP client (an `E...` code) and on anything else (transient, kept as `cause`).
 */
export function classifyTwilioError(err: unknown): SmsPermanentError | SmsTransientError {
  if (err instanceof SmsPermanentError || err instanceof SmsTransientError) return err;

  const answer = HttpAnswerSchema.safeParse(err);
  if (answer.success) return classifyAnswer(err, answer.data);

  if (isTimeout(err)) {
    return new SmsTransientError('Twilio did not answer in time', { kind: 'timeout' }, { cause: err });
  }
  const network = NetworkErrorSchema.safeParse(err);
  if (network.success || isAxiosError(err)) {
    const code = network.success ? ` (${network.data.code})` : '';
    return new SmsTransientError(`Twilio could not be reached${code}`, { kind: 'network' }, { cause: err });
  }
  return new SmsTransientError('the SMS send failed unexpectedly', { kind: 'unknown' }, { cause: err });
}

function classifyAnswer(
  err: unknown,
  answer: { status: number; code?: number | undefined; moreInfo?: string | undefined },
): SmsPermanentError | SmsTransientError {
  const { status: httpStatus, code: twilioCode, moreInfo } = answer;
  const codeText = twilioCode === undefined ? `HTTP ${httpStatus}` : `code ${twilioCode}, HTTP ${httpStatus}`;
  const transient = (kind: SmsTransientKind, what: string): SmsTransientError =>
    // Twilio's own message stays out of ours (it may name the recipient); the cause keeps the SDK's error intact.
    new SmsTransientError(
      `${what} (${codeText})`,
      { kind, httpStatus, ...(twilioCode === undefined ? {} : { twilioCode }) },
      { cause: err },
    );

  const permanentReason = twilioCode === undefined ? undefined : PERMANENT_CODES.get(twilioCode);
  if (permanentReason !== undefined) return permanent(permanentReason, httpStatus, twilioCode, moreInfo);

  const transientKind = twilioCode === undefined ? undefined : TRANSIENT_CODES.get(twilioCode);
  if (transientKind !== undefined) return transient(transientKind, 'Twilio asked to send later');

  // Bad credentials are a deployment problem that a retry will not fix, but an operator will: retrying keeps the
  // customer's message waiting instead of failing it, and the repeated failures make the problem loud.
  if (httpStatus === 401 || twilioCode === AUTHENTICATION_CODE) {
    return transient(
      'authentication',
      'Twilio rejected the credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN',
    );
  }
  if (TRANSIENT_CLIENT_STATUSES.has(httpStatus))
    return transient('rate_limited', 'Twilio asked to send later');
  if (httpStatus >= 500) return transient('provider_error', 'Twilio failed to take the message');
  if (httpStatus >= 400) return permanent('rejected', httpStatus, twilioCode, moreInfo);
  return transient('unknown', 'Twilio answered the SMS send unexpectedly');
}

function permanent(
  reason: SmsPermanentReason,
  httpStatus: number,
  twilioCode: number | undefined,
  moreInfo: string | undefined,
): SmsPermanentError {
  const codeText = twilioCode === undefined ? `HTTP ${httpStatus}` : `code ${twilioCode}, HTTP ${httpStatus}`;
  return new SmsPermanentError(`Twilio refused the SMS: ${REASON_TEXT[reason]} (${codeText})`, {
    reason,
    httpStatus,
    ...(twilioCode === undefined ? {} : { twilioCode }),
    ...(moreInfo === undefined ? {} : { moreInfo }),
  });
}

function isTimeout(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError') return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

/** The SDK's HTTP client is axios; a failure without an HTTP answer comes as an AxiosError. */
function isAxiosError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { isAxiosError?: unknown }).isAxiosError === true;
}
