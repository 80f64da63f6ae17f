/**
 * The invariants checked after every scenario, read from the ledger's tables, the customer store, the bank
 * simulator's records and what the SMTP sink and the local Twilio actually received. A workflow's own result is used
 * only to see that it ended, and is then compared against what those sources imply. A scenario whose load arrives
 * partly as command events is also checked against the broker's streams and Temporal's list of runs (never against
 * what the command consumer says it did).
 */
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { customerAccountId } from '../../../domain/customer-terms';
import type { SimulatedPayment } from '../../../services/bank';
import { Ledger } from '../../../services/ledger';
import type { Transfer } from '../../../services/ledger';
import { messageIdFor } from '../../../services/mail';
import { STREAMS } from '../../../services/bus';
import type { MessageBus, StreamName } from '../../../services/bus';
import type { CommandTraffic } from './commands';
import type { LoadPlan, PlannedPayment, Progress, RunEnd } from './load';
import { OperatorAction } from './load';
import type { OperatedPayment, OperatorTruth } from './operator';
import { sleep } from './random';
import type { FaultStack } from './stack';

/** The invariants, by name, as the report lists them. */
export const INVARIANTS = {
  finished: 'every accepted run reached a final status',
  outcome: 'each run ended as the bank and the plan imply',
  debitOnce: 'each payment debited at most once',
  settleOrReverseOnce: 'each payment reversed or settled at most once (never both)',
  ledgerMatchesOutcome: "each payment's ledger effects match its outcome",
  sumZero: 'all balances sum to zero per currency, every transfer balanced',
  balancesMatch: 'each balance equals what the outcomes imply',
  noNegative: 'no customer balance negative',
  oneCustomerOneAccount: 'each registration has exactly one customer and one account',
  messageAtMostOnce: 'each message purpose delivered at most once',
  messageDelivered: 'each message purpose delivered (channels up in the end)',
  bankOnce: 'each payment reached the bank at most once',
  forgedIgnored: 'forged webhooks changed nothing',
  oneRunPerCommand: 'every valid command published ended in exactly one run, which reached a final status',
  eventOnce: 'every final outcome and completed registration is exactly one event in BATON_EVENTS',
  deadLetterOnce:
    'every invalid command is exactly one dead letter naming its field, and started nothing, moved no money',
  bankAgreesWithLedger:
    'the bank and the ledger agree: settled at the bank ⇔ a settlement; failed, returned or never submitted ⇔ a reversal',
  clearingEmpty: 'clearing holds nothing at the end',
  resetMovedOnce:
    'nothing moved twice under reset: one debit, one submission, one settlement or reversal, one message',
  noPaymentLost: 'every driven payment ended: by its run, or by resolution once its run was terminated',
  watchdogFindsOrphans:
    'the watchdog reports every orphaned debit and nothing else, and none is open once they are resolved',
} as const;
/** One of the invariant keys. */
export type InvariantKey = keyof typeof INVARIANTS;
/** The invariants about command events and the streams, checked only where part of the load came by the bus. */
export const BUS_INVARIANTS: readonly InvariantKey[] = ['oneRunPerCommand', 'eventOnce', 'deadLetterOnce'];
/** The invariants about runs operators acted on, checked only where they did. */
export const OPERATOR_INVARIANTS: readonly InvariantKey[] = [
  'bankAgreesWithLedger',
  'clearingEmpty',
  'resetMovedOnce',
  'noPaymentLost',
  'watchdogFindsOrphans',
];

/** How an operator's action leaves a payment's run: ended by it (terminated, cancelled) or still its own. */
function endedByOperator(op: OperatedPayment | undefined): 'terminated' | 'cancelled' | undefined {
  if (op?.done !== true) return undefined;
  switch (op.action) {
    case OperatorAction.TerminateBeforeDebit:
    case OperatorAction.TerminateAtBank:
    case OperatorAction.TerminateAtSettlement:
      return 'terminated';
    // A cancel once the payment went to the bank is refused: the run ends as its own (see workflows/payment.ts).
    case OperatorAction.CancelAwaitingReview:
      return 'cancelled';
    default:
      return undefined;
  }
}

/** The run's end as the checks see it: the desk's, for a payment an operator acted on (a reset gives a new run). */
function endOf(
  payment: PlannedPayment,
  progress: Progress,
  op: OperatedPayment | undefined,
): RunEnd | undefined {
  if (op?.done !== true || op.end === undefined) return progress.ended.get(payment.workflowId);
  const at = progress.ended.get(payment.workflowId)?.at ?? Date.now();
  switch (op.end.kind) {
    case 'completed':
      return { at, status: op.end.status };
    case 'open':
      return undefined;
    case 'failed':
      return { at, failure: op.end.detail };
    default:
      return { at, failure: op.end.kind };
  }
}

/** A broken invariant: which one, about what, and whether it means a lost run or a duplicated effect. */
export interface Violation {
  invariant: InvariantKey;
  subject: string;
  detail: string;
  kind: 'lost' | 'duplicated' | 'other';
}

/** A forged webhook the harness sent, and the receiver's answer. */
export interface ForgedWebhook {
  paymentId: string;
  variant: string;
  httpStatus: number;
  /** Sent while the bank had not decided yet, so an accepted forgery would have decided the payment. */
  beforeBankDecided: boolean;
}

