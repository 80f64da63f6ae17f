/** The CLI's ledger command: `accounts`, every account and its balance. */
import type { Config } from '../../config/config';
import { formatMoney } from '../../domain/money';
import { noPositionals, output, parse, withLedger } from './support';

/** `accounts`: reads the ledger itself (DATABASE_URL, or the local stack's served ledger). */
export async function accounts(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  noPositionals(positionals);
  return withLedger(config, async (ledger) => {
    const rows = await ledger.listAccounts();
    const text = rows
      .map((a) =>
        [
          a.id.padEnd(20),
          a.kind.padEnd(10),
          (a.customerId ?? '-').padEnd(8),
          formatMoney(a.balance, a.currency).padStart(18),
        ].join('  '),
      )
      .join('\n');
    output(values.json === true)(
      text || 'no accounts',
      rows.map((a) => ({
        id: a.id,
        kind: a.kind,
        customerId: a.customerId,
        currency: a.currency,
        balance: a.balance,
      })),
    );
    return 0;
  });
}
