/**
 * Sends SMS through the real twilio SDK. The same `client.messages.create` call serves real Twilio and a local
 * stand-in: only the origin the SDK's HTTP client talks to differs. Every failure comes out classified
 * (see `./errors`), and the SDK never resends on its own: Twilio has no idempotency key, so retries belong to the
 * caller, which records each send before making it.
 */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type Response from 'twilio/lib/http/response';
import { z } from 'zod';
import { classifyTwilioError } from './errors';
import { inSpan, SpanKind } from '../telemetry/tracing';

/** How to reach Twilio and who the messages come from. */
export interface TwilioSmsOptions {
  accountSid: string;
  authToken: string;
  /** Sender number (E.164), short code or alphanumeric sender id; `from` or `messagingServiceSid` is required. */
  from?: string;
  /** A Messaging Service (`MG...`) that picks the sender; used together with `from` when both are given. */
  messagingServiceSid?: string;
  /** Only for a local stand-in such as `http://127.0.0.1:7310`; omitted, the SDK talks to real Twilio. */
  apiBaseUrl?: string;
  /** Budget of one request to Twilio; default 10 s. */
  timeoutMs?: number;
}

/** One message to send. */
export interface SmsSendInput {
  /** Recipient in E.164, e.g. `+14155550100`. */
  to: string;
  body: string;
}

/** What Twilio answered when it accepted a message. */
export interface SmsSendResult {
  /** Twilio's message sid (`SM...`): record it, it proves the message was accepted. */
  sid: string;
  /** Twilio's status at acceptance, usually `queued` (or `accepted` through a Messaging Service). */
  status: string;
}

const OptionsSchema = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits'),
    authToken: z.string().min(1, 'is required'),
    from: z.string().trim().min(1).optional(),
    messagingServiceSid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'must be MG followed by 32 hex digits')
      .optional(),
    apiBaseUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .transform((url) => (url === undefined ? undefined : new URL(url))),
    timeoutMs: z.number().int().positive().default(10_000),
  })
  .refine((options) => options.from !== undefined || options.messagingServiceSid !== undefined, {
    message: 'either from or messagingServiceSid is required',
    path: ['from'],
  });

/**
 * The HTTP client the SDK is given (its documented `httpClient` extension point): the SDK's own RequestClient,
 * with the API origin swapped for `apiBaseUrl` when one is set and left alone otherwise.
 */
export class TwilioRequestClient extends twilio.RequestClient {
  private readonly apiBaseUrl: URL | undefined;

  constructor(options: { apiBaseUrl?: URL; timeoutMs: number }) {
    // autoRetry off: the SDK would otherwise resend a create on 429 by itself, and a message must go out at most
    // once per attempt the caller recorded.
    super({ timeout: options.timeoutMs, autoRetry: false });
    this.apiBaseUrl = options.apiBaseUrl;
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
    const uri = this.apiBaseUrl === undefined ? opts.uri : reroute(opts.uri, this.apiBaseUrl);
    return super.request({ ...opts, uri });
  }
}

/** Keeps the path and query the SDK built; takes scheme, host, port (and any path prefix) from `base`. */
function reroute(uri: string, base: URL): string {
  const original = new URL(uri);
  const routed = new URL(base.href);
  routed.pathname = `${base.pathname.replace(/\/+$/, '')}${original.pathname}`;
  routed.search = original.search;
  return routed.href;
}

/** Sends SMS with the twilio SDK; failures are thrown classified. Invalid options throw a TypeError at once. */
export class TwilioSms {
  /** The HTTP client the SDK uses; exposed so a test can observe the requests it would send. */
  readonly httpClient: TwilioRequestClient;
  private readonly client: twilio.Twilio;
  private readonly sender: { from?: string; messagingServiceSid?: string };

  constructor(options: TwilioSmsOptions) {
    const parsed = OptionsSchema.safeParse(options);
    if (!parsed.success) {
      const problems = parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`,
      );
      throw new TypeError(`invalid Twilio SMS options: ${problems.join('; ')}`);
    }
    const { accountSid, authToken, from, messagingServiceSid, apiBaseUrl, timeoutMs } = parsed.data;
    this.httpClient = new TwilioRequestClient({
      timeoutMs,
      ...(apiBaseUrl === undefined ? {} : { apiBaseUrl }),
    });
    // No credential provider, validation client or eager loading: the only network traffic is the API call itself.
    this.client = twilio(accountSid, authToken, {
      httpClient: this.httpClient,
      autoRetry: false,
      lazyLoading: true,
    });
    this.sender = {
      ...(from === undefined ? {} : { from }),
      ...(messagingServiceSid === undefined ? {} : { messagingServiceSid }),
    };
  }

  /** Asks Twilio to send one message, exactly once: a failure is classified and thrown, never retried here. */
  send(input: SmsSendInput): Promise<SmsSendResult> {
    // The SDK's own HTTP request is a child span of this one; neither names the phone number or the text.
    return inSpan('twilio send sms', { kind: SpanKind.CLIENT }, async (span) => {
      try {
        const message = await this.client.messages.create({ to: input.to, body: input.body, ...this.sender });
        span.setAttribute('baton.sms_status', message.status);
        return { sid: message.sid, status: message.status };
      } catch (error) {
        throw classifyTwilioError(error);
      }
    });
  }
}
