/**
 * baton's command line: start, inspect, cancel, review and list payments, register customers, show ledger
 * balances, and export a run's history.
 * Exit codes: 0 success, 2 invalid input (nothing was started), 1 anything else.
 */
import { ConfigError, loadConfig } from '../../config/config';
import type { Config } from '../../config/config';
import type { Ledger } from '../../services/ledger';
import { AmountFormatError, formatMoney, parseAmount } from '../../domain/money';
import { paymentSearchAttributes, PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import { paymentRequestProblems } from '../../workflows/payment-checks';
import type { PaymentRequest, PaymentState } from '../../workflows/payment-contract';
import { register, registrationStatus } from './registration-commands';
import {
  noPositionals,
  output,
  parse,
  randomSuffix,
  required,
  UsageError,
  usageErrorFor,
  withClient,
} from './support';

// The Temporal client, the ledger and the history tools are loaded once the input has passed: a refused command
// answers without paying for them.
const temporalClient = () => import('@temporalio/client');
const payments = () => import('../payments');

const USAGE = `usage: npm run client -- <command> [options]

commands:
  pay --from <accountId> --to-name <name> (--to-iban <iban> | --to-account <number>) --to-country <CC>
      --amount <decimal> --currency <code> [--id <paymentId>] [--wait] [--json]
  register --name <name> --email <email> [--phone <E.164>] --channel email|sms --currency <code>
      [--id <registrationId>] [--wait] [--json]
  status <paymentId | registrationId> [--json]
  cancel <paymentId> [--json]
  review <paymentId> (--approve | --reject) --reviewer <name> [--note <text>] [--json]
  list [--status <status>] [--limit <n>] [--json]
  accounts [--json]
  history <workflowId | paymentId | registrationId> [--run <runId>] [--out <file>] [--decode]`;

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
  const config = loadConfig();
  switch (command) {
    case 'pay':
      return pay(config, rest);
    case 'register':
      return register(config, rest);
    case 'status':
      return status(config, rest);
    case 'cancel':
    case 'review':
      return onePayment(config, command, rest);
    case 'list':
      return list(config, rest);
    case 'accounts':
      return accounts(config, rest);
    case 'history':
      return (await import('./history')).historyCommand(config, rest);
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** Which flag each field of a payment request comes from. */
const PAYMENT_FLAGS = [
  ['paymentId', '--id'],
  ['fromAccountId', '--from'],
  ['amountMinor', '--amount'],
  ['currency', '--currency'],
  ['beneficiary name', '--to-name'],
  ['beneficiary country', '--to-country'],
  ['beneficiary IBAN', '--to-iban'],
  ['beneficiary account number', '--to-account'],
  ['beneficiary needs', '--to-iban or --to-account'],
] as const;

/** Builds and checks a payment request from the flags; throws UsageError before anything is started. */
function paymentRequestFromFlags(values: Record<string, string | boolean | undefined>): PaymentRequest {
  let money;
  try {
    money = parseAmount(required(values.amount, '--amount'), required(values.currency, '--currency'));
  } catch (err) {
    if (err instanceof AmountFormatError) {
      throw new UsageError(`${err.message.startsWith('amount') ? '--amount' : '--currency'}: ${err.message}`);
    }
    throw err;
  }
  const iban =
    typeof values['to-iban'] === 'string' ? values['to-iban'].replace(/\s+/g, '').toUpperCase() : undefined;
  const accountNumber = typeof values['to-account'] === 'string' ? values['to-account'].trim() : undefined;
  if (iban === undefined && accountNumber === undefined)
    throw new UsageError('--to-iban or --to-account is required');
  const request: PaymentRequest = {
    paymentId: typeof values.id === 'string' ? values.id : `pay-${Date.now().toString(36)}-${randomSuffix()}`,
    fromAccountId: required(values.from, '--from'),
    amountMinor: money.amountMinor,
    currency: money.currency,
    beneficiary: {
      name: required(values['to-name'], '--to-name'),
      country: required(values['to-country'], '--to-country').toUpperCase(),
      ...(iban === undefined ? {} : { iban }),
      ...(accountNumber === undefined ? {} : { accountNumber }),
    },
  };
  const problems = paymentRequestProblems(request);
  if (problems.length > 0) throw usageErrorFor(problems, PAYMENT_FLAGS);
  return request;
}

function describeState(state: PaymentState, uiUrl: string): string {
  const lines = [
    `payment ${state.paymentId}: ${state.status}${state.reason ? ` (${state.reason})` : ''}`,
    `  amount:   ${formatMoney(state.amountMinor, state.currency)} from ${state.fromAccountId}`,
  ];
  if (state.reasonDetail) lines.push(`  detail:   ${state.reasonDetail}`);
  if (state.aml) lines.push(`  AML:      ${state.aml.decision} (score ${state.aml.score})`);
  if (state.bank?.reference)
    lines.push(`  bank ref: ${state.bank.reference}${state.bank.outcome ? ` → ${state.bank.outcome}` : ''}`);
  const ledger = Object.entries(state.ledger).map(([k, v]) => `${k}=${v}`);
  if (ledger.length > 0) lines.push(`  ledger:   ${ledger.join(' ')}`);
  lines.push('  steps:');
  for (const step of state.steps)
    lines.push(`    ${step.at}  ${step.name}${step.detail ? ` — ${step.detail}` : ''}`);
  lines.push(`  UI:       ${uiUrl}`);
  return lines.join('\n');
}

function stateJson(
  state: PaymentState,
  workflowId: string,
  uiUrl: string,
  extra: Record<string, unknown> = {},
) {
  return { workflowId, ...extra, ...state, reason: state.reason ?? null, uiUrl };
}

async function pay(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    from: { type: 'string' },
    'to-name': { type: 'string' },
    'to-iban': { type: 'string' },
    'to-account': { type: 'string' },
    'to-country': { type: 'string' },
    amount: { type: 'string' },
    currency: { type: 'string' },
    id: { type: 'string' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const request = paymentRequestFromFlags(values);
  const print = output(values.json === true);
  const { runUiUrl, startPayment } = await payments();
  return withClient(config, async (client) => {
    const started = await startPayment(client, request);
    const uiUrl = runUiUrl(
      config.TEMPORAL_UI_URL,
      config.TEMPORAL_NAMESPACE,
      started.workflowId,
      started.runId,
    );
    if (!values.json) {
      console.log(
        `${started.existing ? 'payment already exists' : 'payment started'}: ${request.paymentId} ` +
          `(workflow ${started.workflowId})\n  UI: ${uiUrl}`,
      );
    }
    const extra = { runId: started.runId, existing: started.existing };
    if (values.wait) {
      const state = await started.handle.result();
      print(describeState(state, uiUrl), stateJson(state, started.workflowId, uiUrl, extra));
    } else {
      // What the server already knows; asking the workflow itself would wait for a worker to answer.
      const described = await started.handle.describe();
      const status =
        described.typedSearchAttributes.get(paymentSearchAttributes.status) ?? PaymentStatus.Received;
      print(`  status: ${status}`, {
        paymentId: request.paymentId,
        workflowId: started.workflowId,
        ...extra,
        status,
        reason: null,
        uiUrl,
      });
    }
    return 0;
  });
}

/** `status <id>`: a payment's, or a registration's when no payment has that id. */
async function status(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('status needs a payment or registration id');
  noPositionals(extra);
  if (id.startsWith('registration:')) {
    return registrationStatus(config, id.slice('registration:'.length), values.json === true);
  }
  const paymentId = id.startsWith('payment:') ? id.slice('payment:'.length) : id;
  const { WorkflowNotFoundError } = await temporalClient();
  const isPayment =
    id.startsWith('payment:') ||
    (await withClient(config, (client) =>
      client.workflow
        .getHandle(paymentWorkflowId(paymentId))
        .describe()
        .then(
          () => true,
          (err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return false;
            throw err;
          },
        ),
    ));
  if (!isPayment)
    return registrationStatus(config, id, values.json === true, 'no payment or registration with id');
  return onePayment(config, 'status', [paymentId, ...(values.json ? ['--json'] : [])]);
}

async function onePayment(
  config: Config,
  command: 'status' | 'cancel' | 'review',
  args: string[],
): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean', default: false },
    approve: { type: 'boolean', default: false },
    reject: { type: 'boolean', default: false },
    reviewer: { type: 'string' },
    note: { type: 'string' },
  });
  const [paymentId, ...extraArgs] = positionals;
  if (paymentId === undefined) throw new UsageError(`${command} needs a payment id`);
  if (extraArgs.length > 0) throw new UsageError(`unexpected argument "${extraArgs.join(' ')}"`);
  if (command !== 'review' && (values.approve || values.reject || values.reviewer || values.note)) {
    throw new UsageError(`--approve, --reject, --reviewer and --note belong to review, not ${command}`);
  }
  let decision: 'approve' | 'reject' | undefined;
  let reviewer = '';
  if (command === 'review') {
    if (values.approve === values.reject)
      throw new UsageError('review needs exactly one of --approve or --reject');
    decision = values.approve ? 'approve' : 'reject';
    reviewer = required(values.reviewer, '--reviewer');
  }
  const print = output(values.json === true);
  const workflowId = paymentWorkflowId(paymentId);
  const { WorkflowNotFoundError, WorkflowUpdateFailedError } = await temporalClient();
  const { cancelPayment, paymentState, reviewPayment, runUiUrl } = await payments();
  return withClient(config, async (client) => {
    try {
      const described = await client.workflow.getHandle(workflowId).describe();
      const uiUrl = runUiUrl(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, workflowId, described.runId);
      if (command !== 'status' && described.status.name !== 'RUNNING') {
        // A finished run takes no more messages; say why in the payment's own terms.
        const finished = await paymentState(client, paymentId);
        console.error(
          `${command} refused: payment ${paymentId} is ${finished.status}; it can no longer be changed`,
        );
        return 1;
      }
      if (command === 'cancel') {
        const result = await cancelPayment(client, paymentId);
        print(`payment ${paymentId}: ${result.status}\n  UI: ${uiUrl}`, {
          paymentId,
          workflowId,
          status: result.status,
          uiUrl,
        });
        return 0;
      }
      if (decision !== undefined) {
        await reviewPayment(client, paymentId, {
          decision,
          reviewer,
          ...(typeof values.note === 'string' ? { note: values.note } : {}),
        });
      }
      const state = await paymentState(client, paymentId);
      print(describeState(state, uiUrl), stateJson(state, workflowId, uiUrl));
      return 0;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        console.error(`no payment with id ${paymentId}`);
        return 1;
      }
      if (err instanceof WorkflowUpdateFailedError) {
        console.error(`${command} refused: ${err.cause?.message ?? err.message}`);
        return 1;
      }
      throw err;
    }
  });
}

