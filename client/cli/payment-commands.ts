/** The CLI's payment commands: `pay`, `status` of a payment, `cancel`, `review` and `list`. */
import type { Config } from '../../config/config';
import { correlationIdProblem } from '../../domain/correlation';
import { AmountFormatError, formatMoney, parseAmount } from '../../domain/money';
import { paymentRequestProblems } from '../../workflows/payment-checks';
import { paymentSearchAttributes, PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { PaymentRequest, PaymentState } from '../../workflows/payment-contract';
import type { Resolution } from '../../workflows/payment-resolution-contract';
import { describeState, startAndReport, stateJson, withRun } from './runs';
import type { ProcessView } from './runs';
import {
  correlationIdFlag,
  noPositionals,
  oneId,
  output,
  parse,
  randomSuffix,
  required,
  UsageError,
  usageErrorFor,
  withClient,
} from './support';

// The client library loads the Temporal client; it is loaded once the input has passed, so a refused command
// answers without paying for it.
const payments = () => import('../payments');

/** How the CLI speaks of payments. */
export const PAYMENT_VIEW: ProcessView<PaymentState> = {
  noun: 'payment',
  idField: 'paymentId',
  workflowId: paymentWorkflowId,
  statusAttribute: paymentSearchAttributes.status,
  initialStatus: PaymentStatus.Received,
  nullFields: ['reason'],
  headline(state) {
    const lines = [
      `payment ${state.paymentId}: ${state.status}${state.reason ? ` (${state.reason})` : ''}`,
      `  amount:   ${formatMoney(state.amountMinor, state.currency)} from ${state.fromAccountId}`,
    ];
    if (state.reasonDetail) lines.push(`  detail:   ${state.reasonDetail}`);
    if (state.aml) lines.push(`  AML:      ${state.aml.decision} (score ${state.aml.score})`);
    if (state.bank?.reference)
      lines.push(
        `  bank ref: ${state.bank.reference}${state.bank.outcome ? ` → ${state.bank.outcome}` : ''}`,
      );
    if (state.cancellationRefused)
      lines.push(
        `  cancel:   refused at ${state.cancellationRefused.at} (${state.cancellationRefused.reason})`,
      );
    const ledger = Object.entries(state.ledger).map(([k, v]) => `${k}=${v}`);
    if (ledger.length > 0) lines.push(`  ledger:   ${ledger.join(' ')}`);
    return lines;
  },
  async state(client, id) {
    return (await payments()).paymentState(client, id);
  },
};

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
export function paymentRequestFromFlags(
  values: Record<string, string | boolean | undefined>,
): PaymentRequest {
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

/** The flags that describe a payment, for `pay` and `publish pay`. */
export const PAYMENT_REQUEST_OPTIONS = {
  from: { type: 'string' },
  'to-name': { type: 'string' },
  'to-iban': { type: 'string' },
  'to-account': { type: 'string' },
  'to-country': { type: 'string' },
  amount: { type: 'string' },
  currency: { type: 'string' },
  id: { type: 'string' },
  'correlation-id': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** `pay`: starts a payment (once per payment id); `--wait` waits for its end. */
export async function pay(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...PAYMENT_REQUEST_OPTIONS,
    wait: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const request = paymentRequestFromFlags(values);
  const correlationId = correlationIdFlag(values['correlation-id']);
  const { startPayment } = await payments();
  return startAndReport(
    config,
    PAYMENT_VIEW,
    request.paymentId,
    (client) => startPayment(client, request, undefined, correlationId),
    { wait: values.wait === true, json: values.json === true, correlationId },
  );
}

/** A resolved payment's run stopped short of its end: the headline says how the payment did end, the last line who ended it. */
function withResolution(text: string, paymentId: string, runStatus: string, resolution: Resolution): string {
  const [, ...rest] = text.split('\n');
  return [
    `payment ${paymentId}: ${resolution.outcome} by resolution (its run stopped at ${runStatus})`,
    ...rest,
    `  resolution: ${resolution.outcome} by ${resolution.reviewer} at ${resolution.resolvedAt} (bank: ${resolution.bankStatus})`,
  ].join('\n');
}

/** `status` of a payment, with its resolution when an operator ended it by `resolve`. */
export function paymentStatus(config: Config, paymentId: string, json: boolean): Promise<number> {
  return withRun(config, PAYMENT_VIEW, paymentId, 'status', async ({ client, workflowId, uiUrl }) => {
    const { resolutionOf } = await import('../resolutions');
    const [state, resolution] = await Promise.all([
      (await payments()).paymentState(client, paymentId),
      resolutionOf(client, paymentId),
    ]);
    const text = describeState(PAYMENT_VIEW, state, uiUrl);
    output(json)(
      resolution === undefined ? text : withResolution(text, paymentId, state.status, resolution),
      stateJson(PAYMENT_VIEW, state, workflowId, uiUrl, resolution === undefined ? {} : { resolution }),
    );
    return 0;
  });
}

/** `cancel <paymentId>`: accepted until the payment is submitted to the bank. */
export async function cancel(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  const paymentId = oneId(positionals, 'cancel needs a payment id');
  const { cancelPayment } = await payments();
  return withRun(config, PAYMENT_VIEW, paymentId, 'cancel', async ({ client, workflowId, uiUrl }) => {
    const result = await cancelPayment(client, paymentId);
    output(values.json === true)(`payment ${paymentId}: ${result.status}\n  UI: ${uiUrl}`, {
      paymentId,
      workflowId,
      status: result.status,
      uiUrl,
    });
    return 0;
  });
}

/** `review <paymentId> (--approve | --reject) --reviewer <name>`: a compliance officer's decision. */
export async function review(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean', default: false },
    approve: { type: 'boolean', default: false },
    reject: { type: 'boolean', default: false },
    reviewer: { type: 'string' },
    note: { type: 'string' },
  });
  const paymentId = oneId(positionals, 'review needs a payment id');
  if (values.approve === values.reject)
    throw new UsageError('review needs exactly one of --approve or --reject');
  const decision = values.approve ? 'approve' : 'reject';
  const reviewer = required(values.reviewer, '--reviewer');
  const { paymentState, reviewPayment } = await payments();
  return withRun(config, PAYMENT_VIEW, paymentId, 'review', async ({ client, workflowId, uiUrl }) => {
    await reviewPayment(client, paymentId, {
      decision,
      reviewer,
      ...(typeof values.note === 'string' ? { note: values.note } : {}),
    });
    const state = await paymentState(client, paymentId);
    output(values.json === true)(
      describeState(PAYMENT_VIEW, state, uiUrl),
      stateJson(PAYMENT_VIEW, state, workflowId, uiUrl),
    );
    return 0;
  });
}

/** `list --correlation <id>`: every run of one business process, whatever its type. */
async function listProcess(
  config: Config,
  correlationId: string,
  values: { status?: string; limit: string; json?: boolean },
): Promise<number> {
  const problem = correlationIdProblem(correlationId);
  if (problem !== undefined) throw new UsageError(`--correlation ${problem}`);
  if (values.status !== undefined) throw new UsageError('--status and --correlation do not go together');
  const limit = limitFlag(values.limit);
  const { listByCorrelation } = await import('../processes');
  return withClient(config, async (client) => {
    const runs = await listByCorrelation(client, correlationId, { limit, uiBaseUrl: config.TEMPORAL_UI_URL });
    const text =
      runs.length === 0
        ? `no runs carry correlation id ${correlationId}`
        : runs
            .map((r) =>
              [r.workflowId.padEnd(36), r.workflowType.padEnd(22), r.status.padEnd(20), r.uiUrl].join('  '),
            )
            .join('\n');
    output(values.json === true)(text, runs);
    return 0;
  });
}

/** The `--limit` flag: 1-1000, digits only (Number() would also take "1e3", "0x10" or " 5 "). */
function limitFlag(value: string): number {
  const limit = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be 1-1000');
  return limit;
}

/** `list [--status <status>] [--limit <n>]`: payments, newest first, found by their search attributes. */
export async function list(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    status: { type: 'string' },
    correlation: { type: 'string' },
    limit: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  if (values.correlation !== undefined) return listProcess(config, values.correlation, values);
  const statuses: string[] = Object.values(PaymentStatus);
  if (values.status !== undefined && !statuses.includes(values.status)) {
    throw new UsageError(`--status must be one of ${statuses.join(', ')}`);
  }
  const limit = limitFlag(values.limit);
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
