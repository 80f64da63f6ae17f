/**
 * The worker runtime: the SDK's native core, installed once per process before any connection or worker exists.
 * It carries the runtime's own logs and, when asked, its metrics in Prometheus's format: the SDK's own (task
 * latencies, failures, slots, the sticky cache) and every metric baton's workflows and activities record through the
 * SDK's metric meter.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from '@temporalio/worker';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import type { Logger as JsonLogger } from 'pino';

/** How the runtime is installed. */
export interface WorkerRuntimeOptions {
  /**
   * `host:port` the runtime serves its Prometheus text on (the worker's ops server reads it from there); no metrics
   * when omitted.
   */
  metricsBindAddress?: string;
  /**
   * Where the SDK's logs go: workflow and activity log lines (with their workflow id, run id and activity) and the
   * native core's own, forwarded. Without one, only warnings and errors are printed, in the SDK's text format.
   */
  logger?: Logger;
}

let installed: WorkerRuntimeOptions | undefined;

/**
 * Installs the runtime once; later calls keep the first installation (the SDK allows one per process) and return
 * it, so a caller can tell whether metrics are on.
 */
export function installWorkerRuntime(options: WorkerRuntimeOptions = {}): WorkerRuntimeOptions {
  if (installed !== undefined) return installed;
  installed = options;
  const { metricsBindAddress, logger } = options;
  Runtime.install({
    // Without a logger of the process's, only the runtime's problems are worth a line.
    logger: logger ?? new DefaultLogger('WARN'),
    telemetryOptions: {
      // The core's lines join the process's logger (its warnings: failing workflow tasks, lost connections).
      ...(logger === undefined ? {} : { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } }),
      ...(metricsBindAddress === undefined
        ? {}
        : {
            metrics: {
              // Prometheus's conventions, as Temporal's dashboards and alert guides query them: counters end in
              // `_total`, durations are seconds with the unit in the name.
              prometheus: {
                bindAddress: metricsBindAddress,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
                // A payment waits on its bank for seconds to days: buckets that tell a fast one from a parked one.
                histogramBucketOverrides: {
                  baton_payment_duration: [
                    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400,
                  ],
                },
              },
            },
          }),
    },
  });
  return installed;
}

/** Installs the runtime without metrics, for tests, tools and the benchmark. */
export function quietWorkerRuntime(): void {
  installWorkerRuntime();
}

/** Where this process's runtime serves its Prometheus text, when it was installed with metrics. */
export function runtimeMetricsUrl(): string | undefined {
  const address = installed?.metricsBindAddress;
  return address === undefined ? undefined : `http://${address}/metrics`;
}

const PINO_LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Temporal's logger interface over a pino logger: the SDK's metadata become fields of the line. */
export function temporalLogger(logger: JsonLogger): Logger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) =>
    logger[PINO_LEVELS[level]](plainFields(meta), message);
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/** The SDK's metadata as plain fields: an error keeps its type and message, not its whole object graph. */
function plainFields(meta: LogMetadata | undefined): Record<string, unknown> {
  if (meta === undefined) return {};
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    // An activity's task token only repeats its ids, at length.
    if (key === 'taskToken') continue;
    fields[key] = value instanceof Error ? { type: value.name, message: value.message } : value;
  }
  return fields;
}
