/**
 * `npm run replay`: the check to run before deploying a worker. Pulls the most recent payment and registration runs
 * from a live namespace, replays each history with the workflow code in this checkout, and says which runs the new
 * code could not continue. Exit codes: 0 every run replayed, 1 any failed (or the server was unreachable), 2 bad
 * flags or configuration.
 */
import type { KeyRing } from '../../config/key-ring';
import type { Client } from '@temporalio/client';
import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../../config/config';
import { quietWorkerRuntime } from '../../temporal/runtime';
import { replayHistories } from '../../temporal/replay';
import type { HistoryToReplay } from '../../temporal/replay';
import { noPositionals, output, parse, UsageError, withClient } from './support';

/** The runs replayed when no `--query` is given: every baton process. */
export const DEFAULT_REPLAY_QUERY = "WorkflowType IN ('paymentWorkflow', 'registrationWorkflow')";
/** How many runs are replayed when no `--limit` is given. */
export const DEFAULT_REPLAY_LIMIT = 100;
const MAX_REPLAY_LIMIT = 10_000;
// Histories fetched at once: enough to hide latency, few enough not to crowd a production frontend.
const FETCH_CONCURRENCY = 5;
// gRPC status the server answers a malformed visibility query with.
const GRPC_INVALID_ARGUMENT = 3;

/** How replaying one run ended, in the table's words. */
export const ReplayResult = {
  /** The current code issues exactly the commands the history recorded. */
  Ok: 'ok',
  /** The current code would issue other commands: deploying it would break this run. */
  Nondeterminism: 'NONDETERMINISM',
  /** The workflow code threw while replaying. */
  Failed: 'FAILED',
} as const;
/** One of {@link ReplayResult}. */
export type ReplayResult = (typeof ReplayResult)[keyof typeof ReplayResult];

/** One replayed run: which it was and how it went. */
export interface ReplayedRun {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** The run's execution status on the server (`RUNNING`, `COMPLETED`, ...). */
  status: string;
  result: ReplayResult;
  /** Why replay failed; absent when it passed. */
  message?: string;
}

/** Everything one `npm run replay` found. */
export interface LiveReplayReport {
  namespace: string;
  query: string;
  runs: ReplayedRun[];
  summary: { replayed: number; passed: number; failed: number };
}

/** What to replay, and with which code. */
export interface LiveReplayOptions {
  query?: string;
  limit?: number;
  /** Workflow code to replay with; default: the code in this checkout. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Told after each history is fetched. */
  onFetched?: (fetched: number, total: number) => void;
  /** Keys to decrypt the histories' payloads with; default: the local development ring. */
  codecKeys?: KeyRing;
}

/** The server refused the visibility query. */
export class InvalidQueryError extends Error {
  override readonly name = 'InvalidQueryError';
  readonly code = 'invalid_query';

  constructor(
    readonly query: string,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`the server refused the query ${query}: ${details}`, options);
  }
}

interface ListedRun {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
}

