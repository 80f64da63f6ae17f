/**
 * The bus checks are not blind either: on streams and a list of runs holding exactly what a few commands should
 * have left, they find nothing; a command with no run or two, an outcome announced twice or never, a dead letter
 * missing, vague or doubled, an invalid command that started a run, and a valid one dead-lettered, are each found.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBankSimulator } from '../../local/stand-ins/bank-simulator';
import type { BankSimulator } from '../../local/stand-ins/bank-simulator';
import { STREAMS } from '../../services/bus';
import type { StoredMessage, StreamName } from '../../services/bus';
import { Ledger } from '../../services/ledger';
import { invalidCommands } from './harness/commands';
import type { CommandTraffic } from './harness/commands';
import { checkBusInvariants } from './harness/invariants';
import type { BusCheckSources, ListedRun } from './harness/invariants';
import { planLoad, Progress } from './harness/load';
import type { LoadPlan } from './harness/load';
import { Rng } from './harness/random';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const schema = uniqueSchema('faults_buscheck');
let ledger: Ledger;
let bank: BankSimulator;
let plan: LoadPlan;

/** What one check reads: the streams' messages and Temporal's runs, each test starting from a clean copy. */
interface World {
  events: Record<string, unknown>[];
  deadLetters: Record<string, unknown>[];
  runs: ListedRun[];
  progress: Progress;
  commands: Pick<CommandTraffic, 'sent' | 'invalid' | 'counts'>;
}

function stored(event: Record<string, unknown>, sequence: number): StoredMessage {
  return {
    subject: 'baton.test',
    body: Buffer.from(JSON.stringify(event), 'utf8'),
    headers: {},
    sequence,
    time: new Date(),
  };
}

function sourcesOf(world: World): BusCheckSources {
  return {
    ledger,
    bank,
    bus: {
      // eslint-disable-next-line @typescript-eslint/require-await -- an async iterable, as the bus gives one
      async *read(stream: StreamName) {
        const messages = stream === STREAMS.events ? world.events : world.deadLetters;
        let sequence = 0;
        for (const event of messages) yield stored(event, ++sequence);
      },
    },
    listRuns: () => Promise.resolve(world.runs),
  };
}

/** Every run of the plan came by command, settled or completed, and announced once; every invalid command has its letter. */
function cleanWorld(): World {
  const progress = new Progress(plan.payments.length + plan.registrations.length);
  const events: Record<string, unknown>[] = [];
  const runs: ListedRun[] = [];
  const sent: CommandTraffic['sent'] = [];
  for (const item of [...plan.payments, ...plan.registrations]) {
    const status = item.type === 'payment' ? 'settled' : 'completed';
    progress.accepted.set(item.workflowId, Date.now());
    progress.markEnded(item.workflowId, { at: Date.now(), status });
    runs.push({ workflowId: item.workflowId, status: 'COMPLETED' });
    sent.push({ eventId: `cmd-${item.id}`, workflowId: item.workflowId, repeat: false });
    const event = item.type === 'payment' ? 'payment.settled' : 'registration.completed';
    events.push({ id: `${item.workflowId}:${event}`, subject: item.id });
  }
  const invalid = invalidCommands(plan).map((command) => ({ ...command, published: true }));
  const deadLetters = invalid.map((command) => ({
    id: `dead-letter:${command.eventId}`,
    data: { commandId: command.eventId, reason: `data: ${command.field} is wrong` },
  }));
  return {
    events,
    deadLetters,
    runs,
    progress,
    commands: {
      sent,
      invalid,
      counts: { publishes: sent.length, deduplicated: 0, sameIdResent: 0, newIdResent: 0 },
    },
  };
}

function check(world: World) {
  return checkBusInvariants(sourcesOf(world), plan, world.progress, world.commands);
}

function firstOf<T>(items: readonly T[], what: string): T {
  const item = items[0];
  if (item === undefined) throw new Error(`no ${what}`);
  return item;
}

before(async () => {
  ledger = await Ledger.open({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2 });
  bank = await startBankSimulator({
    webhookUrl: 'http://127.0.0.1:9/webhooks/bank',
    webhookSecret: 'checker-webhook-secret-0001',
  });
  plan = planLoad('cb', new Rng(7), {
    payments: { settle: 3, fail: 0, return: 0, review: 0, aml_hit: 0, insufficient: 0, tight: 0 },
    registrations: { email: 2, sms: 0, sms_fallback: 0 },
    viaBus: 1,
  });
});

