/**
 * Deploying a new build to a worker deployment on a Temporal cluster, step by step as an operator does it with the
 * Temporal CLI. The old build is the workflow code from before the lean-steps change, the new build today's; their
 * workers are processes of a compiled release, each loading its build's bundle. Auto-upgrade (baton's default):
 * payments parked at the bank on the old build finish on the new one once it is current and the old workers are
 * gone, their money moved once, every history replaying on the new build; a ledger step in flight on an old worker
 * when it gets SIGTERM finishes there. Pinned: a run stays on the version it started on while new runs go to the new
 * one, and the operator stops the old workers only once the server says their version is drained.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startPayment } from '../../client/payments';
import { startEphemeralCluster } from '../../local/ephemeral-cluster';
import type { EphemeralCluster } from '../../local/ephemeral-cluster';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { TEMPORAL_DEPLOY_DIR } from '../../local/temporal-cluster';
import type { VersioningBehaviorSetting } from '../../config/config';
import { freePort } from '../../services/ports';
import { loadWorkflowBundle, untracedBundleFile, writeWorkflowBundle } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { paymentWorkflow } from '../../workflows/payment';
import { TASK_QUEUE } from '../../workflows/task-queue';
import { bundleOldBuild, WORKFLOW_API_BEFORE } from '../support/builds';
import { eventually } from '../support/eventually';
import { activitiesRun } from '../support/history';
import { Client as PgClient } from 'pg';
import { startHttpFront } from '../../local/http-front';
import type { HttpFront } from '../../local/http-front';
import { webhookDecidedPayment } from '../support/payments';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { buildRelease, PROJECT_ROOT, ReleaseWorker } from '../support/release';
import type { BuiltRelease } from '../support/release';
import { moneyOf, paymentHistory, releaseHeldWebhook } from '../support/upgrade';

const execFileAsync = promisify(execFile);
const { VersionDrainageStatus, VersioningBehavior, TaskQueueType } = temporal.api.enums.v1;

const DEPLOYMENT = 'baton';
const LEDGER_STEPS = ['screenBeneficiary', 'debitAccount', 'settlePayment'];
/**
 * Test only: the server checks a version that stopped being current for open pinned runs seconds after, and every
 * few seconds from then on, instead of after three minutes and every three minutes.
 */
const QUICK_DRAINAGE_CHECKS = `
matching.wv.VersionDrainageStatusVisibilityGracePeriod:
  - value: 2s
matching.wv.VersionDrainageStatusRefreshInterval:
  - value: 2s
`;

const schema = uniqueSchema('cluster_deploy');
const workDir = path.join(PROJECT_ROOT, 'test-results', `cluster-deploy-${process.pid}`);
/** Each worker's output, kept after the run (ignored by git). */
const logDir = path.join(PROJECT_ROOT, 'test-results', 'cluster-deploy');
let cluster: EphemeralCluster;
let stack: LocalStack;
let release: BuiltRelease;
/** Each build's bundle file, as a worker's WORKFLOW_BUNDLE_PATH names it. */
const bundleFiles = { old: '', new: '' };
/** The bundles a worker loads from those files, for replaying what it wrote. */
let bundles: { old: WorkflowBundleWithSourceMap; new: WorkflowBundleWithSourceMap };
/** Where the bank posts its webhooks: the webhook receivers of whichever workers run, as a load balancer does. */
let webhookFront: HttpFront;
const workers: { worker: ReleaseWorker; webhookUrl: string }[] = [];
/** Row locks a test still holds (released after a failure, or dropping the schema would wait on them). */
const heldLocks = new Set<() => Promise<void>>();

before(async () => {
  await mkdir(workDir, { recursive: true });
  await rm(logDir, { recursive: true, force: true });
  await mkdir(logDir, { recursive: true });
  const dynamicConfigFile = path.join(workDir, 'dynamicconfig.yaml');
  const shipped = await readFile(path.join(TEMPORAL_DEPLOY_DIR, 'dynamicconfig.yaml'), 'utf8');
  await writeFile(dynamicConfigFile, `${shipped}${QUICK_DRAINAGE_CHECKS}`);

  release = await buildRelease(path.join(workDir, 'release'));
  bundleFiles.new = release.bundle;
  // The release before the change, as far as the workflows go; a worker that exports no spans loads its traced
  // bundle, as it does any release's that has no untraced one.
  bundleFiles.old = path.join(workDir, 'before-lean-steps', 'workflow-bundle.js');
  await writeWorkflowBundle(bundleFiles.old, await bundleOldBuild(WORKFLOW_API_BEFORE.leanSteps));
  bundles = {
    old: await loadWorkflowBundle(bundleFiles.old),
    new: await loadWorkflowBundle(untracedBundleFile(bundleFiles.new)),
  };

  cluster = await startEphemeralCluster({ dynamicConfigFile });
  // The stack gives the ledger, the bank, NATS and the sinks. Its own in-process worker is no part of the
  // deployment: it polls a queue of its own and is stopped at once, which frees the port the bank posts to.
  stack = await startLocalStack({
    temporal: { address: cluster.server.address, namespace: cluster.server.namespace },
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    taskQueue: `${TASK_QUEUE}-unused`,
    workflowBundle: bundles.new,
  });
  await stack.worker.stop();
  webhookFront = await startHttpFront({
    port: stack.webhook.port,
    targets: () => workers.map((w) => w.webhookUrl),
  });
});