/** What the checks found, with counts for the report. */
export interface CheckResult {
  violations: Violation[];
  /** Accepted runs that did not end, or ended wrong, or whose effects are missing (distinct runs). */
  lost: number;
  /** Effects that happened more often than once (transfers, submissions, messages). */
  duplicated: number;
  /** Payment outcomes by what the ledger and the bank show. */
  outcomes: Record<string, number>;
  messages: {
    purposes: number;
    delivered: number;
    /** Extra copies of an email with the same Message-ID (a resend after a crash mid-send; receivers drop them). */
    emailCopies: number;
    /** SMS purposes the send log marks in doubt (a crash mid-call): delivered at most once, maybe not at all. */
    smsInDoubt: number;
    /** In-doubt SMS purposes that never reached the provider: the customer got nothing. */
    smsInDoubtMissing: number;
    /** Each in-doubt SMS purpose: whether it arrived, and what the send log says. */
    inDoubt: { purpose: string; delivered: boolean; attempts: number; detail: string | null }[];
    /** Purposes that went out by email after SMS failed. */
    fellBackToEmail: number;
  };
  forged: { sent: number; refused: number; beforeBankDecided: number };
}

const rowSchema = z.object({
  registration_id: z.string(),
  id: z.string(),
  accounts: z.union([z.string(), z.number()]).transform(Number),
});

/** The sources the checks read: the ledger's database, the bank's records and the two sinks. */
export type CheckSources = Pick<FaultStack, 'ledger' | 'sendLog' | 'bank' | 'mailSink' | 'smsSink'>;

/** Collects violations; `tally` counts the runs lost (each once) and the effects duplicated among them. */
function violationLog() {
  const violations: Violation[] = [];
  const lostRuns = new Set<string>();
  let duplicated = 0;
  const flag = (v: Violation) => {
    violations.push(v);
    if (v.kind === 'lost') lostRuns.add(v.subject);
    if (v.kind === 'duplicated') duplicated += 1;
  };
  return { violations, flag, tally: () => ({ lost: lostRuns.size, duplicated }) };
}

