/**
 * One fault scenario from start to verdict: a fresh stack, the payers seeded, the load driven while the scenario's
 * injectors strike, every fault healed, the command backlog drained, a short settling time for late effects, then
 * the invariants and the report.
 */
import path from 'node:path';
import { uniqueSchema } from '../../support/postgres';
import { CommandTraffic } from './commands';
import type { ResendMix } from './commands';
import type { BankFaultMix, FaultContext, FaultKind } from './faults';
import { FaultLog, forgeWebhooks, planBankFaults } from './faults';
import { replayEveryRun } from './determinism';
import {
  BUS_INVARIANTS,
  checkBusInvariants,
  checkInvariants,
  listRuns,
  OPERATOR_INVARIANTS,
} from './invariants';
import type { BusCheckResult } from './invariants';
import { driveLoad, planLoad, Progress, seedPayers } from './load';
import type { LoadShape } from './load';
import { endOrphans, OperatorDesk, planOperatorActions } from './operator';
import type { OperatorMix, OperatorReport, OperatorTruth } from './operator';
import { PROJECT_ROOT } from './processes';
import { Rng, sleep } from './random';
import type { ScenarioReport } from './report';
import { invariantSummary } from './report';
import { DEV_STACK, startFaultStack } from './stack';
import type { FaultStack, StackShape } from './stack';
import { TakeoverCount } from './takeovers';

/** A scenario: its name, its per-payment bank faults, and the injectors that run beside the load. */
export interface ScenarioSpec {
  name: string;
  /** Prefix of every id it creates. */
  tag: string;
  /** What it shows, as the test's name. */
  title: string;
  bankFaults?: BankFaultMix;
  /** The load's size, when not the default one (a bus scenario sets it under `bus`). */
  load?: LoadShape;
  /**
   * Operators terminate, reset and cancel this many payments' runs under load, then end the orphans with `resolve`
   * after asking the watchdog for them (see operator.ts).
   */
  operators?: OperatorMix;
  /** Settings of the scenario's workers beyond the stack's own. */
  workerEnv?: NodeJS.ProcessEnv;
  /** Which Temporal it runs on and how many workers (default {@link DEV_STACK}: the dev server, one worker). */
  stack?: StackShape;
  /**
   * Most runs in progress at once (default: every run started at once), so runs keep starting and ending all
   * through the load, before, during and after each fault, and the unfaulted ones give the runs' usual time.
   */
  maxInFlight?: number;
  /** Runs that must have moved from one worker to another, or the worker kills proved no takeover. */
  minimumTakeovers?: number;
  /** Part of the load arrives as command events, through the command consumer running as its own process. */
  bus?: {
    /** The load's size and the share of it sent by command. */
    load: LoadShape;
    /** Most runs in progress at once, so commands keep arriving while the faults strike. */
    maxInFlight: number;
    resends: ResendMix;
  };
  inject: (ctx: FaultContext) => Promise<void>[];
  /** Faults the scenario must have injected at least this often, or it proved less than it claims. */
  minimumFaults?: Partial<Record<FaultKind, number>>;
}

/** Longest a scenario waits for its runs to end once the load is started; only a broken stack comes near it. */
const RUN_DEADLINE_MS = 12 * 60_000;
/** Quiet time after the last run ended, so a late effect (a zombie activity, a late webhook) is still seen. */
const SETTLE_MS = 3_000;
/**
 * Longest the harness waits for the consumer to handle every command left on the bus: a command whose
 * acknowledgement a kill dropped comes back only after the bus's 30-second redelivery timer.
 */
const DRAIN_DEADLINE_MS = 3 * 60_000;

/** Waits until the command consumer has every command acknowledged (resends and redeliveries included). */
async function drainCommands(stack: FaultStack): Promise<void> {
  const deadline = Date.now() + DRAIN_DEADLINE_MS;
  for (;;) {
    const backlog = await stack.bus.commandBacklog().catch(() => undefined);
    if (backlog !== undefined && backlog.pending === 0 && backlog.unacknowledged === 0) return;
    if (Date.now() > deadline) {
      stack.log.write(
        `[harness] commands still waiting after the drain deadline: ${JSON.stringify(backlog)}`,
      );
      return;
    }
    await sleep(500);
  }
}

