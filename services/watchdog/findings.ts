/**
 * The watchdog's findings as baton's database keeps them: a sweep's findings are reconciled with the open ones
 * (new ones opened, known ones seen again, those whose cause is gone closed), and each open finding is alerted once.
 * Knows nothing of Temporal: the kinds and actions come from the caller.
 */
import { z } from 'zod';
import type { SqlDatabase, SqlExecutor } from '../db/db';

/** A finding as a sweep reports it. */
export interface FindingInput {
  kind: string;
  businessId: string;
  severity: 'critical' | 'warning';
  since: string;
  summary: string;
  workflowId?: string;
  amountMinor?: number;
  currency?: string;
}

/** A finding as stored. */
export interface FindingRecord extends FindingInput {
  id: number;
  openedAt: string;
  lastSeenAt: string;
  closedAt?: string;
  alertedAt?: string;
}

/** What reconciling one sweep changed. */
export interface ReconcileResult {
  opened: FindingRecord[];
  seen: number;
  closed: FindingRecord[];
}

/** An ended payment whose bank status agreed with the ledger when it was checked. */
export interface BankReconciliation {
  paymentId: string;
  bankStatus: string;
  ledger: 'settled' | 'reversed';
}

const time = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());
const count = z.union([z.number(), z.string()]).transform(Number);
const findingRow = z.object({
  id: count,
  kind: z.string(),
  business_id: z.string(),
  severity: z.enum(['critical', 'warning']),
  since: time,
  summary: z.string(),
  workflow_id: z.string().nullable(),
  amount_minor: count.nullable(),
  currency: z.string().nullable(),
  opened_at: time,
  last_seen_at: time,
  closed_at: time.nullable(),
  alerted_at: time.nullable(),
});

const COLUMNS =
  'id, kind, business_id, severity, since, summary, workflow_id, amount_minor, currency, opened_at, last_seen_at, ' +
  'closed_at, alerted_at';

function toRecord(row: unknown): FindingRecord {
  const r = findingRow.parse(row);
  return {
    id: r.id,
    kind: r.kind,
    businessId: r.business_id,
    severity: r.severity,
    since: r.since,
    summary: r.summary,
    ...(r.workflow_id === null ? {} : { workflowId: r.workflow_id }),
    ...(r.amount_minor === null ? {} : { amountMinor: r.amount_minor }),
    ...(r.currency === null ? {} : { currency: r.currency }),
    openedAt: r.opened_at,
    lastSeenAt: r.last_seen_at,
    ...(r.closed_at === null ? {} : { closedAt: r.closed_at }),
    ...(r.alerted_at === null ? {} : { alertedAt: r.alerted_at }),
  };
}

/** The findings table and the record of ended payments already checked against the bank. */
export class FindingStore {
  constructor(private readonly database: SqlDatabase) {}

  /**
   * Brings the open findings of `kinds` in line with `findings`, one sweep's view of them: each new cause is
   * opened, each known one seen again (its summary refreshed), and each open one of those kinds the sweep no longer
   * reports is closed. Kinds not listed (their source could not be read) are left as they are.
   */
  async reconcile(kinds: readonly string[], findings: readonly FindingInput[]): Promise<ReconcileResult> {
    return this.database.transaction(async (tx) => {
      const open = (
        await tx.query(
          `SELECT ${COLUMNS} FROM watchdog_findings WHERE closed_at IS NULL AND kind = ANY($1::text[])`,
          [kinds],
        )
      ).map(toRecord);
      const reported = new Set(findings.map((f) => causeOf(f)));
      const closed: FindingRecord[] = [];
      for (const finding of open.filter((f) => !reported.has(causeOf(f)))) {
        const rows = await tx.query(
          `UPDATE watchdog_findings SET closed_at = now() WHERE id = $1 AND closed_at IS NULL RETURNING ${COLUMNS}`,
          [finding.id],
        );
        closed.push(...rows.map(toRecord));
      }
      const known = new Set(open.map((f) => causeOf(f)));
      const opened: FindingRecord[] = [];
      let seen = 0;
      for (const finding of findings) {
        if (known.has(causeOf(finding))) {
          await seeAgain(tx, finding);
          seen += 1;
          continue;
        }
        // A sweep running beside this one may have opened it first: the index keeps one open row per cause.
        const rows = await tx.query(
          `INSERT INTO watchdog_findings
             (kind, business_id, severity, since, summary, workflow_id, amount_minor, currency)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (kind, business_id) WHERE closed_at IS NULL DO NOTHING
           RETURNING ${COLUMNS}`,
          [
            finding.kind,
            finding.businessId,
            finding.severity,
            finding.since,
            finding.summary,
            finding.workflowId ?? null,
            finding.amountMinor ?? null,
            finding.currency ?? null,
          ],
        );
        if (rows.length === 0) {
          await seeAgain(tx, finding);
          seen += 1;
        } else {
          opened.push(...rows.map(toRecord));
        }
      }
      return { opened, seen, closed };
    });
  }

  /** The open findings, most serious and oldest first. */
  async listOpen(): Promise<FindingRecord[]> {
    const rows = await this.database.query(
      `SELECT ${COLUMNS} FROM watchdog_findings WHERE closed_at IS NULL
       ORDER BY severity = 'critical' DESC, since, id`,
    );
    return rows.map(toRecord);
  }

  /** Open findings the operator address has not been told of yet, oldest first. */
  async listUnalerted(): Promise<FindingRecord[]> {
    const rows = await this.database.query(
      `SELECT ${COLUMNS} FROM watchdog_findings WHERE closed_at IS NULL AND alerted_at IS NULL ORDER BY id`,
    );
    return rows.map(toRecord);
  }

  /** Records that the operator address was told of finding `id`. */
  async markAlerted(id: number): Promise<void> {
    await this.database.query(
      'UPDATE watchdog_findings SET alerted_at = coalesce(alerted_at, now()) WHERE id = $1',
      [id],
    );
  }

  /** The payments of `paymentIds` already found to agree with the bank. */
  async reconciledPayments(paymentIds: readonly string[]): Promise<Set<string>> {
    if (paymentIds.length === 0) return new Set();
    const rows = await this.database.query(
      'SELECT payment_id FROM bank_reconciliations WHERE payment_id = ANY($1::text[])',
      [paymentIds],
    );
    return new Set(rows.map((row) => z.object({ payment_id: z.string() }).parse(row).payment_id));
  }

  /** Records that an ended payment's bank status agrees with the ledger, so it is not asked about again. */
  async recordReconciled({ paymentId, bankStatus, ledger }: BankReconciliation): Promise<void> {
    await this.database.query(
      `INSERT INTO bank_reconciliations (payment_id, bank_status, ledger) VALUES ($1, $2, $3)
       ON CONFLICT (payment_id) DO NOTHING`,
      [paymentId, bankStatus, ledger],
    );
  }
}

function causeOf(finding: { kind: string; businessId: string }): string {
  return `${finding.kind}\u0000${finding.businessId}`;
}

async function seeAgain(tx: SqlExecutor, finding: FindingInput): Promise<void> {
  await tx.query(
    `UPDATE watchdog_findings SET last_seen_at = now(), summary = $3,
       amount_minor = coalesce($4, amount_minor), currency = coalesce($5, currency)
     WHERE kind = $1 AND business_id = $2 AND closed_at IS NULL`,
    [
      finding.kind,
      finding.businessId,
      finding.summary,
      finding.amountMinor ?? null,
      finding.currency ?? null,
    ],
  );
}
