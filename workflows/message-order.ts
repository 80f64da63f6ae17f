/**
 * Signals and updates are handled after the other jobs of their activation, so a workflow sees the same state
 * when it handles a message live and on replay.
 *
 * Why: a worker that answers a query from a history holding events no workflow task has processed yet (say, the
 * screening activity's completion, waiting on the sticky queue of a worker that died) applies those events in an
 * activation of their own and keeps the run in its cache. When the workflow task for the same events then arrives
 * carrying an update, the worker handles the update in a second activation, after the workflow reacted to the
 * activity, and sends both activations' commands in one completion. Replay has only that one workflow task, so it
 * delivers the activity's result and the update in one activation, update first: the update is accepted before
 * the commands the activity's result led to, and the run fails on every attempt with `[TMPRL1100] Update machine
 * does not handle this event`. (SDK 1.24.0, the newest release; `test/integration/message-races.test.ts` replays
 * it.) Handling messages last in every activation gives both paths one order: the reaction to the other jobs
 * first, then the messages, each seeing the state those jobs left.
 */
import { CancellationScope, condition, patched } from '@temporalio/workflow';
import type {
  ActivateInput,
  Next,
  WorkflowInterceptorsFactory,
  WorkflowInternalsInterceptor,
} from '@temporalio/workflow';

/**
 * The patch that turns the ordering on. Runs started before it keep the order their histories were written in:
 * a message first, then the other jobs.
 */
export const MESSAGES_AFTER_OTHER_JOBS = 'messages-after-other-jobs';

// A chain of reactions (a condition that came true, then a handler waiting on the state it set) takes one pass of
// the SDK's condition loop per link; the workflows here have chains of two at most.
const PASSES_BEFORE_MESSAGES = 3;

/** Resolves once the workflow has run through `passes` rounds of its microtasks and conditions. */
async function afterPasses(passes: number): Promise<void> {
  for (let pass = 0; pass < passes; pass++) {
    let armed = false;
    // Checked eagerly while false, so it can only come true in the SDK's next round of conditions, which runs
    // after every microtask the other jobs queued.
    const round = condition(() => armed);
    armed = true;
    await round;
  }
}

const isMessage = (job: { signalWorkflow?: unknown; doUpdate?: unknown }) =>
  job.signalWorkflow != null || job.doUpdate != null;

class MessagesAfterOtherJobs implements WorkflowInternalsInterceptor {
  /** Decided once, in the run's first activation, before the workflow function issues any command. */
  private enabled: boolean | undefined;

  activate(input: ActivateInput, next: Next<WorkflowInternalsInterceptor, 'activate'>): void {
    this.enabled ??= patched(MESSAGES_AFTER_OTHER_JOBS);
    const jobs = input.activation.jobs ?? [];
    const messages = jobs.filter(isMessage);
    if (!this.enabled || messages.length === 0 || messages.length === jobs.length) {
      next(input);
      return;
    }
    next({ ...input, activation: { ...input.activation, jobs: jobs.filter((job) => !isMessage(job)) } });
    // Not cancellable: a workflow cancelled in this activation still has its messages handled, as before.
    void CancellationScope.nonCancellable(() => afterPasses(PASSES_BEFORE_MESSAGES)).then(() =>
      next({ ...input, activation: { ...input.activation, jobs: messages } }),
    );
  }
}

/** The workflow interceptors the worker bundles beside the workflows. */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  internals: [new MessagesAfterOtherJobs()],
});