async function list(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    status: { type: 'string' },
    limit: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const statuses: string[] = Object.values(PaymentStatus);
  if (values.status !== undefined && !statuses.includes(values.status)) {
    throw new UsageError(`--status must be one of ${statuses.join(', ')}`);
  }
  // Digits only: Number() would also take "1e3", "0x10" or " 5 ".
  const limit = /^\d{1,4}$/.test(values.limit) ? Number(values.limit) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be 1-1000');
  const { listPayments } = await payments();
  return withClient(config, async (client) => {
    const runs = await listPayments(client, {
      limit,
      uiBaseUrl: config.TEMPORAL_UI_URL,
      ...(values.status === undefined ? {} : { status: values.status }),
    });
    const text =
      runs.length === 0
        ? 'no payments found'
        : runs
            .map((r) =>
              [
                r.workflowId.padEnd(36),
                r.status.padEnd(20),
                (r.amountMinor !== undefined && r.currency
                  ? formatMoney(r.amountMinor, r.currency)
                  : ''
                ).padStart(16),
                (r.customerId ?? '').padEnd(8),
                r.uiUrl,
              ].join('  '),
            )
            .join('\n');
    output(values.json === true)(text, runs);
    return 0;
  });
}

async function accounts(config: Config, args: string[]): Promise<number> {
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
