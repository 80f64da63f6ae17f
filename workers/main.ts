/**
 * The worker process: hosts the workflows and activities and the bank webhook receiver, against whatever Temporal,
 * database and bank the environment names. Stops gracefully on SIGINT or SIGTERM.
 */
// First: the libraries it traces must be patched before anything loads them.
import '../services/telemetry/instrument';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config/config';
import { openServices, serviceSettingsFrom } from './services';
import { deploymentVersionName, startBatonWorker } from './worker';
import { loadWorkflowBundle, untracedBundleFile } from '../temporal/bundle';
import { connectClient, connectWorker } from '../temporal/connection';
import { ensureWatchdogSchedule } from './watchdog-schedule';
import { installWorkerRuntime, temporalLogger } from '../temporal/runtime';
import { freePort } from '../services/ports';
import { startTracing } from '../services/telemetry/tracing';
import { createLogger, lineLog } from '../services/telemetry/logger';

/** The worker's JSON log: its own lines, and the SDK's (workflows, activities, the core) through the runtime. */
const logger = createLogger({ service: 'baton-worker' });
const log = lineLog(logger);

async function main(): Promise<void> {
  const config = loadConfig();
  const tracing = startTracing({
    serviceName: 'baton-worker',
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  // The runtime goes in before any connection; its metrics port is private, the ops port passes them on.
  installWorkerRuntime({
    logger: temporalLogger(logger),
    ...(config.WORKER_METRICS === 'on' ? { metricsBindAddress: `127.0.0.1:${await freePort()}` } : {}),
  });
  // A prebuilt bundle is read before anything connects, so a wrong path stops the worker at once.
  const workflowBundle =
    config.WORKFLOW_BUNDLE_PATH === undefined
      ? undefined
      : await readBundle(config.WORKFLOW_BUNDLE_PATH, { traced: tracing.enabled });
  const services = await openServices(serviceSettingsFrom(config));
  const client = await connectClient(config);
  const connection = await connectWorker(config);
  try {
    const running = await startBatonWorker({
      connection,
      client,
      namespace: config.TEMPORAL_NAMESPACE,
      codecKeys: config.codecKeys,
      ...(workflowBundle === undefined ? {} : { workflowBundle }),
      ...(config.WORKER_MAX_CACHED_WORKFLOWS === undefined
        ? {}
        : { tuning: { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS } }),
      ...(config.workerDeployment === undefined ? {} : { deployment: config.workerDeployment }),
      services,
      webhook: { host: config.WEBHOOK_HOST, port: config.WEBHOOK_PORT, secret: config.BANK_WEBHOOK_SECRET },
      ops: { host: config.WORKER_OPS_HOST, port: config.WORKER_OPS_PORT },
      log,
    });
    if (config.WATCHDOG_INTERVAL_SECONDS > 0) {
      // Every worker makes sure of the schedule: the first one creates it, a changed interval updates it.
      const schedule = await ensureWatchdogSchedule(client, {
        intervalSeconds: config.WATCHDOG_INTERVAL_SECONDS,
      });
      log(
        `watchdog schedule ${schedule.scheduleId}: every ${schedule.intervalSeconds} s (${schedule.change})`,
      );
    }
    const cache = config.WORKER_MAX_CACHED_WORKFLOWS;
    const deployment = config.workerDeployment;
    log(
      `worker polling ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}) ` +
        (deployment === undefined
          ? 'unversioned; '
          : `as version ${deploymentVersionName(deployment)} (${deployment.behavior}); `) +
        `bank webhooks on ${running.webhookUrl}; ops (metrics, health) on ${running.opsUrl ?? '-'}; ` +
        `traces ${config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined ? 'not exported' : `to ${config.OTEL_EXPORTER_OTLP_ENDPOINT}`}` +
        (cache === undefined ? '' : `; caches ${cache} runs`),
    );
    // Worker.run() itself drains on SIGINT/SIGTERM; `finished` settles once it has.
    await running.finished;
  } finally {
    await connection.close();
    await client.connection.close();
    await services.close();
    await tracing.shutdown();
  }
}

/**
 * Loads the bundle WORKFLOW_BUNDLE_PATH names, or, for a worker that exports no spans, the untraced one a release
 * writes beside it (a bundle from an older build has none: the traced one then serves). A missing file is a
 * configuration error naming the variable.
 */
async function readBundle(
  file: string,
  { traced }: { traced: boolean },
): Promise<WorkflowBundleWithSourceMap> {
  if (!traced) {
    const untraced = await loadWorkflowBundle(untracedBundleFile(file)).catch(() => undefined);
    if (untraced !== undefined) return untraced;
  }
  try {
    return await loadWorkflowBundle(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new ConfigError([
        `WORKFLOW_BUNDLE_PATH: cannot read ${file} or ${file}.map (${code}); build it with npm run build:workflows`,
      ]);
    }
    throw err;
  }
}

main().catch((err: unknown) => {
  // A setting to fix is told plainly, to the person starting the process.
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'the worker failed');
  process.exit(err instanceof ConfigError ? 2 : 1);
});
