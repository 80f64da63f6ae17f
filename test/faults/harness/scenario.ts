/**
 * One fault scenario from start to verdict: a fresh stack, the payers seeded, the load driven while the scenario's
 * injectors strike, every fault healed, a short settling time for late effects, then the invariants and the report.
 */
import path from 'node:path';
import { uniqueSchema } from '../../support/postgres';
import type { BankFaultMix, FaultContext } from './faults';
import { FaultLog, forgeWebhooks, planBankFaults } from './faults';
import { replayEveryRun } from './determinism';
import { checkInvariants } from './invariants';
import { driveLoad, planLoad, Progress, seedPayers } from './load';
import { PROJECT_ROOT } from './processes';
import { Rng, sleep } from './random';
import type { ScenarioReport } from './report';
import { invariantSummary } from './report';
import { startFaultStack } from './stack';

/** A scenario: its name, its per-payment bank faults, and the injectors that run beside the load. */
export interface ScenarioSpec {
  name: string;
  /** Prefix of every id it creates. */
  tag: string;
  /** What it shows, as the test's name. */
  title: string;
  bankFaults?: BankFaultMix;
  /** Settings of the scenario's worker beyond the stack's own. */
  workerEnv?: NodeJS.ProcessEnv;
  inject: (ctx: FaultContext) => Promise<void>[];
}

/** Longest a scenario waits for its runs to end once the load is started; only a broken stack comes near it. */
const RUN_DEADLINE_MS = 12 * 60_000;
/** Quiet time after the last run ended, so a late effect (a zombie activity, a late webhook) is still seen. */
const SETTLE_MS = 3_000;

/** Runs one scenario and reports it; throws only when the stack itself cannot be started. */
export async function runScenario(spec: ScenarioSpec, seed: number): Promise<ScenarioReport> {
  const startedAt = Date.now();
  const stack = await startFaultStack(spec.name, uniqueSchema(`faults_${spec.tag}`), spec.workerEnv);
  const rng = new Rng(seed);
  const plan = planLoad(spec.tag, rng);
  const progress = new Progress(plan.payments.length + plan.registrations.length);
  const log = new FaultLog(startedAt, stack);
  let stopped = false;
  let loadDone = false;
  let signalStop: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => (signalStop = resolve));
  let chain: Promise<unknown> = Promise.resolve();
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
  };
  const base = {
    name: spec.name,
    title: spec.title,
    seed,
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
  stack.worker.taskFailures.onProblem((problem) => {
    stack.log.write(`[harness] stopping: ${problem}`);
    stopped = true;
    signalStop();
  });
  try {
    await seedPayers(stack, plan.payers);
    if (spec.bankFaults) planBankFaults(ctx, spec.bankFaults);
    const { readyAt: loadStartedAt } = await stack.worker.start();
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
      stopped: () => stopped,
      stop,
      onPaymentAccepted: (payment) => {
        if (payment.forge) forgers.push(forgeWebhooks(ctx, payment));
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
    await sleep(SETTLE_MS);

    const checked = await checkInvariants(stack, plan, progress, log.forged);
    const replayFailures = await replayEveryRun(stack, [...progress.accepted.keys()]);
    const finished = [...progress.ended.values()].filter((end) => end.failure === undefined).length;
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
      lost: checked.lost,
      duplicated: checked.duplicated,
      endedPer10s: perTenSeconds(progress, loadStartedAt),
      faults: { ...log.counts },
      recoveries: log.recoveries(progress),
      workerUnexpectedExits: stack.worker.unexpectedExits,
      workflowTaskFailures: [...stack.worker.taskFailures.problems],
      replayFailures,
      outcomes: checked.outcomes,
      messages: checked.messages,
      webhooks: {
        delivered: stack.bank.deliveredWebhooks(),
        forgedSent: checked.forged.sent,
        forgedRefused: checked.forged.refused,
        forgedBeforeBankDecided: checked.forged.beforeBankDecided,
      },
      invariants: invariantSummary(checked.violations),
      violations: checked.violations.slice(0, 200),
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
      workerUnexpectedExits: stack.worker.unexpectedExits,
      workflowTaskFailures: [...stack.worker.taskFailures.problems],
      replayFailures: [],
      outcomes: {},
      messages: null,
      webhooks: { delivered: 0, forgedSent: 0, forgedRefused: 0, forgedBeforeBankDecided: 0 },
      invariants: invariantSummary([]),
      violations: [],
    };
  } finally {
    stopped = true;
    signalStop();
    await stack.stop();
  }
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
