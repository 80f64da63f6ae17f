/** The CLI's ledger command: `accounts`, every account and its balance. */
import type { Config } from '../../config/config';
import { formatMoney } from '../../domain/money';
import type { Ledger } from '../../services/ledger';
import { noPositionals, output, parse } from './support';

/** `accounts`: reads the ledger itself (DATABASE_URL, or the local stack's served ledger). */
export async function accounts(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  noPositionals(positionals);
  // Without DATABASE_URL the ledger is the local stack's embedded one, which `npm start` serves on LEDGER_PORT.
  const databaseUrl = config.DATABASE_URL ?? `postgres://postgres@127.0.0.1:${config.LEDGER_PORT}/postgres`;
  const { Ledger: LedgerClass } = await import('../../services/ledger');
  let ledger: Ledger;
  try {
    ledger = await LedgerClass.open({
      databaseUrl,
      poolSize: 1,
      ...(config.DATABASE_URL !== undefined && config.DATABASE_SCHEMA !== undefined
        ? { schema: config.DATABASE_SCHEMA }
        : {}),
    });
  } catch (err) {
    console.error(
      config.DATABASE_URL === undefined
        ? `cannot reach the local ledger on port ${config.LEDGER_PORT}: start the stack with "npm start" or set DATABASE_URL`
        : `cannot open the ledger at DATABASE_URL: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
  try {
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
  } finally {
    await ledger.close();
  }
}
