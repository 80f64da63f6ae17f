/**
 * Drives workflows through the server: a closed loop (a fixed number in flight, the next starting as one ends) or
 * an open loop (a fixed arrival rate, whatever is in flight). Records, per run, when the client started it, when
 * the start call returned, the steps the workflow recorded, and when the client saw its result.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Moment } from './stats';

/** A step as a workflow records it (`status` query and result of both the payment and the ceiling). */
export interface RecordedStep {
  name: string;
  at: string;
}

/** A started run: when the start call returned, whether it started eagerly, and its eventual result. */
export interface Launched {
  workflowId: string;
  eagerlyStarted: boolean;
  result: Promise<{ steps: RecordedStep[] }>;
}

/** What one run looked like from the client. Times are epoch milliseconds. */
export interface RunRecord {
  index: number;
  workflowId?: string;
  startedAt: number;
  startReturnedAt?: number;
  closedAt?: number;
  eagerlyStarted: boolean;
  steps: Moment[];
  error?: string;
}

/** Live counts while a phase runs (read by the progress bar and the memory sampler). */
export interface DriveCounters {
  started: number;
  done: number;
  failed: number;
  inFlight: number;
  peakInFlight: number;
}

/** How to drive one batch of runs. */
export interface DriveOptions {
  total: number;
  /** Closed loop: runs in flight at once. */
  concurrency: number;
  /** Open loop: starts per second (overrides `concurrency`). */
  ratePerSec?: number;
  /** Starts run `index`; the driver times the call. */
  launch(index: number): Promise<Launched>;
  counters?: DriveCounters;
  onChange?: (counters: DriveCounters) => void;
}

/** Fresh counters. */
export function newCounters(): DriveCounters {
  return { started: 0, done: 0, failed: 0, inFlight: 0, peakInFlight: 0 };
}

/** Runs `total` workflows as told and resolves with one record per run, in index order. */
export async function drive(options: DriveOptions): Promise<RunRecord[]> {
  const counters = options.counters ?? newCounters();
  const records: RunRecord[] = new Array<RunRecord>(options.total);
  const changed = () => options.onChange?.(counters);

  const runOne = async (index: number): Promise<void> => {
    const record: RunRecord = { index, startedAt: Date.now(), eagerlyStarted: false, steps: [] };
    records[index] = record;
    counters.started += 1;
    counters.inFlight += 1;
    counters.peakInFlight = Math.max(counters.peakInFlight, counters.inFlight);
    changed();
    try {
      const launched = await options.launch(index);
      record.startReturnedAt = Date.now();
      record.workflowId = launched.workflowId;
      record.eagerlyStarted = launched.eagerlyStarted;
      const result = await launched.result;
      record.closedAt = Date.now();
      record.steps = result.steps.map((step) => ({ name: step.name, at: Date.parse(step.at) }));
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      counters.failed += 1;
    } finally {
      counters.inFlight -= 1;
      counters.done += 1;
      changed();
    }
  };

  if (options.ratePerSec !== undefined) {
    const origin = Date.now();
    const pending: Promise<void>[] = [];
    for (let index = 0; index < options.total; index++) {
      const due = origin + (index * 1000) / options.ratePerSec;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      pending.push(runOne(index));
    }
    await Promise.all(pending);
  } else {
    let next = 0;
    const lane = async () => {
      while (next < options.total) {
        const index = next;
        next += 1;
        await runOne(index);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.total) }, lane));
  }
  return records;
}
