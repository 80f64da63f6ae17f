/**
 * The workflow tasks a worker reported failing, read from its output as it is written, so a fault scenario stops
 * at the first nondeterminism (or a run whose task keeps failing) instead of waiting for a run that never ends.
 */
/** A run whose workflow task failed this many times is stuck, whatever the error. */
const REPEATED_FAILURES = 3;

// The SDK core colours its log lines when it thinks it writes to a terminal.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** The workflow tasks a worker reported failing, per run. */
export class WorkflowTaskFailures {
  private readonly perRun = new Map<string, number>();
  private readonly listeners: ((problem: string) => void)[] = [];
  /** Each run that showed nondeterminism or failed repeatedly, with its error; in the order seen. */
  readonly problems: string[] = [];

  /** Reads one line of the worker's output. */
  observe(line: string): void {
    const text = line.replace(ANSI, '');
    if (!text.includes('Failing workflow task')) return;
    const runId = /run_id=([\w-]+)/.exec(text)?.[1] ?? 'an unnamed run';
    const error = /message: "((?:[^"\\]|\\.)*)"/.exec(text)?.[1] ?? text;
    const count = (this.perRun.get(runId) ?? 0) + 1;
    this.perRun.set(runId, count);
    const nondeterministic = error.includes('TMPRL1100');
    if (!nondeterministic && count !== REPEATED_FAILURES) return;
    const problem = nondeterministic
      ? `run ${runId}: nondeterminism: ${error}`
      : `run ${runId}: its workflow task failed ${count} times: ${error}`;
    this.problems.push(problem);
    for (const listener of this.listeners) listener(problem);
  }

  /** Calls `listener` with each problem as it is seen. */
  onProblem(listener: (problem: string) => void): void {
    this.listeners.push(listener);
  }
}
