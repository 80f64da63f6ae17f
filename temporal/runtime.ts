/**
 * The worker runtime: the SDK's native core, installed once per process before any connection or worker exists.
 * It carries the runtime's own logs and, when asked, its metrics in Prometheus's format: the SDK's own (task
 * latencies, failures, slots, the sticky cache) and every metric baton's workflows and activities record through the
 * SDK's metric meter.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';

/** How the runtime is installed. */
export interface WorkerRuntimeOptions {
  /**
   * `host:port` the runtime serves its Prometheus text on (the worker's ops server reads it from there); no metrics
   * when omitted.
   */
  metricsBindAddress?: string;
}

let installed: WorkerRuntimeOptions | undefined;

/**
 * Installs the runtime once; later calls keep the first installation (the SDK allows one per process) and return
 * it, so a caller can tell whether metrics are on.
 */
export function installWorkerRuntime(options: WorkerRuntimeOptions = {}): WorkerRuntimeOptions {
  if (installed !== undefined) return installed;
  installed = options;
  const { metricsBindAddress } = options;
  Runtime.install({
    // Only the runtime's problems are worth a line; baton logs its own events.
    logger: new DefaultLogger('WARN'),
    ...(metricsBindAddress === undefined
      ? {}
      : {
          telemetryOptions: {
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
          },
        }),
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