/** Reads every source and checks every invariant. */
export async function checkInvariants(
  stack: CheckSources,
  plan: LoadPlan,
  progress: Progress,
  forged: readonly ForgedWebhook[],
  operators?: OperatorTruth,
): Promise<CheckResult> {
  const { violations, flag, tally } = violationLog();
  /** Outcome messages nobody owes: a run terminated before it told the customer, with nothing left to resolve. */
  const unowedMessages = new Set<string>();

  const transfers = await stack.ledger.listTransfers();
  const byKey = new Map<string, Transfer[]>();
  for (const t of transfers) byKey.set(t.idempotencyKey, [...(byKey.get(t.idempotencyKey) ?? []), t]);
  const bankRecords = new Map<string, SimulatedPayment[]>();
  for (const record of stack.bank.payments()) {
    bankRecords.set(record.paymentId, [...(bankRecords.get(record.paymentId) ?? []), record]);
  }

  // --- Payments: end, outcome, ledger effects, bank submissions.
  const outcomes: Record<string, number> = {};
  const settledAmount = new Map<string, number>();
  let tightSettled = 0;
  for (const payment of plan.payments) {
    const subject = `payment ${payment.id} (${payment.kind})`;
    const accepted = progress.accepted.has(payment.workflowId);
    const debits = byKey.get(`${payment.id}:debit`) ?? [];
    const reversals = byKey.get(`${payment.id}:debit-reversal`) ?? [];
    const settlements = byKey.get(`${payment.id}:settlement`) ?? [];
    const bank = bankRecords.get(payment.id) ?? [];
    if (!accepted) {
      if (debits.length + bank.length > 0) {
        flag({ invariant: 'finished', subject, detail: 'never accepted, yet it has effects', kind: 'other' });
      }
      continue;
    }
    const op = operators?.operated.get(payment.id);
    const byOperator = endedByOperator(op);
    const end = endOf(payment, progress, op);
    if (end === undefined) {
      flag({
        invariant: 'finished',
        subject,
        detail: 'accepted but never reached a final status',
        kind: 'lost',
      });
    } else if (byOperator !== undefined) {
      // Ended by the operator: terminated or cancelled, as the harness did it, and nothing else.
      if (end.failure !== byOperator) {
        flag({
          invariant: 'finished',
          subject,
          detail: `${op?.action ?? '?'}: expected the run ${byOperator}, it ended ${end.failure ?? end.status ?? '?'}`,
          kind: 'lost',
        });
      }
    } else if (end.failure !== undefined) {
      flag({ invariant: 'finished', subject, detail: `the run failed: ${end.failure}`, kind: 'lost' });
    }

    if (bank.length > 1) {
      flag({
        invariant: 'bankOnce',
        subject,
        detail: `${bank.length} submissions at the bank`,
        kind: 'duplicated',
      });
    }
    if (debits.length > 1) {
      flag({ invariant: 'debitOnce', subject, detail: `${debits.length} debits`, kind: 'duplicated' });
    }
    if (reversals.length + settlements.length > 1) {
      flag({
        invariant: 'settleOrReverseOnce',
        subject,
        detail: `${reversals.length} reversal(s) and ${settlements.length} settlement(s)`,
        kind: 'duplicated',
      });
    }

    // What must have happened, from the plan and the bank's own record (never from the workflow).
    const bankOutcome = bank[0]?.outcome;
    let expected: 'settled' | 'failed' | 'rejected';
    let reason: string;
    const wantsBank = payment.kind !== 'aml_hit' && payment.kind !== 'insufficient';
    if (payment.kind === 'tight' && debits.length === 0) {
      expected = 'rejected';
      reason = 'insufficient_funds';
    } else if (!wantsBank) {
      expected = 'rejected';
      reason = payment.kind === 'aml_hit' ? 'aml_hit' : 'insufficient_funds';
    } else {
      const planned = payment.bank?.outcome ?? 'settled';
      if (bankOutcome !== undefined && bankOutcome !== planned) {
        flag({
          invariant: 'outcome',
          subject,
          detail: `bank decided ${bankOutcome}, planned ${planned}`,
          kind: 'other',
        });
      }
      expected = planned === 'settled' ? 'settled' : 'failed';
      reason = planned;
    }
    if (byOperator !== undefined) {
      // The run was ended by an operator: the money follows what the bank did, whoever moved it.
      if (bank.length > 0) {
        expected = bankOutcome === 'settled' ? 'settled' : 'failed';
        reason = bankOutcome ?? 'unknown';
      } else {
        expected = debits.length > 0 ? 'failed' : 'rejected';
        reason = 'never submitted';
      }
      if (byOperator === 'cancelled' && bank.length > 0) {
        flag({
          invariant: 'outcome',
          subject,
          detail: 'cancelled, yet submitted to the bank',
          kind: 'other',
        });
      }
      if (byOperator === 'terminated' && !operators?.resolutions.has(payment.id))
        unowedMessages.add(`${payment.workflowId}:outcome`);
    }
    const key =
      byOperator !== undefined
        ? `${byOperator}:${expected === 'settled' ? 'settled' : expected === 'failed' ? 'reversed' : 'nothing moved'}`
        : expected === 'rejected'
          ? `rejected:${reason}`
          : expected === 'failed'
            ? `failed:${reason}`
            : 'settled';
    outcomes[key] = (outcomes[key] ?? 0) + 1;

    if (byOperator === undefined && end?.status !== undefined && end.status !== expected) {
      flag({
        invariant: 'outcome',
        subject,
        detail: `ended ${end.status}, expected ${expected} (${reason})`,
        kind: 'lost',
      });
    }
    if (byOperator === undefined && wantsBank && expected !== 'rejected' && bank.length === 0) {
      flag({ invariant: 'outcome', subject, detail: 'never reached the bank', kind: 'lost' });
    }
    if (byOperator === undefined && expected === 'rejected' && bank.length > 0) {
      flag({
        invariant: 'outcome',
        subject,
        detail: 'rejected, yet submitted to the bank',
        kind: 'duplicated',
      });
    }

    const want = {
      debit: expected === 'rejected' ? 0 : 1,
      reversal: expected === 'failed' ? 1 : 0,
      settlement: expected === 'settled' ? 1 : 0,
    };
    const have = { debit: debits.length, reversal: reversals.length, settlement: settlements.length };
    for (const step of ['debit', 'reversal', 'settlement'] as const) {
      if (have[step] < want[step]) {
        flag({
          invariant: 'ledgerMatchesOutcome',
          subject,
          detail: `expected ${expected}: ${step} missing (debit ${have.debit}, reversal ${have.reversal}, settlement ${have.settlement})`,
          kind: 'lost',
        });
      } else if (have[step] > want[step]) {
        flag({
          invariant: 'ledgerMatchesOutcome',
          subject,
          detail: `expected ${expected}: unexpected ${step} (debit ${have.debit}, reversal ${have.reversal}, settlement ${have.settlement})`,
          kind: 'duplicated',
        });
      }
    }
    const debit = debits[0];
    const clearing = Ledger.systemAccountId('clearing', payment.request.currency);
    if (debit !== undefined) {
      const ok =
        debit.fromAccountId === payment.payer.accountId &&
        debit.toAccountId === clearing &&
        debit.amountMinor === payment.request.amountMinor;
      if (!ok)
        flag({
          invariant: 'ledgerMatchesOutcome',
          subject,
          detail: `debit ${debit.id} has the wrong accounts or amount`,
          kind: 'lost',
        });
    }
    const reversal = reversals[0];
    if (
      reversal !== undefined &&
      (reversal.reversalOf !== debit?.id || reversal.amountMinor !== payment.request.amountMinor)
    ) {
      flag({
        invariant: 'ledgerMatchesOutcome',
        subject,
        detail: `reversal ${reversal.id} does not undo the debit`,
        kind: 'lost',
      });
    }
    const settlement = settlements[0];
    if (
      settlement !== undefined &&
      (settlement.fromAccountId !== clearing ||
        settlement.toAccountId !== Ledger.systemAccountId('settlement', payment.request.currency) ||
        settlement.amountMinor !== payment.request.amountMinor)
    ) {
      flag({
        invariant: 'ledgerMatchesOutcome',
        subject,
        detail: `settlement ${settlement.id} has the wrong accounts or amount`,
        kind: 'lost',
      });
    }
    if (operators !== undefined) {
      checkOperatedPayment(flag, subject, op, { debits, reversals, settlements, bank });
    }
    if (expected === 'settled') {
      settledAmount.set(
        payment.payer.accountId,
        (settledAmount.get(payment.payer.accountId) ?? 0) + payment.request.amountMinor,
      );
      if (payment.kind === 'tight') tightSettled += 1;
    }
  }
  if (operators !== undefined) {
    await checkOrphans(stack, flag, operators);
  }
  const tightAccepted = plan.payments.filter(
    (p) => p.kind === 'tight' && progress.accepted.has(p.workflowId),
  ).length;
  if (
    tightAccepted === plan.payments.filter((p) => p.kind === 'tight').length &&
    tightSettled !== plan.tight.covers
  ) {
    flag({
      invariant: 'balancesMatch',
      subject: `account ${plan.tight.accountId}`,
      detail: `its balance covers ${plan.tight.covers} of the racing payments, ${tightSettled} settled`,
      kind: tightSettled > plan.tight.covers ? 'duplicated' : 'other',
    });
  }

  // --- Balances: sums, drift, negatives, and each account against the outcomes.
  for (const total of await stack.ledger.balanceTotals()) {
    if (total.sum !== 0) {
      flag({
        invariant: 'sumZero',
        subject: `currency ${total.currency}`,
        detail: `balances sum to ${total.sum}`,
        kind: 'other',
      });
    }
  }
  const imbalance = await stack.ledger.entriesImbalance();
  if (imbalance !== 0)
    flag({
      invariant: 'sumZero',
      subject: 'entries',
      detail: `${imbalance} unbalanced transfer(s)`,
      kind: 'other',
    });
  const drift = await stack.ledger.balanceDrift();
  if (drift !== 0)
    flag({
      invariant: 'sumZero',
      subject: 'accounts',
      detail: `${drift} balance(s) differ from their entries`,
      kind: 'other',
    });

  const accounts = await stack.ledger.listAccounts();
  const expectedBalance = new Map<string, number>();
  const funded = new Map<string, number>();
  const settledByCurrency = new Map<string, number>();
  for (const p of plan.payers) {
    expectedBalance.set(p.accountId, p.fundedMinor - (settledAmount.get(p.accountId) ?? 0));
    funded.set(p.currency, (funded.get(p.currency) ?? 0) + p.fundedMinor);
    settledByCurrency.set(
      p.currency,
      (settledByCurrency.get(p.currency) ?? 0) + (settledAmount.get(p.accountId) ?? 0),
    );
  }
  for (const [currency, sum] of funded) {
    expectedBalance.set(Ledger.systemAccountId('funding', currency), -sum);
    expectedBalance.set(Ledger.systemAccountId('clearing', currency), 0);
    expectedBalance.set(Ledger.systemAccountId('settlement', currency), settledByCurrency.get(currency) ?? 0);
  }
  for (const r of plan.registrations)
    expectedBalance.set(customerAccountId(r.customerId, r.request.currency), 0);
  for (const account of accounts) {
    if (account.kind === 'customer' && account.balance < 0) {
      flag({
        invariant: 'noNegative',
        subject: `account ${account.id}`,
        detail: `balance ${account.balance}`,
        kind: 'other',
      });
    }
    const want = expectedBalance.get(account.id) ?? 0;
    if (account.balance !== want) {
      flag({
        invariant: 'balancesMatch',
        subject: `account ${account.id}`,
        detail: `balance ${account.balance}, the outcomes imply ${want} (${account.balance < want ? 'money missing' : 'money extra'})`,
        kind: account.kind === 'customer' && account.balance < want ? 'duplicated' : 'other',
      });
    }
  }

  // --- Registrations: one customer, one account, a final status.
  const rows = (
    await stack.ledger.database.query(
      `SELECT c.registration_id, c.id, (SELECT count(*) FROM accounts a WHERE a.customer_id = c.id) AS accounts
       FROM customers c`,
    )
  ).map((row) => rowSchema.parse(row));
  const customersByRegistration = new Map<string, { id: string; accounts: number }[]>();
  for (const row of rows) {
    customersByRegistration.set(row.registration_id, [
      ...(customersByRegistration.get(row.registration_id) ?? []),
      { id: row.id, accounts: row.accounts },
    ]);
  }
  for (const registration of plan.registrations) {
    const subject = `registration ${registration.id} (${registration.route})`;
    if (!progress.accepted.has(registration.workflowId)) continue;
    const end = progress.ended.get(registration.workflowId);
    if (end === undefined) {
      flag({
        invariant: 'finished',
        subject,
        detail: 'accepted but never reached a final status',
        kind: 'lost',
      });
    } else if (end.failure !== undefined) {
      flag({ invariant: 'finished', subject, detail: `the run failed: ${end.failure}`, kind: 'lost' });
    } else if (end.status !== 'completed') {
      flag({
        invariant: 'outcome',
        subject,
        detail: `ended ${end.status ?? '?'}, expected completed`,
        kind: 'lost',
      });
    }
    const found = customersByRegistration.get(registration.id) ?? [];
    const customer = found[0];
    if (found.length !== 1 || customer === undefined) {
      flag({
        invariant: 'oneCustomerOneAccount',
        subject,
        detail: `${found.length} customers`,
        kind: found.length > 1 ? 'duplicated' : 'lost',
      });
    } else if (customer.accounts !== 1) {
      flag({
        invariant: 'oneCustomerOneAccount',
        subject,
        detail: `customer ${customer.id} has ${customer.accounts} accounts`,
        kind: customer.accounts > 1 ? 'duplicated' : 'lost',
      });
    } else if (customer.id !== registration.customerId) {
      flag({
        invariant: 'oneCustomerOneAccount',
        subject,
        detail: `customer id ${customer.id}`,
        kind: 'other',
      });
    }
  }

  // --- Messages: what the sinks hold, per purpose, against the channel each purpose was meant for.
  const messages = await checkMessages(stack, plan, progress, flag, unowedMessages);

  // --- Forged webhooks: each refused; what they claimed never reached the ledger (checked above from the bank).
  const refused = forged.filter((f) => f.httpStatus === 401).length;
  for (const f of forged) {
    if (f.httpStatus !== 401) {
      flag({
        invariant: 'forgedIgnored',
        subject: `payment ${f.paymentId}`,
        detail: `forged webhook (${f.variant}) answered ${f.httpStatus}, not 401`,
        kind: 'other',
      });
    }
  }

  return {
    violations,
    ...tally(),
    outcomes,
    messages,
    forged: {
      sent: forged.length,
      refused,
      beforeBankDecided: forged.filter((f) => f.beforeBankDecided).length,
    },
  };
}

