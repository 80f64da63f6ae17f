import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BenchUsageError, parseBenchArgs } from '../../bench/args';

const env = { TEST_DATABASE_URL: 'postgres://bench@127.0.0.1:5432/test' };

describe('benchmark arguments', () => {
  test('defaults to 1000 payments, 50 in flight, PostgreSQL from the environment, SQLite in WAL mode', () => {
    const options = parseBenchArgs([], env);
    assert.equal(options.payments, 1000);
    assert.equal(options.concurrency, 50);
    assert.equal(options.rate, undefined);
    assert.equal(options.warmup, 50);
    assert.equal(options.pglite, false);
    assert.equal(options.databaseUrl, env.TEST_DATABASE_URL);
    assert.equal(options.json, false);
    assert.deepEqual(options.currencies, ['EUR']);
    assert.equal(options.bundle, 'prebuilt');
    assert.equal(options.sqlite, 'wal');
  });

  test('reads counts, rates, worker settings and lists', () => {
    const options = parseBenchArgs(
      [
        '-n',
        '200',
        '--rate',
        '12.5',
        '--json',
        '--pglite',
        '--wf-slots',
        '80',
        '--wf-polls',
        '20',
        '--currencies',
        'eur,usd',
        '--skip',
        'replay,ceiling',
        '--ceiling-local',
        'screen,contact',
      ],
      env,
    );
    assert.equal(options.payments, 200);
    assert.equal(options.rate, 12.5);
    assert.equal(options.warmup, 20);
    assert.equal(options.json, true);
    assert.equal(options.pglite, true);
    assert.equal(options.workflowSlots, 80);
    assert.equal(options.workflowPolls, 20);
    assert.deepEqual(options.currencies, ['EUR', 'USD']);
    assert.deepEqual(options.skip, ['replay', 'ceiling']);
    assert.deepEqual(options.ceilingLocalSteps, ['screen', 'contact']);
  });

  test('passes Node.js flags to the worker process and can leave out goal phases', () => {
    const options = parseBenchArgs(
      [
        '--skip',
        'at-70,single',
        '--parked-n',
        '300',
        '--worker-node-options=--max-semi-space-size=2 --no-opt',
      ],
      env,
    );
    assert.deepEqual(options.workerNodeOptions, ['--max-semi-space-size=2', '--no-opt']);
    assert.deepEqual(options.skip, ['at-70', 'single']);
    assert.equal(options.parkedPayments, 300);
    assert.equal(options.singlePayments, 60);
  });

  test('refuses a parked phase of no payments', () => {
    assert.throws(() => parseBenchArgs(['--parked-n', '0'], env), /--parked-n must be at least 1/);
  });

  test('runs the worker from the sources unless told to run a compiled release', () => {
    assert.equal(parseBenchArgs([], env).workerRuntime, 'tsx');
    assert.equal(parseBenchArgs(['--worker-runtime', 'compiled'], env).workerRuntime, 'compiled');
  });

  test('eager start brings the worker into the harness process', () => {
    const options = parseBenchArgs(['--eager'], env);
    assert.equal(options.eager, true);
    assert.equal(options.inProcess, true);
  });

  test('measures the cluster with 200 payments a phase unless told otherwise', () => {
    const options = parseBenchArgs(['--cluster'], env);
    assert.equal(options.cluster, true);
    assert.equal(options.payments, 200);
    assert.equal(options.warmup, 20);
    assert.equal(parseBenchArgs(['--cluster', '-n', '80', '-c', '10'], env).payments, 80);
    assert.equal(parseBenchArgs([], env).cluster, false);
  });

  for (const [args, why] of [
    [['--cluster', '--pglite'], /not with --pglite/],
    [['--cluster', '--eager', '--skip', 'replay'], /not with --eager, --skip/],
    [['-n', '0'], /at least 1/],
    [['-n', 'many'], /must be a number/],
    [['--rate=-2'], /above 0/],
    [['--rate', '0'], /above 0/],
    [['--wf-slots', '1'], /at least 2/],
    [['--wf-polls', '50'], /cannot exceed/],
    [['--cache', '1'], /--cache must be at least 2/],
    [['--currencies', 'EUR,XYZ'], /unknown currency/],
    [['--skip', 'payments,lunch'], /not one of/],
    [['--bundle', 'maybe'], /not one of/],
    [['--worker-runtime', 'bun'], /not one of/],
    [['--worker-runtime', 'compiled', '--eager'], /a process of its own/],
    [['--accounts', '1', '--currencies', 'EUR,USD'], /at least the number of currencies/],
    [['--frobnicate'], /Unknown option/],
  ] as const) {
    test(`refuses ${args.join(' ')}`, () => {
      assert.throws(
        () => parseBenchArgs(args, env),
        (err: unknown) => err instanceof BenchUsageError && why.test(err.message),
      );
    });
  }
});
