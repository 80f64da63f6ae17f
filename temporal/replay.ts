/**
 * Replaying recorded histories with the current workflow code: the check that a change to a workflow is safe for
 * every run already in flight. Used by the replay tests (checked-in fixtures) and by `npm run replay` (histories
 * pulled from a live namespace).
 */
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { createDataConverter } from './codec';
import { LOCAL_DEV_KEYS, parseKeyRing } from '../config/key-ring';
import type { KeyRing } from '../config/key-ring';
import { bundleWorkflows } from './bundle';
import { workflowSpanSinks } from './tracing';

/** A history to replay and where it came from (a fixture file, a live run). */
export interface HistoryToReplay {
  workflowId: string;
  /** A `History` or its proto JSON (as `temporal workflow show --output json` writes it). */
  history: unknown;
  source: string;
}

/** What replaying one history showed. */
export interface ReplayOutcome {
  source: string;
  workflowId: string;
  ok: boolean;
  /** `nondeterminism`: the code would issue other commands than the history recorded; `failure`: it threw. */
  problem?: 'nondeterminism' | 'failure';
  message?: string;
}

/**
 * Replays each history with the given workflow bundle (default: the current code), one after another, and says
 * for each whether the code still produces the history's commands.
 */
export async function replayHistories(
  histories: Iterable<HistoryToReplay> | AsyncIterable<HistoryToReplay>,
  workflowBundle?: WorkflowBundleWithSourceMap,
  codecKeys: KeyRing = parseKeyRing(LOCAL_DEV_KEYS),
): Promise<ReplayOutcome[]> {
  const bundle = workflowBundle ?? (await bundleWorkflows());
  // The replayer reads payloads as the worker does: encrypted ones through the codec, older plain ones as they are.
  const dataConverter = createDataConverter(codecKeys);
  const outcomes: ReplayOutcome[] = [];
  for await (const item of histories) {
    try {
      await Worker.runReplayHistory(
        {
          workflowBundle: bundle,
          dataConverter,
          replayName: `replay:${item.source}`,
          // The bundle's tracing interceptors call their sink; replays export nothing through it.
          sinks: workflowSpanSinks(undefined),
        },
        item.history,
        item.workflowId,
      );
      outcomes.push({ source: item.source, workflowId: item.workflowId, ok: true });
    } catch (err) {
      outcomes.push({
        source: item.source,
        workflowId: item.workflowId,
        ok: false,
        problem: err instanceof DeterminismViolationError ? 'nondeterminism' : 'failure',
        message: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return outcomes;
}