/** Runs one scenario and reports it; throws only when the stack itself cannot be started. */
export async function runScenario(spec: ScenarioSpec, seed: number): Promise<ScenarioReport> {
  const startedAt = Date.now();
  const shape = spec.stack ?? DEV_STACK;
  const stack = await startFaultStack(spec.name, uniqueSchema(`faults_${spec.tag}`), spec.workerEnv, shape);
  const rng = new Rng(seed);
  const plan = planLoad(spec.tag, rng, spec.bus?.load ?? spec.load);
  if (spec.operators !== undefined) planOperatorActions(plan, rng, spec.operators);
  const desk = spec.operators === undefined ? undefined : new OperatorDesk(stack, rng);
  const progress = new Progress(plan.payments.length + plan.registrations.length);
  // Each run's kind, so a run delayed by a fault is compared with the usual time of runs like it.
  const kinds = new Map<string, string>([
    ...plan.payments.map((p) => [p.workflowId, `payment:${p.kind}`] as const),
    ...plan.registrations.map((r) => [r.workflowId, `registration:${r.route}`] as const),
  ]);
  const log = new FaultLog(startedAt, stack);
  let stopped = false;
  let loadDone = false;
  let signalStop: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => (signalStop = resolve));
  let chain: Promise<unknown> = Promise.resolve();
  const commands =
    spec.bus === undefined
      ? undefined
      : new CommandTraffic(stack, plan, rng, spec.bus.resends, () => stopped);
  const ctx: FaultContext = {
    stack,
    plan,
    progress,
    rng,
    log,
    over: () => stopped || loadDone,
    serial: <T>(fn: () => Promise<T>): Promise<T> => {
      const run = chain.then(fn);
      chain = run.catch(() => undefined);
      return run;
    },
    ...(commands === undefined ? {} : { commands }),
  };
  const base = {
    name: spec.name,
    title: spec.title,
    seed,
    stack: shape,
    logs: path.relative(PROJECT_ROOT, stack.logDir),
    runs: {
      driven: plan.payments.length + plan.registrations.length,
      payments: plan.payments.length,
      registrations: plan.registrations.length,
      accepted: 0,
      finished: 0,
      neverAccepted: 0,
    },
  };
  // Nondeterminism, or a run whose workflow task keeps failing, ends the scenario at once: no later check can
  // pass, and the run would otherwise sit until the deadline.
  for (const worker of stack.workers) {
    worker.taskFailures.onProblem((problem) => {
      stack.log.write(`[harness] stopping: ${worker.label}: ${problem}`);
      stopped = true;
      signalStop();
    });
  }
  try {
    await seedPayers(stack, plan.payers);
    if (spec.bankFaults) planBankFaults(ctx, spec.bankFaults);
    let loadStartedAt = Date.now();
    for (const worker of stack.workers) loadStartedAt = (await worker.start()).readyAt;
    if (commands !== undefined) await stack.consumer.start();
    stack.log.write(`[harness] scenario ${spec.name} (seed ${seed}) driving ${base.runs.driven} runs`);

    const forgers: Promise<void>[] = [];
    const deadline = setTimeout(() => {
      stopped = true;
      signalStop();
      stack.log.write('[harness] deadline reached: runs still open are lost');
    }, RUN_DEADLINE_MS);
    const load = driveLoad(stack, plan, progress, rng, {
      concurrency: 8,
      startRetryMs: 5 * 60_000,
      ...(spec.bus === undefined
        ? spec.maxInFlight === undefined
          ? {}
          : { maxInFlight: spec.maxInFlight }
        : { maxInFlight: spec.bus.maxInFlight }),
      ...(commands === undefined ? {} : { commands }),
      stopped: () => stopped,
      stop,
      onPaymentAccepted: (payment) => {
        if (payment.forge) forgers.push(forgeWebhooks(ctx, payment));
        desk?.accepted(payment);
      },
    }).finally(() => {
      loadDone = true;
    });
    const injectors = spec.inject(ctx);
    await load;
    clearTimeout(deadline);
    const injected = await Promise.allSettled([...injectors, ...forgers]);
    const injectorErrors = injected.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));

    // Every fault healed: the channels are up in the end.
    stack.mailSink.acceptAgain();
    stack.smsSink.failNext(0, 500);
    stack.smsSink.failFor(0, 500);
    stack.bank.failFor(0);
    for (const id of stack.bank.heldWebhooks()) stack.bank.releaseWebhook(id);
    if (commands !== undefined) {
      await commands.idle();
      await drainCommands(stack);
    }
    await sleep(SETTLE_MS);

    let operators: { truth: OperatorTruth; report: OperatorReport } | undefined;
    if (desk !== undefined) operators = await endOrphans(stack, desk);
    const checked = await checkInvariants(stack, plan, progress, log.forged, operators?.truth);
    const busChecked: BusCheckResult | undefined =
      commands === undefined
        ? undefined
        : await checkBusInvariants(
            { ...stack, listRuns: () => listRuns(stack.client) },
            plan,
            progress,
            commands,
          );
    const violations = [...checked.violations, ...(busChecked?.violations ?? [])];
    const takeovers = new TakeoverCount(stack.workers);
    const replayFailures = await replayEveryRun(stack, [...progress.accepted.keys()], (history) =>
      takeovers.observe(history),
    );
    // A run an operator reset is followed to its new run's end; the load saw only the old one terminated.
    const operatedEnd = new Map(
      [...(operators?.truth.operated.values() ?? [])].map((op) => [
        op.workflowId,
        op.done ? op.end : undefined,
      ]),
    );
    const finished = [...progress.ended].filter(([workflowId, end]) => {
      const byOperator = operatedEnd.get(workflowId);
      return byOperator === undefined ? end.failure === undefined : byOperator.kind === 'completed';
    }).length;
    const report: ScenarioReport = {
      ...base,
      durationMs: Date.now() - startedAt,
      ...(injectorErrors.length > 0 ? { error: `fault injection failed: ${injectorErrors.join('; ')}` } : {}),
      runs: {
        ...base.runs,
        accepted: progress.accepted.size,
        finished,
        neverAccepted: progress.startFailures.size,
      },
      lost: checked.lost + (busChecked?.lost ?? 0),
      duplicated: checked.duplicated + (busChecked?.duplicated ?? 0),
      endedPer10s: perTenSeconds(progress, loadStartedAt),
      faults: { ...log.counts },
      recoveries: log.recoveries(progress, (workflowId) => kinds.get(workflowId) ?? 'run'),
      unfaulted: log.unfaultedRuns(progress),
      takeovers: takeovers.takeovers,
      workerUnexpectedExits: workerExits(stack),
      consumerUnexpectedExits: stack.consumer.unexpectedExits,
      workflowTaskFailures: taskFailures(stack),
      replayFailures,
      outcomes: checked.outcomes,
      messages: checked.messages,
      webhooks: {
        delivered: stack.bank.deliveredWebhooks(),
        forgedSent: checked.forged.sent,
        forgedRefused: checked.forged.refused,
        forgedBeforeBankDecided: checked.forged.beforeBankDecided,
      },
      bus:
        busChecked === undefined
          ? null
          : {
              ...busChecked.counts,
              consumerFoundExistingRun: stack.consumer.foundExisting,
              consumerRedeliveredAfterLostAck: stack.consumer.redeliveredAfterLostAck,
              consumerStarts: stack.consumer.starts.length,
            },
      operators: operators?.report ?? null,
      invariants: invariantSummary(violations, unchecked(commands !== undefined, operators?.report)),
      violations: violations.slice(0, 200),
    };
    stack.log.write(
      `[harness] scenario ${spec.name} done: lost ${report.lost}, duplicated ${report.duplicated}`,
    );
    return report;
  } catch (err) {
    return {
      ...base,
      durationMs: Date.now() - startedAt,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      lost: 0,
      duplicated: 0,
      endedPer10s: [],
      faults: { ...log.counts },
      recoveries: [],
      unfaulted: { runs: 0, medianMs: null },
      takeovers: { byAnotherProcess: 0, byAnotherWorker: 0 },
      workerUnexpectedExits: workerExits(stack),
      consumerUnexpectedExits: stack.consumer.unexpectedExits,
      workflowTaskFailures: taskFailures(stack),
      replayFailures: [],
      outcomes: {},
      messages: null,
      webhooks: { delivered: 0, forgedSent: 0, forgedRefused: 0, forgedBeforeBankDecided: 0 },
      bus: null,
      operators: null,
      invariants: invariantSummary([], unchecked(commands !== undefined, undefined)),
      violations: [],
    };
  } finally {
    stopped = true;
    signalStop();
    await stack.stop();
  }
}