/** The checks only a scenario with operators makes, for one payment, from the ledger and the bank's records. */
function checkOperatedPayment(
  flag: (v: Violation) => void,
  subject: string,
  op: OperatedPayment | undefined,
  {
    debits,
    reversals,
    settlements,
    bank,
  }: { debits: Transfer[]; reversals: Transfer[]; settlements: Transfer[]; bank: SimulatedPayment[] },
): void {
  const effects = `debit ${debits.length}, reversal ${reversals.length}, settlement ${settlements.length}, at the bank ${bank.length}`;
  const bankStatus = bank[0]?.status;
  if (debits.length > 0) {
    const settledAtBank = bankStatus === 'settled';
    const bankFinal = bankStatus !== undefined && bankStatus !== 'pending';
    const agrees =
      bank.length === 0
        ? reversals.length === 1 && settlements.length === 0
        : bankFinal &&
          (settledAtBank
            ? settlements.length === 1 && reversals.length === 0
            : reversals.length === 1 && settlements.length === 0);
    if (!agrees) {
      flag({
        invariant: 'bankAgreesWithLedger',
        subject,
        detail: `the bank says ${bankStatus ?? 'never submitted'}; ${effects}`,
        kind: settlements.length + reversals.length > 1 ? 'duplicated' : 'lost',
      });
    }
    if (settlements.length + reversals.length === 0) {
      flag({
        invariant: 'noPaymentLost',
        subject,
        detail: `its debit is still in clearing${op?.done === true ? ` (${op.action})` : ''}`,
        kind: 'lost',
      });
    }
  } else if (settlements.length + reversals.length + bank.length > 0) {
    flag({ invariant: 'bankAgreesWithLedger', subject, detail: `no debit, yet ${effects}`, kind: 'other' });
  }
  if (op?.done === true && op.end?.kind === 'open') {
    flag({
      invariant: 'noPaymentLost',
      subject,
      detail: `its run is still open after ${op.action}`,
      kind: 'lost',
    });
  }
  const reset =
    op?.done === true &&
    (op.action === OperatorAction.ResetToFirstTask ||
      op.action === OperatorAction.ResetAfterEnd ||
      op.action === OperatorAction.ResetAfterDebit);
  if (reset && (debits.length !== 1 || bank.length !== 1 || settlements.length + reversals.length !== 1)) {
    flag({
      invariant: 'resetMovedOnce',
      subject,
      detail: `${op.action} (runs ${op.resetRunIds.join(', ')}): ${effects}`,
      kind:
        debits.length > 1 || bank.length > 1 || settlements.length + reversals.length > 1
          ? 'duplicated'
          : 'lost',
    });
  }
}

