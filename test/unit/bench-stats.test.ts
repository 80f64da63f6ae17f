import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  overallThroughput,
  percentile,
  ratio,
  stepDurations,
  summarize,
  throughputSeries,
} from '../../bench/stats';

describe('benchmark percentiles', () => {
  test('interpolates between the nearest ranks', () => {
    const sorted = [10, 20, 30, 40, 50];
    assert.equal(percentile(sorted, 50), 30);
    assert.equal(percentile(sorted, 0), 10);
    assert.equal(percentile(sorted, 100), 50);
    assert.equal(percentile(sorted, 25), 20);
    assert.equal(percentile(sorted, 90), 46);
    assert.equal(percentile([1, 2], 50), 1.5);
  });

  test('gives NaN for no values and the value itself for one', () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.equal(percentile([7], 99), 7);
  });

  test('summarises unsorted values, dropping non-finite ones', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    const summary = summarize([...values, Number.NaN]);
    assert.equal(summary.count, 100);
    assert.equal(summary.min, 1);
    assert.equal(summary.max, 100);
    assert.equal(summary.p50, 50.5);
    assert.equal(summary.p99, 99);
    assert.equal(summary.mean, 50.5);
  });
});

describe('benchmark step durations', () => {
  test('pairs consecutive moments of each run by name', () => {
    const durations = stepDurations([
      [
        { name: 'start', at: 0 },
        { name: 'received', at: 30 },
        { name: 'settled', at: 100 },
      ],
      [
        { name: 'start', at: 1000 },
        { name: 'received', at: 1050 },
      ],
    ]);
    assert.deepEqual(durations.get('start→received'), [30, 50]);
    assert.deepEqual(durations.get('received→settled'), [70]);
    assert.equal(durations.size, 2);
  });
});

describe('benchmark throughput', () => {
  test('counts completions per second in bins from the origin', () => {
    const series = throughputSeries([100, 900, 1500, 2999], 0, 1000);
    assert.deepEqual(series, [
      { t: 1, perSec: 2 },
      { t: 2, perSec: 1 },
      { t: 3, perSec: 1 },
    ]);
    assert.deepEqual(throughputSeries([], 0, 1000), []);
  });

  test('divides completions by the time from the first start to the last completion', () => {
    assert.equal(overallThroughput([0, 500], [1000, 2000, 4000, 4000]), 1);
    assert.equal(overallThroughput([], [1]), 0);
  });

  test('rounds ratios and refuses a zero or missing base', () => {
    assert.equal(ratio(8, 10), 0.8);
    assert.equal(ratio(2, 3), 0.667);
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(Number.NaN, 1), null);
  });
});