/** The invariants a scenario gives nothing to check: the bus's without commands, the operators' without them. */
function unchecked(withCommands: boolean, operators: OperatorReport | undefined) {
  return [
    ...(withCommands ? [] : BUS_INVARIANTS),
    ...(operators === undefined
      ? OPERATOR_INVARIANTS
      : operators.watchdog.available
        ? []
        : (['watchdogFindsOrphans'] as const)),
  ];
}

/** Exits of the workers nobody asked for, over all of them. */
function workerExits(stack: FaultStack): number {
  return stack.workers.reduce((sum, worker) => sum + worker.unexpectedExits, 0);
}

/** The problems the workers reported, each named by its worker when there are several. */
function taskFailures(stack: FaultStack): string[] {
  return stack.workers.flatMap((worker) =>
    worker.taskFailures.problems.map((problem) =>
      stack.workers.length > 1 ? `${worker.label}: ${problem}` : problem,
    ),
  );
}

function perTenSeconds(progress: Progress, from: number): number[] {
  const slices: number[] = [];
  for (const end of progress.ended.values()) {
    const slice = Math.max(0, Math.floor((end.at - from) / 10_000));
    while (slices.length <= slice) slices.push(0);
    slices[slice] = (slices[slice] ?? 0) + 1;
  }
  return slices;
}
