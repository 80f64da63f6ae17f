/** What every CLI command shares: argument parsing, input errors, output, and a client that is always closed. */
import { correlationIdProblem } from '../../domain/correlation';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config/config';
import type { Ledger } from '../../services/ledger';

/** Input a person must fix; the CLI exits 2 and starts nothing. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Prints text, or the JSON document instead with `--json`. */
export type Output = (text: string, json: unknown) => void;

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's flags strictly: an unknown flag is a UsageError. */
export function parse<T extends OptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true } as const);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The printer for `--json` or for people. */
export function output(json: boolean): Output {
  return (text, value) => console.log(json ? JSON.stringify(value, null, 2) : text);
}

/** A flag's value, or a UsageError naming the flag. */
export function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${flag} is required`);
  return value.trim();
}

/** Refuses positional arguments a command does not take. */
export function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals.join(' ')}"`);
}

/** The one id a command takes, or a UsageError saying what is missing or too much. */
export function oneId(positionals: string[], missing: string): string {
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError(missing);
  noPositionals(extra);
  return id;
}

/** A short random suffix for generated ids. */
export function randomSuffix(): string {
  return Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
}

/** Runs `fn` with a connected client and closes the connection after. */
export async function withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: commands refused for their input never need the Temporal client.
  const { connectClient } = await import('../../temporal/connection');
  return traced(config, async () => {
    const client = await connectClient(config);
    try {
      return await fn(client);
    } finally {
      await client.connection.close();
    }
  });
}

/**
 * Runs a command that reaches Temporal or the bus with tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set: what it
 * starts or publishes is the first span of the process's trace. The spans are sent before the command returns.
 */
export async function traced<T>(config: Config, fn: () => Promise<T>): Promise<T> {
  const { startTracing } = await import('../../services/telemetry/tracing');
  const tracing = startTracing({
    serviceName: 'baton-client',
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  try {
    return await fn();
  } finally {
    await tracing.flush().catch(() => undefined);
  }
}

/**
 * A UsageError listing `problems` (as the contracts word them, by field) each under the flag a person typed, so
 * "--to-name: beneficiary name must be 2-140 characters" says where to look. `flags` pairs a problem's opening
 * words with its flag; the first that matches wins.
 */
export function usageErrorFor(
  problems: readonly string[],
  flags: readonly (readonly [string, string])[],
): UsageError {
  return new UsageError(
    problems
      .map((problem) => {
        const flag = flags.find(([field]) => problem.startsWith(field))?.[1];
        return flag === undefined ? problem : `${flag}: ${problem}`;
      })
      .join('\n'),
  );
}

/** The `--correlation-id` flag, checked; a new id when it is absent (this command then starts a business process). */
export function correlationIdFlag(value: string | boolean | undefined): string {
  if (typeof value !== 'string') return `corr-${Date.now().toString(36)}-${randomSuffix()}`;
  const problem = correlationIdProblem(value);
  if (problem !== undefined) throw new UsageError(`--correlation-id ${problem}`);
  return value;
}

/**
 * Runs `fn` over baton's database (DATABASE_URL, or the local stack's served ledger) and closes it after; exits 1
 * with a message saying what to start when the database cannot be reached.
 */
export async function withLedger(config: Config, fn: (ledger: Ledger) => Promise<number>): Promise<number> {
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
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}
