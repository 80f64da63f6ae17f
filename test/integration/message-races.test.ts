/**
 * Messages that race a worker's death: the recipe that lost a reviewed payment in the fault suite, made
 * deterministic. A workflow-only worker process is SIGKILLed while an activity runs; a status query is asked while
 * nobody serves the run; the activity completes; a new worker answers the query from a history that holds the
 * completion no workflow task has processed yet, keeps the run, then gets that workflow task with the message. The
 * run it writes must replay on a worker with nothing cached, and finish as the message asked.
 *
 * The runs are of the revision before the lean steps (v5), whose screening is a regular activity: its completion is
 * what races the message. Under the lean steps screening is local, in the same task as the run's start, so that race
 * is left to the runs from before them that are still open; a build with the lean steps must finish those.
 *
 * RECORD_RACE_FIXTURES=1 also keeps each raced history as a replay fixture of that revision.
 */
import { createEventActivities } from '../../activities/events';
import type { EventActivities } from '../../activities/events';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { PaymentActivities, ScreeningResult } from '../../activities/payment';
import type { NotificationActivities } from '../../activities/notifications';
import { exportHistory } from '../../client/cli/history';
import { bundleWorkflows, writeWorkflowBundle } from '../../temporal/bundle';
import { replayHistories } from '../../temporal/replay';
import type { paymentWorkflow } from '../../workflows/payment';
import {
  bankStatusSignal,
  cancelUpdate,
  PaymentStatus,
  paymentStatusQuery,
  paymentWorkflowId,
  reviewUpdate,
} from '../../workflows/payment-contract';
import type { PaymentRequest, PaymentState } from '../../workflows/payment-contract';
import { HISTORIES_DIR, listInManifest } from '../replay/record-histories';
import { startTestTemporal } from '../support/temporal';
import { bundleOldBuild, WORKFLOW_API_BEFORE } from '../support/builds';
import type { TestTemporal } from '../support/temporal';

const EventType = proto.api.enums.v1.EventType;
/** The payment revision whose runs race here: the last before the lean steps. */
const RACED_REVISION = 'v5';
const TASK_QUEUE = `message-races-${process.pid}`;
/** Short, so the query and the workflow task leave the dead worker's sticky queue within seconds. */
const STICKY_TIMEOUT_MS = 3_000;
/** Between the query and the activity's completion: a third of the sticky timeout, so each side has a second. */
const QUERY_LEAD_MS = 1_000;
const RESULTS_DIR = path.join(__dirname, '..', '..', 'test-results', 'message-races');
const WORKER_MAIN = path.join(__dirname, '..', 'support', 'workflow-worker-main.ts');

let temporal: TestTemporal;
let bundle: WorkflowBundleWithSourceMap;
let currentBundle: WorkflowBundleWithSourceMap;
let bundleDir: string;
let activityWorker: Worker;
let activityWorkerRun: Promise<void>;
const spawned = new Set<ChildProcess>();

/** An activity call held until the test lets it finish. */
interface Hold {
  entered: Promise<void>;
  release(): void;
}
const holds = new Map<string, { enter: () => void; released: Promise<void> }>();
const aml = new Map<string, ScreeningResult['decision']>();
const reversed = new Set<string>();

function holdActivity(paymentId: string, activity: string): Hold {
  let enter = () => undefined as void;
  let release = () => undefined as void;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  holds.set(`${paymentId}:${activity}`, { enter, released });
  return { entered, release };
}

async function heldAt(paymentId: string, activity: string): Promise<void> {
  const held = holds.get(`${paymentId}:${activity}`);
  if (held === undefined) return;
  held.enter();
  await held.released;
}

const activities: PaymentActivities & Pick<NotificationActivities, 'contactForAccount'> & EventActivities = {
  // No bus here: the outcome events report they were not published.
  ...createEventActivities({}),
  async screenBeneficiary({ paymentId }) {
    await heldAt(paymentId, 'screenBeneficiary');
    const decision = aml.get(paymentId) ?? 'clear';
    return { decision, score: decision === 'clear' ? 0.1 : 0.9, reasons: [], matchedEntryId: 'SYN-1' };
  },
  async debitAccount({ paymentId }) {
    await heldAt(paymentId, 'debitAccount');
    return { transferId: `tr-${paymentId}-debit`, customerId: 'C-1' };
  },
  async reverseDebit({ paymentId }) {
    reversed.add(paymentId);
    return Promise.resolve({ transferId: `tr-${paymentId}-reversal` });
  },
  async submitToBank({ paymentId }) {
    await heldAt(paymentId, 'submitToBank');
    return { bankReference: `BANK-${paymentId}` };
  },
  async fetchBankStatus() {
    return Promise.resolve({ outcome: 'pending' as const });
  },
  async settlePayment({ paymentId }) {
    return Promise.resolve({ transferId: `tr-${paymentId}-settlement` });
  },
  async contactForAccount() {
    return Promise.resolve({ contact: null });
  },
};

