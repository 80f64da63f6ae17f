/**
 * The worker under test as a process of its own, forked by the benchmark so its CPU time and peak memory can be
 * read from /proc without the harness in them. Its configuration comes as JSON in BENCH_WORKER_CONFIG; it says
 * `ready` on the IPC channel once polling, and on `stop` drains, reports the ledger check, and exits.
 */
import { z } from 'zod';
import type { LedgerCheck, WorkerHost } from './worker-host';

/** Messages the worker process sends its parent. */
export type WorkerProcessMessage =
  | { type: 'ready'; startupMs: number }
  | { type: 'stopped'; ledger: LedgerCheck | undefined; signalFailures: number }
  | { type: 'failed'; message: string };

const parentMessage = z.object({ type: z.literal('stop') });
/** Enough of the configuration to know, before anything else loads, that the worker traces. */
const tracedConfig = z.object({ tracing: z.object({}) });

function send(message: WorkerProcessMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

async function main(): Promise<void> {
  const raw: unknown = JSON.parse(process.env.BENCH_WORKER_CONFIG ?? 'null');
  // A traced worker loads the instrumentation before anything loads pg or http, as workers/main.ts's first import
  // does; so the worker host, which loads them, is imported only after it.
  if (tracedConfig.safeParse(raw).success) await import('../services/telemetry/instrument');
  const { startWorkerHost, workerHostConfigSchema } = await import('./worker-host');
  const config = workerHostConfigSchema.parse(raw);
  let host: WorkerHost;
  try {
    host = await startWorkerHost(config);
  } catch (err) {
    await send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const ledger = await host.stop();
      await send({ type: 'stopped', ledger, signalFailures: host.signalFailures() });
      process.exit(0);
    })();
    return stopping;
  };
  process.on('message', (raw: unknown) => {
    if (parentMessage.safeParse(raw).success) void stop();
  });
  // A parent that dies without saying stop must not leave a worker polling.
  process.on('disconnect', () => void stop());
  await send({ type: 'ready', startupMs: host.startupMs });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