/** Clearing empty, and the watchdog's orphans against the harness's own. */
async function checkOrphans(
  stack: CheckSources,
  flag: (v: Violation) => void,
  { orphans }: OperatorTruth,
): Promise<void> {
  for (const account of await stack.ledger.listAccounts()) {
    if (account.kind === 'clearing' && account.balance !== 0) {
      flag({
        invariant: 'clearingEmpty',
        subject: `account ${account.id}`,
        detail: `holds ${account.balance} at the end`,
        kind: 'lost',
      });
    }
  }
  if (orphans.found === null) return;
  const found = new Set(orphans.found);
  const expected = new Set(orphans.expected);
  for (const id of expected) {
    if (!found.has(id))
      flag({
        invariant: 'watchdogFindsOrphans',
        subject: `payment ${id}`,
        detail: 'an orphan the watchdog missed',
        kind: 'other',
      });
  }
  for (const id of found) {
    if (!expected.has(id))
      flag({
        invariant: 'watchdogFindsOrphans',
        subject: `payment ${id}`,
        detail: 'reported as orphaned, and it is not',
        kind: 'other',
      });
  }
  for (const finding of orphans.otherFindings) {
    flag({
      invariant: 'watchdogFindsOrphans',
      subject: finding,
      detail: 'reported once every run but the orphans had ended',
      kind: 'other',
    });
  }
  if ((orphans.openAfterResolution ?? 0) > 0) {
    flag({
      invariant: 'watchdogFindsOrphans',
      subject: 'watchdog',
      detail: `${orphans.openAfterResolution ?? 0} orphaned_debit finding(s) still open after every orphan was resolved`,
      kind: 'other',
    });
  }
}