/** A workflow-only worker process and everything it printed. */
interface WorkflowWorker {
  output: string[];
  kill(): Promise<void>;
}

async function startWorkflowWorker(): Promise<WorkflowWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      TASK_QUEUE,
      WORKFLOW_BUNDLE_PATH: path.join(bundleDir, 'workflows.js'),
      STICKY_TIMEOUT_MS: String(STICKY_TIMEOUT_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => spawned.delete(child));
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  child.stderr?.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      collect(chunk);
      if (output.includes('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`the workflow worker exited early:\n${output.join('\n')}`)));
  });
  return {
    output,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function request(paymentId: string): PaymentRequest {
  return {
    paymentId,
    fromAccountId: 'A-1001-EUR',
    amountMinor: 12_34,
    currency: 'EUR',
    beneficiary: { name: 'Synthetic Beneficiary', country: 'DE', iban: 'DE89370400440532013000' },
  };
}

async function until(handle: WorkflowHandle, done: (state: PaymentState) => boolean): Promise<PaymentState> {
  for (;;) {
    const state = await handle.query(paymentStatusQuery);
    if (done(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How one race goes: which activity is in flight when the worker dies, and the message sent after the query. */
interface Race {
  name: string;
  decision: ScreeningResult['decision'];
  heldActivity: 'screenBeneficiary' | 'submitToBank';
  /** True when the early query saw the held activity's result: the new worker applied it to answer. */
  queryAppliedIt(state: PaymentState): boolean;
  send(handle: WorkflowHandle<typeof paymentWorkflow>): Promise<unknown>;
  /** Drives the run to its end once the message is sent. */
  finish(handle: WorkflowHandle<typeof paymentWorkflow>, paymentId: string): Promise<void>;
  outcome: PaymentState['status'];
  /** The update whose acceptance must come after the commands of the workflow's reaction to the activity. */
  update?: 'review' | 'cancel';
}

const settleAtTheBank = async (handle: WorkflowHandle<typeof paymentWorkflow>, paymentId: string) => {
  await until(handle, (state) => state.status === PaymentStatus.Submitted && state.bank !== undefined);
  await handle.signal(bankStatusSignal, {
    bankReference: `BANK-${paymentId}`,
    outcome: 'settled',
    eventId: `evt-${paymentId}`,
  });
};

const RACES: readonly Race[] = [
  {
    name: 'review',
    decision: 'review',
    heldActivity: 'screenBeneficiary',
    queryAppliedIt: (state) => state.status === PaymentStatus.AwaitingAmlReview,
    send: (handle) =>
      handle.executeUpdate(reviewUpdate, { args: [{ decision: 'approve', reviewer: 'race-officer' }] }),
    finish: settleAtTheBank,
    outcome: PaymentStatus.Settled,
    update: 'review',
  },
  {
    name: 'cancel',
    decision: 'clear',
    heldActivity: 'screenBeneficiary',
    queryAppliedIt: (state) => state.aml?.decision === 'clear',
    send: (handle) => handle.executeUpdate(cancelUpdate),
    finish: () => Promise.resolve(),
    outcome: PaymentStatus.Cancelled,
    update: 'cancel',
  },
  {
    name: 'bank-status',
    decision: 'clear',
    heldActivity: 'submitToBank',
    queryAppliedIt: (state) => state.bank !== undefined,
    send: (handle) =>
      handle.signal(bankStatusSignal, {
        bankReference: `BANK-${handle.workflowId.slice('payment:'.length)}`,
        outcome: 'settled',
        eventId: `evt-${handle.workflowId}`,
      }),
    finish: () => Promise.resolve(),
    outcome: PaymentStatus.Settled,
  },
];

/** Whether the update was accepted after other commands of the same workflow task (the raced order). */
function acceptedAfterOtherCommands(history: proto.api.history.v1.IHistory): boolean {
  const events = history.events ?? [];
  const accepted = events.findIndex(
    (event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  );
  if (accepted < 1) return false;
  return events[accepted - 1]?.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
}

async function keepAsFixture(race: Race, workflowId: string, json: string): Promise<void> {
  const branch = `payment-race-${race.name}`;
  const file = `${branch}.${RACED_REVISION}.json`;
  await writeFile(path.join(HISTORIES_DIR, file), json + '\n');
  await listInManifest([
    { file, workflowId, workflowType: 'paymentWorkflow', branch, revision: RACED_REVISION, open: false },
  ]);
}

/** Runs one race; says whether the race set up as intended, and checks what must hold either way. */
async function runRace(race: Race, attempt: number): Promise<boolean> {
  const paymentId = `race-${race.name}-${attempt}-${process.pid}`;
  aml.set(paymentId, race.decision);
  const hold = holdActivity(paymentId, race.heldActivity);
  const first = await startWorkflowWorker();
  const handle = await temporal.client.workflow.start<typeof paymentWorkflow>('paymentWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: paymentWorkflowId(paymentId),
    args: [request(paymentId)],
  });
  await hold.entered;
  await first.kill();
  const second = await startWorkflowWorker();
  try {
    // Asked while no worker serves the run: it waits on the dead worker's sticky queue, then goes to the new one.
    const early = handle.query(paymentStatusQuery);
    // Gives the query time to reach the server before the activity's completion lands in the history; no event
    // marks that moment. The query then waits out the sticky timeout, and the message must follow its answer
    // before the completion's own workflow task leaves the sticky queue, QUERY_LEAD_MS later.
    await new Promise((resolve) => setTimeout(resolve, QUERY_LEAD_MS));
    hold.release();
    const seen = await early;
    await race.send(handle);
    await race.finish(handle, paymentId);
    const state = await handle.result();
    assert.equal(state.status, race.outcome, `${race.name}: the run ended as the message asked`);
    if (race.outcome === PaymentStatus.Cancelled)
      assert.ok(reversed.has(paymentId), 'the debit was reversed');

    const history = await handle.fetchHistory();
    const exported = await exportHistory(temporal.client, handle.workflowId);
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(path.join(RESULTS_DIR, `${paymentId}.json`), exported.json + '\n');
    for (const [build, code] of [
      ['its own build', bundle],
      ['the current build', currentBundle],
    ] as const) {
      const [replayed] = await replayHistories(
        [{ workflowId: handle.workflowId, history, source: paymentId }],
        code,
      );
      assert.equal(
        replayed?.ok,
        true,
        `${race.name}: replays with nothing cached on ${build}: ${replayed?.message ?? ''}`,
      );
    }
    const nondeterminism = second.output.filter((line) => line.includes('TMPRL1100'));
    assert.deepEqual(nondeterminism, [], `${race.name}: the worker logged no nondeterminism`);

    const raced =
      race.queryAppliedIt(seen) && (race.update === undefined || acceptedAfterOtherCommands(history));
    if (!raced)
      console.log(`${race.name}: attempt ${attempt} missed the race (the query saw ${seen.status})`);
    if (raced && process.env.RECORD_RACE_FIXTURES === '1') {
      await keepAsFixture(race, handle.workflowId, exported.json);
    }
    return raced;
  } finally {
    await second.kill();
  }
}

before(async () => {
  temporal = await startTestTemporal();
  // The build before the lean steps, by which these runs race (see above); the replay below is with the same code.
  [bundle, currentBundle] = await Promise.all([
    bundleOldBuild(WORKFLOW_API_BEFORE.leanSteps),
    bundleWorkflows(),
  ]);
  bundleDir = await mkdtemp(path.join(tmpdir(), 'baton-races-'));
  await writeWorkflowBundle(path.join(bundleDir, 'workflows.js'), bundle);
  activityWorker = await Worker.create({
    connection: temporal.nativeConnection,
    namespace: temporal.client.options.namespace,
    taskQueue: TASK_QUEUE,
    activities,
  });
  activityWorkerRun = activityWorker.run();
});

after(async () => {
  for (const child of spawned) child.kill('SIGKILL');
  activityWorker.shutdown();
  await activityWorkerRun;
  await temporal.stop();
  await rm(bundleDir, { recursive: true, force: true });
});

describe('messages racing a worker that died', () => {
  for (const race of RACES) {
    test(`a ${race.name} ${race.update ? 'update' : 'signal'} sent while a new worker took over replays and finishes the run`, async () => {
      // The set-up hangs on timing it cannot observe; a run that missed it still had to end well and replay.
      let raced = false;
      for (let attempt = 1; attempt <= 3 && !raced; attempt++) raced = await runRace(race, attempt);
      assert.ok(raced, `${race.name}: the new worker answered the query from the unprocessed completion`);
    });
  }
});
