/**
 * baton's command line: start, inspect, cancel, review, resolve and list payments, register customers and change how
 * they are welcomed, show ledger balances, export a run's history, and draw a process's trace from Jaeger. Each
 * command lives with its process (`payment-commands.ts`, `resolution-commands.ts`, `registration-commands.ts`,
 * `account-commands.ts`, `history.ts`, `trace-commands.ts`); this file holds the usage and the dispatch. Exit
 * codes: 0 success, 2 invalid input (nothing was started), 1 anything else.
 */
// First: the libraries it traces must be patched before anything loads them.
import '../../services/telemetry/instrument';
import { ConfigError, loadConfig } from '../../config/config';
import type { Config } from '../../config/config';
import { paymentWorkflowId } from '../../workflows/payment-contract';
import { accounts } from './account-commands';
import { cancel, list, pay, paymentStatus, review } from './payment-commands';
import { changePreference, register, registrationStatus } from './registration-commands';
import { oneId, parse, UsageError, withClient } from './support';

const USAGE = `usage: npm run client -- <command> [options]

commands:
  pay --from <accountId> --to-name <name> (--to-iban <iban> | --to-account <number>) --to-country <CC>
      --amount <decimal> --currency <code> [--id <paymentId>] [--correlation-id <id>] [--wait] [--json]
  register --name <name> --email <email> [--phone <E.164>] --channel email|sms --currency <code>
      [--id <registrationId>] [--correlation-id <id>] [--wait] [--json]
  status <paymentId | registrationId> [--json]
  cancel <paymentId> [--json]
  resolve <paymentId> --reviewer <name> [--note <text>] [--json]
  review <paymentId> (--approve | --reject) --reviewer <name> [--note <text>] [--json]
  change-preference <registrationId> --channel email|sms [--phone <E.164>] [--json]
  list [--status <status>] [--correlation <id>] [--limit <n>] [--json]
  publish pay <the flags of pay> [--correlation-id <id>] [--event-id <id>] [--source <uri>] [--json]
  publish register <the flags of register> [--correlation-id <id>] [--event-id <id>] [--source <uri>] [--json]
  events [--follow] [--json]
  accounts [--json]
  stuck [--kind <kind>] [--json]
  watchdog install [--interval <seconds>] [--json]
  watchdog run [--json]
  history <workflowId | paymentId | registrationId> [--run <runId>] [--out <file>] [--decode]
  trace (<paymentId | registrationId> [--lookback <30m | 12h | 2d>] | --trace-id <traceId>)
      [--svg <file>] [--json]`;

/** The usage lines of one command (its line and the indented lines under it); undefined for an unknown one. */
function usageOf(command: string): string | undefined {
  const lines = USAGE.split('\n');
  const first = lines.findIndex((line) => line.startsWith(`  ${command} `) || line === `  ${command}`);
  if (first === -1) return undefined;
  let last = first + 1;
  while (lines[last]?.startsWith('      ')) last += 1;
  return ['usage: npm run client -- ' + (lines[first] ?? '').trim(), ...lines.slice(first + 1, last)].join(
    '\n',
  );
}

/** Every command, by name: each takes the settings and its own arguments and returns the exit code. */
const COMMANDS: Record<string, (config: Config, args: string[]) => Promise<number>> = {
  pay,
  register,
  status,
  cancel,
  review,
  resolve: async (config, args) => (await import('./resolution-commands')).resolve(config, args),
  'change-preference': changePreference,
  list,
  accounts,
  publish: async (config, args) => (await import('./event-commands')).publish(config, args),
  events: async (config, args) => (await import('./event-commands')).events(config, args),
  history: async (config, args) => (await import('./history')).historyCommand(config, args),
  trace: async (config, args) => (await import('./trace-commands')).trace(config, args),
  stuck: async (config, args) => (await import('./watchdog-commands')).stuck(config, args),
  watchdog: async (config, args) => (await import('./watchdog-commands')).watchdog(config, args),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const beforeSeparator = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  const commandUsage = usageOf(command);
  if (commandUsage !== undefined && (beforeSeparator.includes('--help') || beforeSeparator.includes('-h'))) {
    console.log(commandUsage);
    return 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run === undefined) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  return run(loadConfig(), rest);
}

/** `status <id>`: a payment's, or a registration's when no payment has that id. */
async function status(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  const id = oneId(positionals, 'status needs a payment or registration id');
  const json = values.json === true;
  if (id.startsWith('registration:'))
    return registrationStatus(config, id.slice('registration:'.length), json);
  if (id.startsWith('payment:')) return paymentStatus(config, id.slice('payment:'.length), json);
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const isPayment = await withClient(config, (client) =>
    client.workflow
      .getHandle(paymentWorkflowId(id))
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      ),
  );
  return isPayment
    ? paymentStatus(config, id, json)
    : registrationStatus(config, id, json, 'no payment or registration with id');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      console.error(err.message);
      process.exitCode = 2;
    } else {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    }
  },
);