/** Releases what a test left behind, so a test that failed half-way cannot hold up the next (locks, workers). */
async function cleanUpTest(): Promise<void> {
  for (const unlock of heldLocks) await unlock();
  for (const { worker } of workers) await worker.stop();
  workers.length = 0;
}

afterEach(cleanUpTest);

after(async () => {
  await cleanUpTest();
  await webhookFront?.close();
  await stack?.stop();
  await cluster?.stop();
  await dropSchema(schema);
  await rm(workDir, { recursive: true, force: true });
});

/** Starts a worker of the release running `build`'s workflows as version `baton:<buildId>`; resolves once it polls. */
async function startDeploymentWorker(
  build: 'old' | 'new',
  buildId: string,
  behavior: VersioningBehaviorSetting,
): Promise<ReleaseWorker> {
  const webhookPort = await freePort();
  const worker = new ReleaseWorker(
    `worker ${buildId}`,
    release,
    {
      ...process.env,
      TEMPORAL_ADDRESS: cluster.server.address,
      TEMPORAL_NAMESPACE: cluster.server.namespace,
      TEMPORAL_API_KEY: '',
      TEMPORAL_TLS_CERT_PATH: '',
      TEMPORAL_TLS_KEY_PATH: '',
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      BANK_URL: stack.bank.url,
      BANK_WEBHOOK_SECRET: stack.webhook.secret,
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_PORT: String(webhookPort),
      WORKER_OPS_PORT: String(await freePort()),
      WORKER_METRICS: 'off',
      NATS_URL: stack.nats.url,
      SMTP_URL: stack.mailSink.url,
      TWILIO_API_BASE_URL: stack.smsSink.url,
      AML_WATCHLIST_PATH: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      LOG_LEVEL: 'info',
      WATCHDOG_INTERVAL_SECONDS: '0',
      WORKER_MAX_CACHED_WORKFLOWS: '',
      WORKFLOW_BUNDLE_PATH: bundleFiles[build],
      WORKER_DEPLOYMENT_NAME: DEPLOYMENT,
      WORKER_BUILD_ID: buildId,
      WORKER_VERSIONING_BEHAVIOR: behavior,
    },
    path.join(logDir, `worker-${buildId}.log`),
  );
  workers.push({ worker, webhookUrl: `http://127.0.0.1:${webhookPort}` });
  const ready = await worker.line(/^worker polling /);
  assert.match(
    ready,
    new RegExp(` as version ${DEPLOYMENT}:${buildId.replace(/\./g, '\\.')} \\(${behavior}\\); `),
  );
  return worker;
}

/** Runs the Temporal CLI against the cluster, as an operator would; its standard output. */
async function temporalCli(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(cluster.tools.cli, [
    ...args,
    '--address',
    cluster.server.address,
    '--namespace',
    cluster.server.namespace,
  ]);
  return stdout;
}

/** What the server knows of version `baton:<buildId>`. */
async function versionInfo(buildId: string) {
  const answer = await stack.client.workflowService.describeWorkerDeploymentVersion({
    namespace: cluster.server.namespace,
    deploymentVersion: { deploymentName: DEPLOYMENT, buildId },
  });
  return answer.workerDeploymentVersionInfo ?? undefined;
}

/**
 * Waits until the version's workers have polled baton's queue for workflow and for activity tasks (a version exists
 * only once its workers poll) and the deployment lists it, then makes it current:
 * `temporal worker deployment set-current-version`.
 */
