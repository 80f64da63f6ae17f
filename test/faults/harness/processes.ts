/**
 * The worker as a real OS process the fault suite can SIGKILL: the release's compiled worker run by plain node, as the
 * image runs it, its output kept in a log file, and watched so an exit nobody asked for is restarted the way a
 * supervisor would.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { WorkflowTaskFailures } from './task-failures';

/** Root of the project. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');

/** A log file with a timestamp on every line, and the last lines kept for failure messages. */
export class LineLog {
  private readonly stream: WriteStream;
  private readonly tail: string[] = [];

  constructor(readonly file: string) {
    this.stream = createWriteStream(file, { flags: 'a' });
  }

  write(line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    this.tail.push(stamped);
    if (this.tail.length > 60) this.tail.shift();
    this.stream.write(`${stamped}\n`);
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

/** Every worker process this harness spawned and has not seen exit; killed if the test process goes away. */
const alive = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** How one start of the worker went. */
export interface WorkerStart {
  /** When the process was spawned. */
  spawnedAt: number;
  /** When it said it polls (workflows bundled, webhook receiver listening). */
  readyAt: number;
}

/** The worker process of one scenario; restarted on the same environment, so on the same webhook port. */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private stopped = false;
  /** Exits nobody asked for (each is followed by a restart). */
  unexpectedExits = 0;
  /** Every start, in order. */
  readonly starts: WorkerStart[] = [];
  /** The workflow tasks it reported failing, over all its starts. */
  readonly taskFailures = new WorkflowTaskFailures();

  constructor(
    /** The worker's entry file: a release's `js/workers/main.js`. */
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: LineLog,
    private readonly readyTimeoutMs = 240_000,
  ) {}

  /** Spawns the worker and resolves once it polls; throws with its last output if it dies or hangs first. */
  async start(): Promise<WorkerStart> {
    if (this.child !== undefined) throw new Error('the worker is already running');
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [this.entry], {
      cwd: PROJECT_ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.expectingExit = false;
    alive.add(child);
    const pid = child.pid ?? -1;
    this.log.write(`[harness] worker spawned (pid ${pid})`);

    let becameReady = false;
    let markReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const onLine = (line: string) => {
      this.log.write(`[worker ${pid}] ${line}`);
      this.taskFailures.observe(line);
      if (line.startsWith('worker polling')) {
        becameReady = true;
        markReady();
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);

    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        alive.delete(child);
        this.log.write(`[harness] worker ${pid} exited (code ${String(code)}, signal ${String(signal)})`);
        if (this.child === child) this.child = undefined;
        resolve();
        // A start that fails before it is ready is reported by start() itself, not restarted here.
        if (becameReady && !this.expectingExit && !this.stopped) {
          // A supervisor's job: a worker that died on its own is started again, and the fact is counted.
          this.unexpectedExits += 1;
          void this.start().catch((err: unknown) =>
            this.log.write(`[harness] restart failed: ${String(err)}`),
          );
        }
      });
    });

    const timeout = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.readyTimeoutMs);
      timer.unref();
      void ready.then(() => clearTimeout(timer));
    });
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      this.exited.then(() => 'exited' as const),
      timeout,
    ]);
    if (outcome !== 'ready') {
      if (outcome === 'timeout') await this.kill('SIGKILL');
      throw new Error(`the worker did not start (${outcome}):\n${this.log.lastLines()}`);
    }
    const started = { spawnedAt, readyAt: Date.now() };
    this.starts.push(started);
    this.log.write(`[harness] worker ${pid} ready after ${started.readyAt - spawnedAt} ms`);
    return started;
  }

  /** True while a worker process exists. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Sends `signal` and waits for the process to be gone (SIGKILL after 30 s if a gentler signal is ignored). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.expectingExit = true;
    this.log.write(`[harness] sending ${signal} to worker ${child.pid ?? -1}`);
    child.kill(signal);
    const exited = this.exited;
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      timer.unref();
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  }

  /** Stops the worker for good (graceful, then forced). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.kill('SIGTERM');
  }
}
