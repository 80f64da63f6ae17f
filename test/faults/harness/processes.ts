/**
 * baton's processes as real OS processes the fault suite can SIGKILL: the release's compiled worker and command
 * consumer run by plain node, as the image runs them, their output kept in a log file, and watched so an exit nobody
 * asked for is restarted the way a supervisor would.
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

/** Every process this harness spawned and has not seen exit; killed if the test process goes away. */
const alive = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/**
 * A line as text: baton's processes log JSON objects (pino), read here as their message followed by each other
 * field as `key=value`, the shape the SDK core's text lines have (so `run_id=…` and `failure=…` read alike).
 */
export function logText(line: string): string {
  if (!line.startsWith('{')) return line;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof parsed !== 'object' || parsed === null || !('msg' in parsed)) return line;
  const { msg, level: _level, time: _time, service: _service, ...fields } = parsed as Record<string, unknown>;
  const parts = Object.entries(fields).map(
    ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
  return [String(msg), ...parts].join(' ');
}

/** How one start of a process went. */
export interface ProcessStart {
  /** Its process id (a worker's default Temporal identity is `<pid>@<host>`). */
  pid: number;
  /** When the process was spawned. */
  spawnedAt: number;
  /** When it printed its ready line (the worker: workflows bundled, webhook receiver listening, polling). */
  readyAt: number;
}

/** How to run one of baton's processes. */
export interface ServiceSpec {
  /** Name in the logs: "worker", "consumer". */
  label: string;
  /** The compiled entry file in a release. */
  entry: string;
  env: NodeJS.ProcessEnv;
  log: LineLog;
  /** The start of the line it prints once it does its job. */
  readyPrefix: string;
  readyTimeoutMs?: number;
}

/** One process of a scenario; restarted on the same environment (the worker: on the same webhook port). */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private stopped = false;
  /** Exits nobody asked for (each is followed by a restart). */
  unexpectedExits = 0;
  /** Every start, in order. */
  readonly starts: ProcessStart[] = [];
  /** Its name in the logs. */
  readonly label: string;
  private readonly log: LineLog;

  constructor(private readonly spec: ServiceSpec) {
    this.label = spec.label;
    this.log = spec.log;
  }

  /** Sees every line the process prints. */
  protected observe(line: string): void {
    void line;
  }

  /** Spawns the process and resolves once it is ready; throws with its last output if it dies or hangs first. */
  async start(): Promise<ProcessStart> {
    if (this.child !== undefined) throw new Error(`the ${this.label} is already running`);
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [this.spec.entry], {
      cwd: PROJECT_ROOT,
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.expectingExit = false;
    alive.add(child);
    const pid = child.pid ?? -1;
    this.log.write(`[harness] ${this.label} spawned (pid ${pid})`);

    let becameReady = false;
    let markReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const onLine = (raw: string) => {
      this.log.write(`[${this.label} ${pid}] ${raw}`);
      const line = logText(raw);
      this.observe(line);
      if (line.startsWith(this.spec.readyPrefix)) {
        becameReady = true;
        markReady();
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);

    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        alive.delete(child);
        this.log.write(
          `[harness] ${this.label} ${pid} exited (code ${String(code)}, signal ${String(signal)})`,
        );
        if (this.child === child) this.child = undefined;
        resolve();
        // A start that fails before it is ready is reported by start() itself, not restarted here.
        if (becameReady && !this.expectingExit && !this.stopped) {
          // A supervisor's job: a process that died on its own is started again, and the fact is counted.
          this.unexpectedExits += 1;
          void this.start().catch((err: unknown) =>
            this.log.write(`[harness] restart failed: ${String(err)}`),
          );
        }
      });
    });

    const timeout = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.spec.readyTimeoutMs ?? 240_000);
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
      throw new Error(`the ${this.label} did not start (${outcome}):\n${this.log.lastLines()}`);
    }
    const started = { pid, spawnedAt, readyAt: Date.now() };
    this.starts.push(started);
    this.log.write(`[harness] ${this.label} ${pid} ready after ${started.readyAt - spawnedAt} ms`);
    return started;
  }

  /** True while the process exists. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Sends `signal` and waits for the process to be gone (SIGKILL after 30 s if a gentler signal is ignored). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.expectingExit = true;
    this.log.write(`[harness] sending ${signal} to ${this.label} ${child.pid ?? -1}`);
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

  /** Stops the process for good (graceful, then forced). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.kill('SIGTERM');
  }
}

/** A worker of one scenario: ready once it polls; the workflow tasks it reports failing are collected. */
export class WorkerProcess extends ServiceProcess {
  /** The workflow tasks it reported failing, over all its starts. */
  readonly taskFailures = new WorkflowTaskFailures();

  constructor(
    /** A release's `js/workers/main.js`. */
    entry: string,
    env: NodeJS.ProcessEnv,
    log: LineLog,
    /** Its name in the logs: `worker`, or `worker-1`, `worker-2` beside others. */
    label = 'worker',
  ) {
    super({ label, entry, env, log, readyPrefix: 'worker polling' });
  }

  protected override observe(line: string): void {
    this.taskFailures.observe(line);
  }
}

/**
 * The command consumer of one scenario: ready once it says where it takes commands from and starts them. What it
 * says it did is kept for the report only; the checks read the broker and Temporal.
 */
export class CommandConsumerProcess extends ServiceProcess {
  /** Each run it said it started (`<kind> <id>`), with the event id of the command that did. */
  private readonly startedBy = new Map<string, string>();
  /** Each command whose run it found already there, by event id, with the run (`<kind> <id>`). */
  private readonly found: { run: string; eventId: string }[] = [];
  private startWaiters: (() => void)[] = [];

  constructor(
    /** A release's `js/client/command-consumer-main.js`. */
    entry: string,
    env: NodeJS.ProcessEnv,
    log: LineLog,
  ) {
    super({ label: 'consumer', entry, env, log, readyPrefix: 'command consumer:' });
  }

  /** Resolves at the next run it says it started, or after `timeoutMs`; true if it did. */
  nextStart(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.startWaiters = this.startWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.startWaiters.push(done);
    });
  }

  /** Commands whose run it found already there: a resend, or a redelivery. */
  get foundExisting(): number {
    return this.found.length;
  }

  /**
   * Commands that found the run no other command had started: the command itself had started it before a kill
   * dropped its acknowledgement (the start's own line never printed, or printed by the process that died).
   */
  get redeliveredAfterLostAck(): number {
    return this.found.filter(({ run, eventId }) => (this.startedBy.get(run) ?? eventId) === eventId).length;
  }

  protected override observe(line: string): void {
    const said = /^(started|found the run of) (payment|registration) (\S+) from command (\S+) /.exec(line);
    const [, what, kind, id, eventId] = said ?? [];
    if (what !== undefined && kind !== undefined && id !== undefined && eventId !== undefined) {
      if (what === 'started') this.startedBy.set(`${kind} ${id}`, eventId);
      else this.found.push({ run: `${kind} ${id}`, eventId });
    }
    if (line.startsWith('started ')) {
      const waiters = this.startWaiters;
      this.startWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
