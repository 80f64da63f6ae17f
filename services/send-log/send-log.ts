/**
 * The record of every message baton sends, kept under a key per (process, purpose) in baton's database. A sender
 * claims the key before calling the provider and records the provider's answer after, so a retry knows whether the
 * provider already took the message: SMS providers have no idempotency key, and this is what stands in for one.
 */
import { z } from 'zod';
import type { SqlDatabase } from '../db/db';

/** Where a send stands. */
export const SendState = {
  /** Claimed; the provider is being called (or the caller died while calling it). */
  Pending: 'pending',
  /** The provider took the message: never send it again. */
  Accepted: 'accepted',
  /** The provider answered that it did not take it (busy, down): sending again is safe. */
  Retryable: 'retryable',
  /** The provider will never take it (bad number, unsubscribed, mailbox gone). */
  Rejected: 'rejected',
  /** The call broke off with no answer: the provider may have the message, so it is not sent again. */
  InDoubt: 'in_doubt',
} as const;
/** One of {@link SendState}. */
export type SendState = (typeof SendState)[keyof typeof SendState];

/** A message send as recorded. */
export interface SendRecord {
  key: string;
  channel: 'email' | 'sms';
  state: SendState;
  providerId: string | null;
  detail: string | null;
  attempts: number;
}

const sendRow = z.object({
  key: z.string(),
  channel: z.enum(['email', 'sms']),
  state: z.enum(['pending', 'accepted', 'retryable', 'rejected', 'in_doubt']),
  provider_id: z.string().nullable(),
  detail: z.string().nullable(),
  attempts: z.union([z.number(), z.string()]).transform(Number),
});

function toRecord(row: unknown): SendRecord {
  const r = sendRow.parse(row);
  return {
    key: r.key,
    channel: r.channel,
    state: r.state,
    providerId: r.provider_id,
    detail: r.detail,
    attempts: r.attempts,
  };
}

/** What a sender may do after claiming a key. */
export type Claim = { send: true; attempt: number } | { send: false; record: SendRecord };

/** The send log over baton's database. */
export class SendLog {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Claims `key` for one provider call. The caller may send when the key is new or its last attempt was refused in
   * a way that makes a retry safe; otherwise it gets the record that says why not. A send found still `pending`
   * (its sender died mid-call) is resent only when `resendPending` — right for email, whose Message-ID lets the
   * receiver drop a copy, wrong for SMS, which is then marked in doubt.
   */
  async claim(key: string, channel: 'email' | 'sms', options: { resendPending: boolean }): Promise<Claim> {
    const claimed = await this.db.query(
      `INSERT INTO message_sends (key, channel, state, attempts) VALUES ($1, $2, 'pending', 1)
       ON CONFLICT (key) DO UPDATE SET state = 'pending', attempts = message_sends.attempts + 1, updated_at = now()
         WHERE message_sends.state = 'retryable' OR (message_sends.state = 'pending' AND $3)
       RETURNING *`,
      [key, channel, options.resendPending],
    );
    if (claimed[0] !== undefined) return { send: true, attempt: toRecord(claimed[0]).attempts };
    const record = await this.get(key);
    if (record === undefined) throw new Error(`send ${key} is neither claimable nor recorded`);
    if (record.state === SendState.Pending) {
      return {
        send: false,
        record: await this.finish(key, SendState.InDoubt, 'an earlier attempt broke off mid-call'),
      };
    }
    return { send: false, record };
  }

  /** Records the provider's answer to the claimed send. */
  async finish(
    key: string,
    state: Exclude<SendState, 'pending'>,
    detail?: string,
    providerId?: string,
  ): Promise<SendRecord> {
    const rows = await this.db.query(
      `UPDATE message_sends SET state = $2, detail = $3, provider_id = COALESCE($4, provider_id), updated_at = now()
       WHERE key = $1 RETURNING *`,
      [key, state, detail ?? null, providerId ?? null],
    );
    if (rows[0] === undefined) throw new Error(`no send recorded under ${key}`);
    return toRecord(rows[0]);
  }

  /** The record of one send, if any. */
  async get(key: string): Promise<SendRecord | undefined> {
    const rows = await this.db.query('SELECT * FROM message_sends WHERE key = $1', [key]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /** Every recorded send (demo and tests). */
  async list(): Promise<SendRecord[]> {
    const rows = await this.db.query('SELECT * FROM message_sends ORDER BY created_at, key');
    return rows.map(toRecord);
  }
}
