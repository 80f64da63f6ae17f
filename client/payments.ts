/**
 * Client-side operations on payments, shared by the CLI and the demo: start (idempotently), ask, cancel, review,
 * list.
 */
import type { Client } from '@temporalio/client';
import { formatMoney } from '../domain/money';
import type { SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import {
  cancelUpdate,
  paymentSearchAttributes,
  PaymentStatus,
  paymentStatusQuery,
  paymentWorkflowId,
  reviewUpdate,
} from '../workflows/payment-contract';
import { TASK_QUEUE } from '../workflows/task-queue';
import type {
  CancelResult,
  PaymentRequest,
  PaymentState,
  ReviewDecision,
} from '../workflows/payment-contract';
import { startOnce } from './start-once';
import { runUiUrl } from './ui-links';
import type { StartedRun } from './start-once';

/** A payment run as the client found or started it. */
export type StartedPayment = StartedRun<PaymentRequest, PaymentState>;

/**
 * Starts the payment workflow under its business key. A second start of the same payment id returns the run that
 * exists, running or finished: a payment id is paid at most once.
 */
export function startPayment(
  client: Client,
  request: PaymentRequest,
  taskQueue: string = TASK_QUEUE,
  correlationId?: string,
): Promise<StartedPayment> {
  return startOnce<PaymentRequest, PaymentState>(client, {
    workflowType: 'paymentWorkflow',
    workflowId: paymentWorkflowId(request.paymentId),
    taskQueue,
    input: request,
    ...(correlationId === undefined ? {} : { correlationId }),
    summary: `Pay ${formatMoney(request.amountMinor, request.currency)} from ${request.fromAccountId} to a beneficiary in ${request.beneficiary.country}`,
    details: [
      `**Payment** \`${request.paymentId}\``,
      '',
      `- amount: ${formatMoney(request.amountMinor, request.currency)}`,
      `- from account: ${request.fromAccountId}`,
      `- beneficiary: in ${request.beneficiary.country}, ${request.beneficiary.iban ? 'by IBAN' : 'by account number'} (details in the encrypted input)`,
      `- where it stands: the \`status\` query, or the Current Details panel`,
    ].join('\n'),
    searchAttributes: [
      { key: paymentSearchAttributes.status, value: PaymentStatus.Received },
      { key: paymentSearchAttributes.amount, value: request.amountMinor },
      { key: paymentSearchAttributes.currency, value: request.currency },
    ],
  });
}

/** Where a payment stands, from its workflow; undefined when there is no such payment. */
export async function paymentState(client: Client, paymentId: string): Promise<PaymentState> {
  return client.workflow.getHandle(paymentWorkflowId(paymentId)).query(paymentStatusQuery);
}

/** Asks to cancel a payment; refused once it reached the bank. */
export function cancelPayment(client: Client, paymentId: string): Promise<CancelResult> {
  return client.workflow.getHandle(paymentWorkflowId(paymentId)).executeUpdate(cancelUpdate);
}

/** Records a compliance officer's decision on a payment awaiting AML review. */
export function reviewPayment(
  client: Client,
  paymentId: string,
  decision: ReviewDecision,
): Promise<PaymentState> {
  return client.workflow
    .getHandle(paymentWorkflowId(paymentId))
    .executeUpdate(reviewUpdate, { args: [decision] });
}

/** A payment run as the visibility store lists it. */
export interface ListedPayment {
  workflowId: string;
  runId: string;
  status: string;
  customerId?: string;
  amountMinor?: number;
  currency?: string;
  startTime: string;
  uiUrl: string;
}

function attribute<T extends SearchAttributeType>(
  attributes: TypedSearchAttributes,
  key: { name: string; type: T },
): unknown {
  return attributes.get(key);
}

/** Lists payment runs, newest first, optionally only those in one status. */
export async function listPayments(
  client: Client,
  options: { status?: string; limit: number; uiBaseUrl: string },
): Promise<ListedPayment[]> {
  const clauses = [`WorkflowType = 'paymentWorkflow'`];
  if (options.status !== undefined) clauses.push(`PaymentStatus = '${options.status}'`);
  const listed: ListedPayment[] = [];
  for await (const run of client.workflow.list({ query: clauses.join(' AND '), pageSize: options.limit })) {
    const attrs = run.typedSearchAttributes;
    const status = attribute(attrs, paymentSearchAttributes.status);
    const customerId = attribute(attrs, paymentSearchAttributes.customerId);
    const amount = attribute(attrs, paymentSearchAttributes.amount);
    const currency = attribute(attrs, paymentSearchAttributes.currency);
    listed.push({
      workflowId: run.workflowId,
      runId: run.runId,
      status: typeof status === 'string' ? status : 'unknown',
      ...(typeof customerId === 'string' ? { customerId } : {}),
      ...(typeof amount === 'number' ? { amountMinor: amount } : {}),
      ...(typeof currency === 'string' ? { currency } : {}),
      startTime: run.startTime.toISOString(),
      uiUrl: runUiUrl(options.uiBaseUrl, client.options.namespace, run.workflowId, run.runId),
    });
    if (listed.length >= options.limit) break;
  }
  return listed;
}