async function makeCurrent(buildId: string): Promise<void> {
  await eventually(`version ${buildId} registered on ${TASK_QUEUE}`, async () => {
    const types = (await versionInfo(buildId))?.taskQueueInfos
      ?.filter((queue) => queue.name === TASK_QUEUE)
      .map((queue) => queue.type);
    const both =
      types?.includes(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW) &&
      types.includes(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
    return both === true ? true : undefined;
  });
  await eventually(`version ${buildId} listed by deployment ${DEPLOYMENT}`, async () => {
    const described = await stack.client.workflowService.describeWorkerDeployment({
      namespace: cluster.server.namespace,
      deploymentName: DEPLOYMENT,
    });
    const listed = described.workerDeploymentInfo?.versionSummaries?.some(
      (summary) => summary.deploymentVersion?.buildId === buildId,
    );
    return listed === true ? true : undefined;
  });
  // The deployment's record is a workflow that the server continues as new after every change to it (a version
  // registering a task queue, a drainage check). A query that reaches it at that moment misses it, and the CLI
  // answers "Worker Deployment not found" though it exists; the operator runs the command again, and so does this.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await temporalCli(
        'worker',
        'deployment',
        'set-current-version',
        '--deployment-name',
        DEPLOYMENT,
        '--build-id',
        buildId,
        '--yes',
      );
      return;
    } catch (error) {
      const missed = error instanceof Error && error.message.includes('Worker Deployment not found');
      if (!missed || attempt === 10) throw error;
      console.log(
        `set-current-version ${buildId}: the deployment's record was missed (try ${attempt}); again`,
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Waits until the server says no open pinned run is left on the version. */
async function untilDrained(buildId: string): Promise<void> {
  await eventually(`version ${buildId} drained`, async () => {
    const drainage = (await versionInfo(buildId))?.drainageInfo;
    return drainage?.status === VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED ? true : undefined;
  });
}

/** Milliseconds of a protobuf timestamp. */
function millis(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(ts?.seconds ?? 0) * 1000 + (ts?.nanos ?? 0) / 1e6;
}

/** The run's versioning as the server describes it: its behavior and the build that completed its last task. */
async function versioningOf(paymentId: string): Promise<{ behavior: string; buildId: string }> {
  const described = await stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).describe();
  const info = described.raw.workflowExecutionInfo?.versioningInfo;
  return {
    behavior: VersioningBehavior[info?.behavior ?? VersioningBehavior.VERSIONING_BEHAVIOR_UNSPECIFIED],
    buildId: info?.deploymentVersion?.buildId ?? '',
  };
}

/** The builds that completed the run's workflow tasks, in order, each once per stretch. */
async function buildsThatRan(paymentId: string): Promise<string[]> {
  const builds: string[] = [];
  for (const event of (await paymentHistory(stack, paymentId)).events ?? []) {
    const buildId = event.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId;
    if (buildId != null && buildId !== builds.at(-1)) builds.push(buildId);
  }
  return builds;
}

/** Whether the run took its ledger steps as local activities (the lean steps) or as regular ones (the build before). */
async function ledgerStepsRan(paymentId: string): Promise<'local' | 'regular' | 'mixed'> {
  const steps = activitiesRun(await paymentHistory(stack, paymentId)).filter((a) =>
    LEDGER_STEPS.includes(a.type),
  );
  assert.deepEqual(
    steps.map((a) => a.type).sort(),
    [...LEDGER_STEPS].sort(),
    `${paymentId} ran every ledger step`,
  );
  if (steps.every((a) => a.local)) return 'local';
  return steps.every((a) => !a.local) ? 'regular' : 'mixed';
}

/** The identity of the worker that ran the run's activity `type` (`<pid>@<host>`), and whether it completed. */
async function activityRun(
  paymentId: string,
  type: string,
): Promise<{ identity: string; completed: boolean }> {
  const events = (await paymentHistory(stack, paymentId)).events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type,
  )?.eventId;
  const started = events.find(
    (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled),
  );
  const completed = events.some(
    (e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled),
  );
  return { identity: started?.activityTaskStartedEventAttributes?.identity ?? '', completed };
}

/**
 * Keeps the account's ledger row locked, so a debit of it waits inside its ledger transaction: a step in flight for
 * as long as the test likes (well within the step's 30 s timeout).
 */
