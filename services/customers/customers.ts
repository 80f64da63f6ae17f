/**
 * Customer records, in the same database as the ledger: created once per registration, one customer per email
 * address (compared case-insensitively), with the channel they want to hear from baton on.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { SqlDatabase } from '../db/db';
import { sqlErrorCode } from '../db/db';

/** How a customer wants to be told things. */
import type { Channel } from '../../domain/customer-terms';

/** A customer as stored. */
export interface Customer {
  id: string;
  registrationId: string;
  name: string;
  email: string;
  phone: string | null;
  channel: Channel;
  createdAt: string;
}

/** Why a customer could not be created or changed. */
export class CustomerError extends Error {
  override readonly name = 'CustomerError';
  constructor(
    readonly code: 'duplicate_email' | 'registration_conflict' | 'not_found' | 'phone_required',
    message: string,
    readonly customerId?: string,
  ) {
    super(message);
  }
}

const customerRow = z.object({
  id: z.string(),
  registration_id: z.string(),
  name: z.string(),
  email: z.string(),
  phone: z.string().nullable(),
  channel: z.enum(['email', 'sms']),
  created_at: z.union([z.date(), z.string()]).transform((v) => (v instanceof Date ? v.toISOString() : v)),
});

function toCustomer(row: unknown): Customer {
  const r = customerRow.parse(row);
  return {
    id: r.id,
    registrationId: r.registration_id,
    name: r.name,
    email: r.email,
    phone: r.phone,
    channel: r.channel,
    createdAt: r.created_at,
  };
}

/** The customer id of a registration: derived, so a retried creation finds the same id, and free of personal data. */
export function customerIdFor(registrationId: string): string {
  return `C-${createHash('sha256').update(registrationId).digest('hex').slice(0, 12).toUpperCase()}`;
}

/** Customers over baton's database. */
export class CustomerStore {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Creates the customer of a registration, or returns the one it already created. An email address another
   * registration holds is a `duplicate_email`.
   */
  async create(input: {
    /** Defaults to the id derived from the registration; set for imported or seeded customers. */
    id?: string;
    registrationId: string;
    name: string;
    email: string;
    phone?: string | null;
    channel: Channel;
  }): Promise<Customer> {
    const existing = await this.byRegistration(input.registrationId);
    if (existing !== undefined) return this.sameRegistration(existing, input);
    const id = input.id ?? customerIdFor(input.registrationId);
    try {
      const rows = await this.db.query(
        `INSERT INTO customers (id, registration_id, name, email, phone, channel)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (registration_id) DO NOTHING
         RETURNING *`,
        [id, input.registrationId, input.name, input.email, input.phone ?? null, input.channel],
      );
      if (rows[0] !== undefined) return toCustomer(rows[0]);
    } catch (err) {
      // 23505: the unique index on lower(email). A concurrent retry of this same registration can trip it too
      // (its row reaches the email index first), so the address is someone else's only if the registration has
      // no customer of its own.
      if (sqlErrorCode(err) !== '23505') throw err;
      const raced = await this.byRegistration(input.registrationId);
      if (raced !== undefined) return this.sameRegistration(raced, input);
      throw new CustomerError('duplicate_email', 'this email address is already registered');
    }
    // Lost a race with a retry of the same registration: theirs is ours.
    const raced = await this.byRegistration(input.registrationId);
    if (raced === undefined) throw new Error(`customer of registration ${input.registrationId} vanished`);
    return this.sameRegistration(raced, input);
  }

  private sameRegistration(existing: Customer, input: { email: string }): Customer {
    if (existing.email.toLowerCase() !== input.email.toLowerCase()) {
      throw new CustomerError(
        'registration_conflict',
        `registration ${existing.registrationId} already created a customer with another email`,
        existing.id,
      );
    }
    return existing;
  }

  /** The customer with this id, if any. */
  async get(id: string): Promise<Customer | undefined> {
    const rows = await this.db.query('SELECT * FROM customers WHERE id = $1', [id]);
    return rows[0] === undefined ? undefined : toCustomer(rows[0]);
  }

  /** The customer a registration created, if any. */
  async byRegistration(registrationId: string): Promise<Customer | undefined> {
    const rows = await this.db.query('SELECT * FROM customers WHERE registration_id = $1', [registrationId]);
    return rows[0] === undefined ? undefined : toCustomer(rows[0]);
  }

  /** Changes the channel (and the phone, when given); SMS needs a phone. */
  async setPreference(id: string, channel: Channel, phone?: string): Promise<Customer> {
    const rows = await this.db.query(
      `UPDATE customers SET channel = $2, phone = COALESCE($3, phone)
       WHERE id = $1 AND ($2 <> 'sms' OR COALESCE($3, phone) IS NOT NULL)
       RETURNING *`,
      [id, channel, phone ?? null],
    );
    if (rows[0] !== undefined) return toCustomer(rows[0]);
    if ((await this.get(id)) === undefined) throw new CustomerError('not_found', `no customer ${id}`, id);
    throw new CustomerError('phone_required', 'SMS needs a phone number', id);
  }

  /** Every customer, oldest first (demo and tooling). */
  async list(): Promise<Customer[]> {
    const rows = await this.db.query('SELECT * FROM customers ORDER BY created_at, id');
    return rows.map(toCustomer);
  }
}
