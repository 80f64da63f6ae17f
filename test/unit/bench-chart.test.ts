import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeXml, linearTicks, logTicks, renderChart } from '../../bench/chart';
import { renderProgress } from '../../bench/progress';

describe('benchmark chart', () => {
  test('draws one throughput line and one latency line per series, with its percentiles in the legend', () => {
    const svg = renderChart({
      title: 'baton <bench> & co',
      subtitle: 'two phases',
      series: [
        {
          label: 'ceiling',
          color: '#1f77b4',
          throughput: [
            { t: 1, perSec: 10 },
            { t: 2, perSec: 12 },
          ],
          latenciesMs: [100, 200, 300, 400],
        },
        {
          label: 'payments',
          color: '#ff7f0e',
          throughput: [{ t: 1, perSec: 8 }],
          latenciesMs: [150, 250],
        },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.match(svg, /baton &lt;bench&gt; &amp; co/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
    assert.match(svg, /ceiling: p50 250ms, p99 397ms/);
    assert.match(svg, /payments: p50 200ms, p99 249ms/);
    assert.doesNotMatch(svg, /NaN/);
  });

  test('renders an empty run without NaN coordinates', () => {
    const svg = renderChart({ title: 't', subtitle: 's', series: [] });
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });

  test('picks round ticks', () => {
    assert.deepEqual(linearTicks(10), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(linearTicks(0), [0]);
    assert.deepEqual(logTicks(90, 1100), [100, 200, 500, 1000]);
    assert.equal(escapeXml(`"a'`), '&quot;a&apos;');
  });
});

describe('benchmark progress bar', () => {
  test('shows done of total, the rate and what is in flight', () => {
    const line = renderProgress(
      'payments',
      { done: 50, total: 100, inFlight: 20, failed: 0, elapsedMs: 10_000 },
      10,
    );
    assert.equal(line, 'payments   [#####-----]  50/100  5.0/s  in flight 20  10s');
  });

  test('mentions failures only when there are some', () => {
    const line = renderProgress('ceiling', { done: 3, total: 3, inFlight: 0, failed: 1, elapsedMs: 0 }, 4);
    assert.equal(line, 'ceiling    [####] 3/3  0.0/s  in flight 0  0s  failed 1');
  });
});
