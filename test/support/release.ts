/**
 * A release as `npm run build` writes it, built for a test, and its worker run as an operator runs it: plain node on
 * the compiled entry point, configured by environment, stopped by a signal. Each worker's output goes to a log file
 * and is kept for the test to read.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Root of the project. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** A built release: the compiled worker and command consumer, and the workflow bundle beside them. */
export interface BuiltRelease {
  /** `<dir>/js/workers/main.js`. */
  worker: string;
  /** `<dir>/js/client/command-consumer-main.js`. */
  consumer: string;
  /** `<dir>/workflow-bundle.js` (the untraced one lies beside it). */
  bundle: string;
}

/** Builds a release into `dir` (inside the project, so the compiled files find node_modules). */
export async function buildRelease(dir: string): Promise<BuiltRelease> {
  await execFileAsync(process.execPath, ['--import', 'tsx', path.join('workers', 'build-main.ts'), dir], {
    cwd: PROJECT_ROOT,
  });
  return {
    worker: path.join(dir, 'js', 'workers', 'main.js'),
    consumer: path.join(dir, 'js', 'client', 'command-consumer-main.js'),
    bundle: path.join(dir, 'workflow-bundle.js'),
  };
}

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every worker spawned here and not yet gone; killed if the test process goes away first. */
const alive = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** The message of a JSON log line (pino's `msg`) followed by its other fields as `key=value`; other lines as they are. */
function lineText(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const {
      msg,
      level: _level,
      time: _time,
      service: _service,
      ...fields
    } = JSON.parse(line) as Record<string, unknown>;
    const rest = Object.entries(fields).map(
      ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
    );
    return [String(msg), ...rest].join(' ');
  } catch {
    return line;
  }
}

/** One worker process of a release. */
export class ReleaseWorker {
  /** Every line it printed, as text. */
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters: { pattern: RegExp; found: (line: string) => void }[] = [];
  /** Settles when the process is gone. */
  readonly exited: Promise<ProcessExit>;

  /** Spawns `release`'s worker with `env` (on top of nothing else: pass what it needs), its output to `logFile`. */
  constructor(
    readonly label: string,
    release: BuiltRelease,
    env: NodeJS.ProcessEnv,
    logFile: string,
  ) {
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [release.worker], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    alive.add(child);
    const onLine = (raw: string) => {
      log.write(`${new Date().toISOString()} ${raw}\n`);
      const line = lineText(raw);
      this.lines.push(line);
      for (const waiter of this.waiters.filter((w) => w.pattern.test(line))) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.found(line);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        alive.delete(child);
        log.end();
        resolve({ code, signal });
      });
    });
  }

  /** The process id, which is also in the worker's identity (`<pid>@<host>`). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Resolves with the first line (already printed or still to come) that matches `pattern`; rejects with the last
   * lines if the process ends first, or after `timeoutMs`.
   */
  async line(pattern: RegExp, timeoutMs = 180_000): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen !== undefined) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<string>((found) => this.waiters.push({ pattern, found })),
        this.exited.then((exit) => {
          throw new Error(
            `the ${this.label} ended (${JSON.stringify(exit)}) before printing ${pattern}${this.tail()}`,
          );
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the ${this.label} did not print ${pattern}${this.tail()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal`; see {@link ReleaseWorker.exited} for the end. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Stops it if it still runs (SIGTERM, SIGKILL after 30 s), for clean-up. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }

  private tail(): string {
    return `; its last lines:\n${this.lines.slice(-20).join('\n')}`;
  }
}