interface Purpose {
  key: string;
  subject: string;
  /** The channel chosen; SMS may fall back to email. */
  channel: 'email' | 'sms';
  /** Where an SMS must go. */
  phone: string | null;
}

async function checkMessages(
  stack: CheckSources,
  plan: LoadPlan,
  progress: Progress,
  flag: (v: Violation) => void,
  unowed: ReadonlySet<string> = new Set(),
): Promise<CheckResult['messages']> {
  const purposes = new Map<string, Purpose>();
  for (const p of plan.payments) {
    if (!progress.accepted.has(p.workflowId)) continue;
    const key = `${p.workflowId}:outcome`;
    purposes.set(key, {
      key,
      subject: `payment ${p.id} outcome`,
      channel: p.payer.channel,
      phone: p.payer.phone,
    });
  }
  const byCustomer = new Map<string, string>();
  for (const r of plan.registrations) {
    if (!progress.accepted.has(r.workflowId)) continue;
    const key = `${r.workflowId}:welcome`;
    byCustomer.set(r.customerId, key);
    purposes.set(key, {
      key,
      subject: `registration ${r.id} welcome`,
      channel: r.request.channel,
      phone: r.request.phone ?? null,
    });
  }

  const emails = new Map<string, number>();
  const byMessageId = new Map<string, string>();
  for (const key of purposes.keys()) byMessageId.set(messageIdFor(key), key);
  for (const mail of stack.mailSink.messages()) {
    const key = mail.messageId === undefined ? undefined : byMessageId.get(mail.messageId);
    if (key === undefined) {
      flag({
        invariant: 'messageAtMostOnce',
        subject: `email ${mail.messageId ?? '(none)'}`,
        detail: 'belongs to no purpose',
        kind: 'other',
      });
      continue;
    }
    emails.set(key, (emails.get(key) ?? 0) + 1);
  }
  const sms = new Map<string, number>();
  for (const message of stack.smsSink.messages()) {
    const ref = /Ref ([A-Za-z0-9_.-]+)\./.exec(message.body)?.[1];
    const customer = /Customer number (C-[0-9A-F]+)\./.exec(message.body)?.[1];
    const key =
      ref !== undefined
        ? `payment:${ref}:outcome`
        : customer !== undefined
          ? byCustomer.get(customer)
          : undefined;
    const purpose = key === undefined ? undefined : purposes.get(key);
    if (key === undefined || purpose === undefined) {
      flag({
        invariant: 'messageAtMostOnce',
        subject: `sms ${message.sid}`,
        detail: 'belongs to no purpose',
        kind: 'other',
      });
      continue;
    }
    if (message.to !== purpose.phone) {
      flag({
        invariant: 'messageAtMostOnce',
        subject: purpose.subject,
        detail: 'SMS went to another number',
        kind: 'other',
      });
    }
    sms.set(key, (sms.get(key) ?? 0) + 1);
  }

  const sendLog = new Map((await stack.sendLog.list()).map((record) => [record.key, record]));
  let delivered = 0;
  let emailCopies = 0;
  let smsInDoubt = 0;
  let smsInDoubtMissing = 0;
  let fellBack = 0;
  const inDoubtList: CheckResult['messages']['inDoubt'] = [];
  for (const purpose of purposes.values()) {
    const emailCount = emails.get(purpose.key) ?? 0;
    const smsCount = sms.get(purpose.key) ?? 0;
    // Copies of one email share its Message-ID: one delivery, however many copies the sink kept.
    const deliveries = (emailCount > 0 ? 1 : 0) + smsCount;
    emailCopies += Math.max(0, emailCount - 1);
    if (purpose.channel === 'sms' && smsCount === 0 && emailCount > 0) fellBack += 1;
    const smsRecord = sendLog.get(`${purpose.key}:sms`);
    const inDoubt = smsRecord?.state === 'in_doubt';
    if (inDoubt) {
      smsInDoubt += 1;
      inDoubtList.push({
        purpose: purpose.subject,
        delivered: deliveries > 0,
        attempts: smsRecord.attempts,
        detail: smsRecord.detail,
      });
    }
    if (deliveries > 1) {
      flag({
        invariant: 'messageAtMostOnce',
        subject: purpose.subject,
        detail: `delivered ${deliveries} times (${smsCount} SMS, ${emailCount} email copies)`,
        kind: 'duplicated',
      });
    } else if (deliveries === 0 && inDoubt) {
      // The documented trade-off: an SMS whose call broke off is never resent, so it may never arrive.
      smsInDoubtMissing += 1;
    } else if (deliveries === 0 && unowed.has(purpose.key)) {
      // Its run was terminated before it told the customer, and no resolution was owed: at most once is all.
    } else if (deliveries === 0) {
      const state = sendLog.get(`${purpose.key}:${purpose.channel}`)?.state ?? 'no send recorded';
      flag({
        invariant: 'messageDelivered',
        subject: purpose.subject,
        detail: `never delivered (send log: ${state})`,
        kind: 'other',
      });
    }
    delivered += Math.min(deliveries, 1);
  }
  return {
    purposes: purposes.size,
    delivered,
    emailCopies,
    smsInDoubt,
    smsInDoubtMissing,
    fellBackToEmail: fellBack,
    inDoubt: inDoubtList,
  };
}

