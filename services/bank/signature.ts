/**
 * The bank's webhook signature: `Bank-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
 * Signing the timestamp with the body lets the receiver refuse a replayed old request; several `v1=` values let a
 * secret be rotated without a window where valid webhooks are refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Default window, in seconds, in which a signature's timestamp is accepted on either side of now. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** One secret, or several while a secret is being rotated (every one is tried). */
export type WebhookSecret = string | readonly string[];

/** Why a signature was refused. */
export type SignatureFailureReason = 'missing' | 'malformed' | 'mismatch' | 'expired';

/** Result of {@link verifyWebhookSignature}. */
export type SignatureVerification = { ok: true } | { ok: false; reason: SignatureFailureReason };

function secretsOf(secret: WebhookSecret): readonly string[] {
  return typeof secret === 'string' ? [secret] : secret;
}

function hmac(secret: string, timestamp: number, rawBody: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
}

/** The `Bank-Signature` header value for `rawBody`, with one `v1=` per secret. */
export function signWebhook(rawBody: string | Buffer, secret: WebhookSecret, nowSeconds: number): string {
  const timestamp = Math.floor(nowSeconds);
  const signatures = secretsOf(secret).map((s) => `v1=${hmac(s, timestamp, rawBody).toString('hex')}`);
  return [`t=${timestamp}`, ...signatures].join(',');
}

/** Options of {@link verifyWebhookSignature}. */
export interface VerifyWebhookSignatureInput {
  /** The body exactly as received, before any parsing. */
  rawBody: string | Buffer;
  /** The `Bank-Signature` header, undefined when absent. */
  header: string | undefined;
  secret: WebhookSecret;
  nowSeconds: number;
  toleranceSeconds?: number;
}

interface ParsedHeader {
  timestamp: number;
  signatures: Buffer[];
}

function parseHeader(header: string): ParsedHeader | undefined {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator <= 0) return undefined;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return undefined;
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (a future v2) are ignored, so the bank can add one before baton understands it.
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

/**
 * Checks a `Bank-Signature` header against the raw body: the signature is checked first, then the timestamp, so
 * "expired" is only ever said of a signature that was genuinely the bank's.
 */
export function verifyWebhookSignature(input: VerifyWebhookSignatureInput): SignatureVerification {
  const { rawBody, header, secret, nowSeconds } = input;
  const toleranceSeconds = input.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
  const parsed = parseHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const expected = secretsOf(secret).map((s) => hmac(s, parsed.timestamp, rawBody));
  // Every pair is compared, without stopping at the first match, so timing says nothing about which one matched.
  let matched = false;
  for (const candidate of parsed.signatures) {
    for (const wanted of expected) {
      if (timingSafeEqual(candidate, wanted)) matched = true;
    }
  }
  if (!matched) return { ok: false, reason: 'mismatch' };
  if (Math.abs(nowSeconds - parsed.timestamp) > toleranceSeconds) return { ok: false, reason: 'expired' };
  return { ok: true };
}