async function lockAccount(
  accountId: string,
): Promise<{ untilStepWaits(): Promise<void>; release(): Promise<void> }> {
  const holder = new PgClient({ connectionString: TEST_DATABASE_URL });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(`SELECT id FROM "${schema}".accounts WHERE id = $1 FOR UPDATE`, [accountId]);
  const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const holderPid = rows[0]?.pid;
  const unlock = async () => {
    heldLocks.delete(unlock);
    await holder.query('ROLLBACK');
    await holder.end();
  };
  heldLocks.add(unlock);
  return {
    untilStepWaits: async () => {
      await eventually('a ledger step waiting on the locked account', async () => {
        // Another connection: pg_stat_activity is read once per transaction, and the holder's stays open.
        const watcher = new PgClient({ connectionString: TEST_DATABASE_URL });
        await watcher.connect();
        try {
          const waiting = await watcher.query(
            'SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
            [holderPid],
          );
          return waiting.rowCount !== null && waiting.rowCount > 0 ? true : undefined;
        } finally {
          await watcher.end();
        }
      });
    },
    release: unlock,
  };
}

/** Waits until the bank has decided the payment and holds its final webhook. */
async function untilParkedAtBank(paymentId: string): Promise<void> {
  await eventually(`${paymentId} parked at the bank`, () =>
    Promise.resolve(stack.bank.heldWebhooks().includes(paymentId) ? true : undefined),
  );
}

/** Starts a payment that parks at the bank (its final webhook held) and waits until it does. */
async function parkAtBank(paymentId: string, amountMinor: number): Promise<void> {
  stack.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 100, holdWebhook: true });
  await startPayment(stack.client, webhookDecidedPayment(paymentId, amountMinor));
  await untilParkedAtBank(paymentId);
}

/** The payment's final status, once its run ends. */
async function finalStatus(paymentId: string): Promise<string> {
  const handle = stack.client.workflow.getHandle<typeof paymentWorkflow>(paymentWorkflowId(paymentId));
  return (await handle.result()).status;
}

/** Replays each payment's history with `bundle`: `[paymentId, ok, message]` per payment. */
async function replayWith(
  bundle: WorkflowBundleWithSourceMap,
  paymentIds: string[],
): Promise<[string, boolean, string][]> {
  const histories = await Promise.all(
    paymentIds.map(async (paymentId) => ({
      workflowId: paymentWorkflowId(paymentId),
      history: await paymentHistory(stack, paymentId),
      source: paymentId,
    })),
  );
  const outcomes = await replayHistories(histories, bundle, stack.codecKeys);
  return outcomes.map((o) => [o.source, o.ok, o.message ?? '']);
}