/** What the bus checks read: the broker's streams, Temporal's runs, and the ledger, bank and customers for effects. */
export interface BusCheckSources extends Pick<FaultStack, 'ledger' | 'bank'> {
  bus: Pick<MessageBus, 'read'>;
  /** Every run Temporal lists (see {@link listRuns}). */
  listRuns: () => Promise<ListedRun[]>;
}

/** A run as Temporal's list shows it. */
export interface ListedRun {
  workflowId: string;
  /** `RUNNING`, `COMPLETED`, `FAILED`... */
  status: string;
}

/** Every run in the namespace, from Temporal's visibility (the scenario's dev server holds only its own). */
export async function listRuns(client: Client): Promise<ListedRun[]> {
  const runs: ListedRun[] = [];
  for await (const run of client.workflow.list())
    runs.push({ workflowId: run.workflowId, status: run.status.name });
  return runs;
}

/** What the bus checks found, with counts for the report. */
export interface BusCheckResult {
  violations: Violation[];
  /** Runs lost to the bus: a command with no run, an outcome with no event, a valid command dead-lettered. */
  lost: number;
  duplicated: number;
  counts: {
    /** Valid commands published, first sends and resends under a new event id. */
    commandsPublished: number;
    /** Runs asked for by command. */
    runsByCommand: number;
    resentSameId: number;
    resentNewId: number;
    /** Publishes the broker answered as duplicates (same-id resends and retries after a lost answer). */
    droppedByStream: number;
    invalidCommands: number;
    /** Messages in BATON_DEAD_LETTERS. */
    deadLetters: number;
    /** Messages in BATON_EVENTS, and how many the ended runs call for. */
    events: number;
    eventsExpected: number;
    /** Runs in Temporal, counted by workflow id. */
    runsInTemporal: number;
  };
}

/** A message of a stream as JSON; a body that is not JSON is an empty object. */
async function readStream(
  bus: BusCheckSources['bus'],
  stream: StreamName,
): Promise<{ sequence: number; event: Record<string, unknown> }[]> {
  const found: { sequence: number; event: Record<string, unknown> }[] = [];
  for await (const message of bus.read(stream)) {
    let event: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(Buffer.from(message.body).toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) event = parsed as Record<string, unknown>;
    } catch {
      // Left empty: it then matches no expected event and is reported as unexpected.
    }
    found.push({ sequence: message.sequence, event });
  }
  return found;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The statuses of each workflow id's runs. */
async function runsById(sources: BusCheckSources): Promise<Map<string, string[]>> {
  const runs = new Map<string, string[]>();
  for (const run of await sources.listRuns()) {
    runs.set(run.workflowId, [...(runs.get(run.workflowId) ?? []), run.status]);
  }
  return runs;
}

/** How long the checks wait for Temporal's list of runs to show every ended run closed. */
const VISIBILITY_WAIT_MS = 60_000;