/** Replays the most recent runs matching the query with the current (or given) workflow code. */
export async function replayLiveRuns(
  client: Client,
  options: LiveReplayOptions = {},
): Promise<LiveReplayReport> {
  const query = options.query ?? DEFAULT_REPLAY_QUERY;
  const limit = options.limit ?? DEFAULT_REPLAY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer, not ${limit}`);
  const listed: ListedRun[] = [];
  try {
    for await (const execution of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
      listed.push({
        workflowId: execution.workflowId,
        runId: execution.runId,
        workflowType: execution.type,
        status: execution.status.name,
      });
      if (listed.length >= limit) break;
    }
  } catch (err) {
    const grpc = err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause : undefined;
    const code: number | undefined = grpc?.code;
    if (grpc !== undefined && code === GRPC_INVALID_ARGUMENT) {
      throw new InvalidQueryError(query, grpc.details, { cause: err });
    }
    throw err;
  }

  let fetched = 0;
  const histories = await mapConcurrently(listed, FETCH_CONCURRENCY, async (run) => {
    const history: History = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    fetched += 1;
    options.onFetched?.(fetched, listed.length);
    return history;
  });

  const toReplay: HistoryToReplay[] = listed.map((run, i) => ({
    workflowId: run.workflowId,
    history: histories[i],
    source: `${run.workflowId}/${run.runId}`,
  }));
  // Bundling the workflow code takes seconds: skip it when there is nothing to replay.
  const outcomes =
    toReplay.length === 0 ? [] : await replayHistories(toReplay, options.workflowBundle, options.codecKeys);

  const runs = listed.map((run, i): ReplayedRun => {
    const outcome = outcomes[i];
    if (outcome === undefined) throw new Error(`no replay outcome for ${run.workflowId}`);
    if (outcome.ok) return { ...run, result: ReplayResult.Ok };
    return {
      ...run,
      result: outcome.problem === 'nondeterminism' ? ReplayResult.Nondeterminism : ReplayResult.Failed,
      message: outcome.message ?? 'replay failed without a message',
    };
  });
  const passed = runs.filter((run) => run.result === ReplayResult.Ok).length;
  return {
    namespace: client.options.namespace,
    query,
    runs,
    summary: { replayed: runs.length, passed, failed: runs.length - passed },
  };
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results keep the items' order. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/** The pass/fail table and the summary line, for people. */
export function formatReplayReport(report: LiveReplayReport): string {
  const { replayed, passed, failed } = report.summary;
  const summary = `${replayed} replayed, ${passed} passed, ${failed} failed`;
  if (report.runs.length === 0) return `no runs match ${report.query}\n${summary}`;
  const rows = report.runs.map((run) => [
    run.workflowId,
    run.runId.slice(0, 8),
    run.workflowType,
    run.status,
    run.result,
    run.message === undefined ? '' : firstLine(run.message),
  ]);
  const header = ['WORKFLOW ID', 'RUN', 'TYPE', 'STATUS', 'RESULT', 'MESSAGE'];
  const widths = header.map((title, col) =>
    Math.max(title.length, ...rows.map((row) => (row[col] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, col) => (col === cells.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line), summary].join('\n');
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

const USAGE = `usage: npm run replay -- [--address host:port] [--namespace ns] [--query <visibility query>] [--limit N] [--json]

Replays the most recent matching runs with this checkout's workflow code; exits 1 if any would break.
  --query   default: ${DEFAULT_REPLAY_QUERY}
  --limit   default: ${DEFAULT_REPLAY_LIMIT} (at most ${MAX_REPLAY_LIMIT})`;

/** Reports fetch progress on stderr: one updating line on a terminal, a line every tenth history otherwise. */
function progressReporter(): (fetched: number, total: number) => void {
  const tty = process.stderr.isTTY;
  return (fetched, total) => {
    const text = `fetched ${fetched}/${total} histories…`;
    if (tty) process.stderr.write(`\r${text}${fetched === total ? '\n' : ''}`);
    else if (fetched % 10 === 0 || fetched === total) process.stderr.write(`${text}\n`);
  };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    address: { type: 'string' },
    namespace: { type: 'string' },
    query: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  noPositionals(positionals);
  const limit = values.limit === undefined ? DEFAULT_REPLAY_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REPLAY_LIMIT) {
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_REPLAY_LIMIT}`);
  }
  const query = values.query === undefined ? DEFAULT_REPLAY_QUERY : values.query.trim();
  if (query === '') throw new UsageError('--query must not be empty');
  // Flags override the environment; both go through the same validation.
  const config = loadConfig({
    ...process.env,
    ...(values.address === undefined ? {} : { TEMPORAL_ADDRESS: values.address }),
    ...(values.namespace === undefined ? {} : { TEMPORAL_NAMESPACE: values.namespace }),
  });

  // Each replay starts a worker; its lifecycle lines at info level would bury the table.
  quietWorkerRuntime();
  const report = await withClient(config, (client) =>
    replayLiveRuns(client, { query, limit, onFetched: progressReporter(), codecKeys: config.codecKeys }),
  );
  output(values.json === true)(formatReplayReport(report), { ok: report.summary.failed === 0, ...report });
  return report.summary.failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`${err.message}\n\n${USAGE}`);
        process.exitCode = 2;
      } else if (err instanceof ConfigError || err instanceof InvalidQueryError) {
        console.error(err.message);
        process.exitCode = 2;
      } else {
        console.error(err instanceof Error ? err.message : err);
        process.exitCode = 1;
      }
    },
  );
}