describe('deploying a new build to the worker deployment', () => {
  test('auto-upgrade: payments parked on the old build finish on the new one, their money moved once', async () => {
    const OLD = 'before-lean-steps';
    const NEW = 'lean-steps';
    const tag = Date.now().toString(36);
    const parked = [`deploy-${tag}-parked-1`, `deploy-${tag}-parked-2`];
    const inFlight = `deploy-${tag}-in-flight`;
    const fresh = `deploy-${tag}-fresh`;

    const oldWorker = await startDeploymentWorker('old', OLD, 'auto-upgrade');
    await makeCurrent(OLD);
    for (const [i, paymentId] of parked.entries()) await parkAtBank(paymentId, 10_00 + i);
    for (const paymentId of parked) {
      assert.deepEqual(await versioningOf(paymentId), {
        behavior: 'VERSIONING_BEHAVIOR_AUTO_UPGRADE',
        buildId: OLD,
      });
    }

    // The deploy: the new build's workers start beside the old ones; nothing reaches them until they are current.
    const newWorker = await startDeploymentWorker('new', NEW, 'auto-upgrade');
    // One more payment, whose debit is still in flight on the old worker when that worker is told to stop.
    const account = await lockAccount(webhookDecidedPayment(inFlight, 12_00).fromAccountId);
    stack.bank.setScenario(inFlight, { outcome: 'settled', delayMs: 100, holdWebhook: true });
    await startPayment(stack.client, webhookDecidedPayment(inFlight, 12_00));
    await account.untilStepWaits();
    await makeCurrent(NEW);
    // No run is pinned to the old version, so it drains at the server's first check; its workers may then go.
    await untilDrained(OLD);
    oldWorker.signal('SIGTERM');
    await oldWorker.line(/^Worker state changed .*state=STOPPING/);
    await account.release();
    assert.deepEqual(await oldWorker.exited, { code: 0, signal: null }, 'the old worker drained and exited');
    await untilParkedAtBank(inFlight);
    const debit = await activityRun(inFlight, 'debitAccount');
    assert.ok(debit.completed, 'the debit in flight at SIGTERM completed');
    assert.ok(
      debit.identity.startsWith(`${oldWorker.pid}@`),
      `the old worker (pid ${oldWorker.pid}) finished it, not ${debit.identity}`,
    );

    // The bank answers: every parked payment takes its next step on the new build.
    for (const paymentId of [...parked, inFlight]) {
      assert.ok(await releaseHeldWebhook(stack, paymentId), `the bank held the final status of ${paymentId}`);
    }
    for (const paymentId of [...parked, inFlight]) {
      assert.equal(await finalStatus(paymentId), PaymentStatus.Settled);
      assert.deepEqual(
        await moneyOf(stack, paymentId),
        ['debit', 'settlement'],
        `${paymentId} moved money once`,
      );
      assert.deepEqual(
        await buildsThatRan(paymentId),
        [OLD, NEW],
        `${paymentId} went from the old build to the new`,
      );
      assert.deepEqual(await versioningOf(paymentId), {
        behavior: 'VERSIONING_BEHAVIOR_AUTO_UPGRADE',
        buildId: NEW,
      });
      // Begun before the change, it kept the old steps on the new build: the patch at work.
      assert.equal(await ledgerStepsRan(paymentId), 'regular');
    }

    stack.bank.setScenario(fresh, { outcome: 'settled', delayMs: 100 });
    await startPayment(stack.client, webhookDecidedPayment(fresh, 13_00));
    assert.equal(await finalStatus(fresh), PaymentStatus.Settled);
    assert.deepEqual(await versioningOf(fresh), {
      behavior: 'VERSIONING_BEHAVIOR_AUTO_UPGRADE',
      buildId: NEW,
    });
    assert.deepEqual(await buildsThatRan(fresh), [NEW]);
    assert.equal(await ledgerStepsRan(fresh), 'local');
    assert.deepEqual(await moneyOf(stack, fresh), ['debit', 'settlement']);

    const all = [...parked, inFlight, fresh];
    assert.deepEqual(
      await replayWith(bundles.new, all),
      all.map((paymentId) => [paymentId, true, '']),
    );

    newWorker.signal('SIGTERM');
    assert.deepEqual(await newWorker.exited, { code: 0, signal: null });
  });

  test('pinned: a run stays on its version while new runs go to the new one, and its workers stop once it is drained', async () => {
    const OLD = 'before-lean-steps.pinned';
    const NEW = 'lean-steps.pinned';
    const tag = Date.now().toString(36);
    const stays = `deploy-${tag}-stays`;
    const fresh = `deploy-${tag}-fresh`;

    const oldWorker = await startDeploymentWorker('old', OLD, 'pinned');
    await makeCurrent(OLD);
    await parkAtBank(stays, 20_00);
    assert.deepEqual(await versioningOf(stays), { behavior: 'VERSIONING_BEHAVIOR_PINNED', buildId: OLD });

    const newWorker = await startDeploymentWorker('new', NEW, 'pinned');
    await makeCurrent(NEW);
    stack.bank.setScenario(fresh, { outcome: 'settled', delayMs: 100 });
    await startPayment(stack.client, webhookDecidedPayment(fresh, 21_00));
    assert.equal(await finalStatus(fresh), PaymentStatus.Settled);
    assert.deepEqual(await versioningOf(fresh), { behavior: 'VERSIONING_BEHAVIOR_PINNED', buildId: NEW });
    assert.equal(await ledgerStepsRan(fresh), 'local');

    // The server has looked for open runs pinned to the old version since it stopped being current, and found one:
    // the old workers must stay.
    const draining = await eventually(`a drainage check of ${OLD}`, async () => {
      const drainage = (await versionInfo(OLD))?.drainageInfo;
      return drainage != null && millis(drainage.lastCheckedTime) > millis(drainage.lastChangedTime)
        ? drainage
        : undefined;
    });
    assert.equal(draining.status, VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING);

    assert.ok(await releaseHeldWebhook(stack, stays), 'the bank held the final status of the pinned payment');
    assert.equal(await finalStatus(stays), PaymentStatus.Settled);
    assert.deepEqual(await buildsThatRan(stays), [OLD], 'the pinned payment ran on the old build to its end');
    assert.equal(await ledgerStepsRan(stays), 'regular');
    assert.deepEqual(await moneyOf(stack, stays), ['debit', 'settlement']);

    await untilDrained(OLD);
    oldWorker.signal('SIGTERM');
    assert.deepEqual(await oldWorker.exited, { code: 0, signal: null });

    assert.deepEqual(await replayWith(bundles.old, [stays]), [[stays, true, '']]);
    assert.deepEqual(await replayWith(bundles.new, [fresh]), [[fresh, true, '']]);
    newWorker.signal('SIGTERM');
    assert.deepEqual(await newWorker.exited, { code: 0, signal: null });
  });
});