/** Checks what the commands of a scenario left in the broker and in Temporal, and that no event is lost or doubled. */
export async function checkBusInvariants(
  sources: BusCheckSources,
  plan: LoadPlan,
  progress: Progress,
  commands: Pick<CommandTraffic, 'sent' | 'invalid' | 'counts'>,
): Promise<BusCheckResult> {
  const { violations, flag, tally } = violationLog();
  const items = [...plan.payments, ...plan.registrations];
  const byCommand = items.filter((item) => item.via === 'bus');

  // --- Runs, from Temporal's list: the list is written behind the runs, so it is read until it has caught up.
  const deadline = Date.now() + VISIBILITY_WAIT_MS;
  let runs = await runsById(sources);
  const caughtUp = () =>
    byCommand.every((item) => {
      const statuses = runs.get(item.workflowId) ?? [];
      return !progress.ended.has(item.workflowId) || (statuses.length > 0 && !statuses.includes('RUNNING'));
    });
  while (!caughtUp() && Date.now() < deadline) {
    await sleep(1_000);
    runs = await runsById(sources);
  }
  for (const item of byCommand) {
    const subject = `${item.type} ${item.id} (by command)`;
    const statuses = runs.get(item.workflowId) ?? [];
    if (statuses.length === 0) {
      flag({ invariant: 'oneRunPerCommand', subject, detail: 'its command started no run', kind: 'lost' });
    } else if (statuses.length > 1) {
      flag({
        invariant: 'oneRunPerCommand',
        subject,
        detail: `${statuses.length} runs (${statuses.join(', ')})`,
        kind: 'duplicated',
      });
    } else if (statuses[0] !== 'COMPLETED') {
      flag({
        invariant: 'oneRunPerCommand',
        subject,
        detail: `its run is ${statuses[0] ?? '?'}, not completed`,
        kind: 'lost',
      });
    }
  }

  // --- Domain events: one per ended run, under `<workflowId>:<event>`, and nothing else.
  const events = await readStream(sources.bus, STREAMS.events);
  const eventCount = new Map<string, number>();
  for (const { event } of events) {
    const id = str(event.id) ?? '(no id)';
    eventCount.set(id, (eventCount.get(id) ?? 0) + 1);
  }
  const expected = new Map<string, string>();
  for (const item of items) {
    const end = progress.ended.get(item.workflowId);
    if (end?.status === undefined) continue;
    const event =
      item.type === 'payment'
        ? `payment.${end.status}`
        : end.status === 'completed'
          ? 'registration.completed'
          : '';
    if (event !== '') expected.set(`${item.workflowId}:${event}`, `${item.type} ${item.id} (${item.via})`);
  }
  for (const [id, subject] of expected) {
    const n = eventCount.get(id) ?? 0;
    if (n === 0) flag({ invariant: 'eventOnce', subject, detail: `no event ${id}`, kind: 'lost' });
    else if (n > 1)
      flag({ invariant: 'eventOnce', subject, detail: `event ${id} ${n} times`, kind: 'duplicated' });
  }
  for (const [id, n] of eventCount) {
    if (!expected.has(id)) {
      flag({
        invariant: 'eventOnce',
        subject: `event ${id}`,
        detail: `${n} event(s) no ended run calls for`,
        kind: 'duplicated',
      });
    }
  }

  // --- Dead letters: one per invalid command, naming its field; none for a valid command.
  const deadLetters = await readStream(sources.bus, STREAMS.deadLetters);
  const lettersFor = new Map<string, { reason: string }[]>();
  for (const { sequence, event } of deadLetters) {
    const data = event.data;
    const record = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
    const commandId = str(record.commandId) ?? `(dead letter #${sequence} names no command)`;
    lettersFor.set(commandId, [...(lettersFor.get(commandId) ?? []), { reason: str(record.reason) ?? '' }]);
  }
  const transfers = new Set((await sources.ledger.listTransfers()).map((t) => t.idempotencyKey));
  const atBank = new Set(sources.bank.payments().map((p) => p.paymentId));
  const customers = new Set(
    (await sources.ledger.database.query('SELECT registration_id FROM customers')).map((row) =>
      String(row.registration_id),
    ),
  );
  const invalidIds = new Set<string>();
  for (const command of commands.invalid) {
    if (!command.published) continue;
    invalidIds.add(command.eventId);
    const subject = `invalid command ${command.eventId} (${command.what})`;
    const letters = lettersFor.get(command.eventId) ?? [];
    if (letters.length !== 1) {
      flag({
        invariant: 'deadLetterOnce',
        subject,
        detail: `${letters.length} dead letters`,
        kind: letters.length > 1 ? 'duplicated' : 'other',
      });
    }
    for (const letter of letters) {
      if (!letter.reason.includes(command.field)) {
        flag({
          invariant: 'deadLetterOnce',
          subject,
          detail: `the reason "${letter.reason}" does not name ${command.field}`,
          kind: 'other',
        });
      }
    }
    const effects = [
      ...(runs.has(command.workflowId) ? ['a run'] : []),
      ...(transfers.has(`${command.businessId}:debit`) ? ['a debit'] : []),
      ...(atBank.has(command.businessId) ? ['a bank submission'] : []),
      ...(customers.has(command.businessId) ? ['a customer'] : []),
    ];
    if (effects.length > 0) {
      flag({
        invariant: 'deadLetterOnce',
        subject,
        detail: `it started ${effects.join(', ')}`,
        kind: 'duplicated',
      });
    }
  }
  const validIds = new Map(commands.sent.map((c) => [c.eventId, c.workflowId]));
  for (const [commandId, letters] of lettersFor) {
    if (invalidIds.has(commandId)) continue;
    const workflowId = validIds.get(commandId);
    flag({
      invariant: 'deadLetterOnce',
      subject: workflowId === undefined ? `dead letter for ${commandId}` : `valid command ${commandId}`,
      detail: `dead-lettered ${letters.length} time(s): ${letters[0]?.reason ?? ''}`,
      kind: workflowId === undefined ? 'other' : 'lost',
    });
  }

  return {
    violations,
    ...tally(),
    counts: {
      commandsPublished: commands.sent.length,
      runsByCommand: byCommand.length,
      resentSameId: commands.counts.sameIdResent,
      resentNewId: commands.counts.newIdResent,
      droppedByStream: commands.counts.deduplicated,
      invalidCommands: invalidIds.size,
      deadLetters: deadLetters.length,
      events: events.length,
      eventsExpected: expected.size,
      runsInTemporal: runs.size,
    },
  };
}
