/**
 * HTTP client of the bank gateway. It sorts every failure into one of two kinds a caller must treat differently: the
 * bank refused ({@link BankRejectedError}, never retry) or the bank could not be reached or made no sense
 * ({@link BankUnavailableError}, retry; the idempotency key makes a retried submission safe).
 */
import type { z } from 'zod';
import { CORRELATION_ID_HTTP_HEADER, correlationIdProblem } from '../../domain/correlation';
import {
  BankErrorBodySchema,
  IDEMPOTENCY_KEY_HEADER,
  PaymentStatusResponseSchema,
  SubmitPaymentResponseSchema,
} from './messages';
import type { PaymentStatusResponse, SubmitPaymentRequest, SubmitPaymentResponse } from './messages';

/** The bank refused the request (a 4xx answer): sending it again will not help. */
export class BankRejectedError extends Error {
  override readonly name = 'BankRejectedError';
  /** HTTP status of the bank's answer. */
  readonly httpStatus: number;
  /** The bank's error code, such as `idempotency_key_reused`, or `http_<status>` when it gave none. */
  readonly code: string;

  constructor(message: string, context: { httpStatus: number; code: string }, options?: ErrorOptions) {
    super(message, options);
    this.httpStatus = context.httpStatus;
    this.code = context.code;
  }
}

/** The bank could not be reached, timed out, failed (5xx) or answered nonsense: transient, retry. */
export class BankUnavailableError extends Error {
  override readonly name = 'BankUnavailableError';
  /** HTTP status of the bank's answer, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(message: string, context: { httpStatus?: number } = {}, options?: ErrorOptions) {
    super(message, options);
    this.httpStatus = context.httpStatus;
  }
}

/** How to reach the bank. */
export interface BankClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when given. */
  apiKey?: string;
  /** Budget of one request, answer body included. */
  timeoutMs?: number;
}

/** Input of {@link BankClient.submitPayment}: the payment as the bank takes it, and the process it belongs to. */
export interface SubmitPaymentInput extends SubmitPaymentRequest {
  /** Sent as the `X-Correlation-ID` header, not in the body, so it never changes what the bank is asked to pay. */
  correlationId?: string;
}

/** 4xx answers that say "not now" rather than "no". */
const TRANSIENT_CLIENT_STATUSES = new Set([408, 425, 429]);

/** Talks to the bank's payment API. */
export class BankClient {
  private readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: BankClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Submits a payment, keyed by its payment id: submitting it again returns the same reference. Throws a
   * TypeError, before calling the bank, when `correlationId` is given but is not a correlation id.
   */
  async submitPayment({ correlationId, ...payment }: SubmitPaymentInput): Promise<SubmitPaymentResponse> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [IDEMPOTENCY_KEY_HEADER]: payment.paymentId,
    };
    if (correlationId !== undefined) {
      const problem = correlationIdProblem(correlationId);
      if (problem !== undefined) throw new TypeError(`correlation id ${problem}`);
      headers[CORRELATION_ID_HTTP_HEADER] = correlationId;
    }
    return this.request(SubmitPaymentResponseSchema, 'POST', '/v1/payments', {
      body: JSON.stringify(payment),
      headers,
    });
  }

  /** Where a submitted payment stands; an unknown reference is a {@link BankRejectedError} with status 404. */
  async getPaymentStatus(reference: string): Promise<PaymentStatusResponse> {
    return this.request(
      PaymentStatusResponseSchema,
      'GET',
      `/v1/payments/${encodeURIComponent(reference)}`,
      {},
    );
  }

  private async request<T>(
    schema: z.ZodType<T>,
    method: string,
    path: string,
    init: { body?: string; headers?: Record<string, string> },
  ): Promise<T> {
    const what = `${method} ${path}`;
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: init.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : 'unreachable';
      throw new BankUnavailableError(`bank ${reason} (${what})`, {}, { cause: error });
    }

    if (status >= 200 && status < 300) return parseAnswer(schema, text, status, what);
    const error = parseErrorBody(text);
    const detail = error ? `${error.code}: ${error.message}` : `HTTP ${status}`;
    if (status >= 400 && status < 500 && !TRANSIENT_CLIENT_STATUSES.has(status)) {
      throw new BankRejectedError(`bank refused ${what}: ${detail}`, {
        httpStatus: status,
        code: error?.code ?? `http_${status}`,
      });
    }
    throw new BankUnavailableError(`bank failed ${what}: ${detail}`, { httpStatus: status });
  }
}

function parseAnswer<T>(schema: z.ZodType<T>, text: string, status: number, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BankUnavailableError(
      `bank answered ${what} with a body that is not JSON`,
      { httpStatus: status },
      {
        cause: error,
      },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new BankUnavailableError(
      `bank answered ${what} with an unexpected body`,
      { httpStatus: status },
      {
        cause: parsed.error,
      },
    );
  }
  return parsed.data;
}

function parseErrorBody(text: string): { code: string; message: string } | undefined {
  try {
    const parsed = BankErrorBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data.error : undefined;
  } catch {
    return undefined;
  }
}