after(async () => {
  await bank.close();
  await ledger.close();
  await dropSchema(schema);
});

describe('the fault suite bus checks', () => {
  it('find nothing wrong when each command made one run and each run one event', async () => {
    const result = await check(cleanWorld());
    assert.deepEqual(result.violations, []);
    assert.equal(result.counts.events, result.counts.eventsExpected);
    assert.equal(result.counts.deadLetters, result.counts.invalidCommands);
  });

  it('find a command that started no run, and one that started two', async () => {
    const world = cleanWorld();
    const [gone, doubled] = plan.payments;
    assert.ok(gone !== undefined && doubled !== undefined);
    // A lost command: the harness never saw its run, and Temporal has none.
    world.runs = world.runs.filter((run) => run.workflowId !== gone.workflowId);
    world.progress.accepted.delete(gone.workflowId);
    world.progress.ended.delete(gone.workflowId);
    world.runs.push({ workflowId: doubled.workflowId, status: 'COMPLETED' });
    const result = await check(world);
    const about = result.violations.filter((v) => v.invariant === 'oneRunPerCommand');
    assert.deepEqual(
      about.map((v) => [v.subject.includes(gone.id) ? 'gone' : 'doubled', v.kind]),
      [
        ['gone', 'lost'],
        ['doubled', 'duplicated'],
      ],
      JSON.stringify(result.violations),
    );
  });

  it('find an outcome announced twice, one never announced, and an event no run calls for', async () => {
    const world = cleanWorld();
    const twice = firstOf(world.events, 'event');
    const missing = world.events.splice(1, 1)[0];
    world.events.push({ ...twice }, { id: 'payment:cb-p999:payment.failed' });
    const result = await check(world);
    const about = result.violations.filter((v) => v.invariant === 'eventOnce');
    assert.equal(about.length, 3, JSON.stringify(result.violations));
    assert.ok(about.some((v) => v.kind === 'duplicated' && v.detail.includes(String(twice.id))));
    assert.ok(about.some((v) => v.kind === 'lost' && v.detail.includes(String(missing?.id))));
    assert.ok(about.some((v) => v.subject.includes('cb-p999')));
  });

  it('find a dead letter missing, one doubled, one that does not name the field, and a valid command dead-lettered', async () => {
    const world = cleanWorld();
    const [missing, doubled, vague] = world.deadLetters;
    assert.ok(missing !== undefined && doubled !== undefined && vague !== undefined);
    world.deadLetters = world.deadLetters.filter((letter) => letter !== missing);
    world.deadLetters.push({ ...doubled });
    vague.data = { commandId: (vague.data as { commandId: string }).commandId, reason: 'something is wrong' };
    const valid = firstOf(world.commands.sent, 'command');
    world.deadLetters.push({ data: { commandId: valid.eventId, reason: 'delivery: offered 5 times' } });
    const result = await check(world);
    const about = result.violations.filter((v) => v.invariant === 'deadLetterOnce');
    assert.equal(about.length, 4, JSON.stringify(result.violations));
    assert.ok(about.some((v) => v.detail === '0 dead letters'));
    assert.ok(about.some((v) => v.detail === '2 dead letters' && v.kind === 'duplicated'));
    assert.ok(about.some((v) => v.detail.includes('does not name')));
    assert.ok(about.some((v) => v.subject.includes(valid.eventId) && v.kind === 'lost'));
  });

  it('find an invalid command that started a run', async () => {
    const world = cleanWorld();
    const invalid = firstOf(world.commands.invalid, 'invalid command');
    world.runs.push({ workflowId: invalid.workflowId, status: 'COMPLETED' });
    const result = await check(world);
    const about = result.violations.filter((v) => v.invariant === 'deadLetterOnce');
    assert.equal(about.length, 1, JSON.stringify(result.violations));
    assert.match(about[0]?.detail ?? '', /started a run/);
    assert.equal(about[0]?.kind, 'duplicated');
  });
});
