/**
 * A business metric in a real Prometheus's own graph page, in real Chromium (Debian's): payments with mixed outcomes
 * run on a whole local stack, Prometheus (Debian's, which ships the classic web UI) scrapes the worker's ops port, and
 * the page draws `baton_payments_ended_total` by outcome and reason. The screenshot lands in test-results/e2e/;
 * `npm run screenshots` (BATON_E2E_README_SHOTS=1) also copies it over the README's picture in docs/screenshots/.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';
import { startPayment } from '../../client/payments';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { resolvePrometheusTool, startPrometheus } from '../../local/prometheus';
import type { RunningPrometheus } from '../../local/prometheus';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { freePort } from '../../services/ports';
import { installWorkerRuntime } from '../../temporal/runtime';
import { BUSINESS_METRICS } from '../../workflows/metrics';
import { PaymentStatus, RejectionReason } from '../../workflows/payment-contract';
import type { PaymentRequest } from '../../workflows/payment-contract';
import { eventually } from '../support/eventually';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-results', 'e2e');
const README_SHOTS = path.join(ROOT, 'docs', 'screenshots');
// Only on request: a test run must leave the tracked tree as it found it.
const UPDATE_README_SHOTS = process.env.BATON_E2E_README_SHOTS === '1';
const SHOT = 'prometheus-payments-by-outcome';
const UI_TIMEOUT = 60_000;

const ENDED = BUSINESS_METRICS.paymentsEnded;
const QUERY = `sum by (outcome, reason) (${ENDED})`;

/** The three ends the demo provokes, each by what it pays: the beneficiary's name or the account's balance. */
const KINDS = {
  settled: { outcome: PaymentStatus.Settled, reason: 'none' },
  amlHit: { outcome: PaymentStatus.Rejected, reason: RejectionReason.AmlHit },
  noFunds: { outcome: PaymentStatus.Rejected, reason: RejectionReason.InsufficientFunds },
} as const;
type Kind = keyof typeof KINDS;

// Rounds, so the graph shows counts growing over time; the totals differ, so no line hides another at the end.
const ROUNDS: readonly Readonly<Record<Kind, number>>[] = [
  { settled: 2, amlHit: 1, noFunds: 1 },
  { settled: 1, amlHit: 0, noFunds: 1 },
  { settled: 2, amlHit: 1, noFunds: 1 },
];
const TOTALS = Object.fromEntries(
  (Object.keys(KINDS) as Kind[]).map((kind) => [kind, ROUNDS.reduce((sum, round) => sum + round[kind], 0)]),
) as Record<Kind, number>;

const schema = uniqueSchema('e2e_prometheus');
const tag = Date.now().toString(36);
let stack: LocalStack | undefined;
let prometheus: RunningPrometheus | undefined;
let promDir: string | undefined;
let browser: Browser | undefined;
/** When Prometheus first held the first round's total (its clock, in seconds), for the graph's range. */
let firstSeen = 0;

/** A payment that ends as `kind` does: a clear name pays from the rich account, unless it is meant to bounce. */
function payment(kind: Kind, paymentId: string): PaymentRequest {
  return {
    paymentId,
    // The demo's poor account holds 40.00 EUR.
    fromAccountId: kind === 'noFunds' ? 'A-1002-EUR' : 'A-1001-EUR',
    amountMinor: kind === 'noFunds' ? 500_00 : 12_50,
    currency: 'EUR',
    beneficiary: {
      name: kind === 'amlHit' ? AML_DEMO_NAMES.hit : AML_DEMO_NAMES.clear,
      country: 'DE',
      iban: 'DE89370400440532013000',
    },
  };
}

/** One instant query's single value, or undefined while Prometheus has no such series. */
async function scalar(prom: RunningPrometheus, expr: string): Promise<number | undefined> {
  const [first] = await prom.query(expr);
  return first === undefined ? undefined : Number(first.value[1]);
}

/**
 * Runs one round's payments to their ends, then waits until Prometheus holds the new total for a few scrapes; returns
 * the time of the scrape that first held it.
 */
async function runRound(
  live: LocalStack,
  prom: RunningPrometheus,
  index: number,
  expectedTotal: number,
): Promise<number> {
  const round = ROUNDS[index] ?? assert.fail(`no round ${index}`);
  const runs = (Object.keys(KINDS) as Kind[]).flatMap((kind) =>
    Array.from({ length: round[kind] }, async (_, n) => {
      const started = await startPayment(
        live.client,
        payment(kind, `prom-${tag}-${index}-${kind}-${n}`),
        live.taskQueue,
      );
      const state = await started.handle.result();
      assert.equal(state.status, KINDS[kind].outcome, `${kind} payment ${n} of round ${index}`);
      assert.equal(state.reason ?? 'none', KINDS[kind].reason);
    }),
  );
  await Promise.all(runs);
  const seenAt = await eventually(`Prometheus to count ${expectedTotal} ended payments`, async () =>
    (await scalar(prom, `sum(${ENDED})`)) === expectedTotal
      ? scalar(prom, `max(timestamp(${ENDED}))`)
      : undefined,
  );
  // A flat stretch between rounds, so each round reads as a step; Prometheus's own clock says when it is there.
  await eventually('two more scrapes of the same total', async () => {
    const latest = await scalar(prom, `max(timestamp(${ENDED}))`);
    return latest !== undefined && latest >= seenAt + 2 ? true : undefined;
  });
  return seenAt;
}

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  if (UPDATE_README_SHOTS) await mkdir(README_SHOTS, { recursive: true });
  // The runtime is the process's: installed with metrics before the stack connects anything.
  installWorkerRuntime({ metricsBindAddress: `127.0.0.1:${await freePort()}` });
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema, bankDelayMs: 50 });
  const opsUrl = stack.worker.opsUrl ?? assert.fail('the worker has no ops port');

  promDir = await mkdtemp(path.join(os.tmpdir(), 'baton-e2e-prometheus-'));
  prometheus = await startPrometheus({
    binaryPath: await resolvePrometheusTool('prometheus'),
    port: await freePort(),
    dataDir: promDir,
    jobs: { 'baton-worker': [new URL(opsUrl).host] },
    scrapeInterval: '1s',
  });
  const prom = prometheus;
  await eventually('the worker scraped', async () =>
    (await scalar(prom, 'up{job="baton-worker"}')) === 1 ? true : undefined,
  );

  let total = 0;
  for (let i = 0; i < ROUNDS.length; i++) {
    total += Object.values(ROUNDS[i] ?? {}).reduce((sum, n) => sum + n, 0);
    const seenAt = await runRound(stack, prom, i, total);
    if (i === 0) firstSeen = seenAt;
  }

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // This machine has no outside network: keep Chromium from reaching for it.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await prometheus?.stop();
  if (promDir !== undefined) await rm(promDir, { recursive: true, force: true });
  await stack?.stop();
  await dropSchema(schema);
});

describe("Prometheus's graph page", () => {
  test('draws the ended payments by outcome and reason, one line each, from what it scraped', async () => {
    const prom = prometheus ?? assert.fail('no Prometheus');
    const live = browser ?? assert.fail('no browser');
    // The figures first, from Prometheus's API: what the picture must show.
    const series = await prom.query(QUERY);
    const counted = Object.fromEntries(
      series.map((s) => [`${s.metric.outcome}/${s.metric.reason}`, Number(s.value[1])]),
    );
    assert.deepEqual(
      counted,
      Object.fromEntries(
        (Object.keys(KINDS) as Kind[]).map((kind) => [
          `${KINDS[kind].outcome}/${KINDS[kind].reason}`,
          TOTALS[kind],
        ]),
      ),
    );

    // The range covers the payments and a moment before them; the end is now.
    const rangeSeconds = Math.ceil(Date.now() / 1000 - firstSeen) + 2;
    const params = new URLSearchParams({
      'g0.expr': QUERY,
      'g0.tab': '0', // the Graph tab, not the Console
      'g0.range_input': `${rangeSeconds}s`,
      'g0.stacked': '0',
    });
    const page = await live.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
    page.setDefaultTimeout(UI_TIMEOUT);
    // Debian's Prometheus 2.42 serves the classic UI (jQuery and Rickshaw) at /classic/graph; /graph redirects there.
    await page.goto(`${prom.url}/graph?${params.toString()}`, { waitUntil: 'load' });
    assert.match(page.url(), /\/classic\/graph\?/);
    await page.locator('.graph svg path').first().waitFor();
    const legend = page.locator('.legend');
    for (const { outcome, reason } of Object.values(KINDS)) {
      await legend.getByText(`{outcome="${outcome}",reason="${reason}"}`, { exact: true }).waitFor();
    }
    assert.equal(await legend.locator('.line').count(), Object.keys(KINDS).length);
    assert.equal(await page.getByText('No datapoints found.').count(), 0);
    // Nothing of a person or a payment id reaches a label the page could show.
    const text = await page.locator('body').innerText();
    assert.ok(!text.includes(tag) && !text.includes(AML_DEMO_NAMES.hit), 'no id or name on the page');

    // The page focuses its query box once it has listed the metric names; the picture is taken without the ring.
    await page.locator(`select[name=insert_metric] option[value="${ENDED}"]`).waitFor({ state: 'attached' });
    await page.evaluate('document.activeElement instanceof HTMLElement && document.activeElement.blur()');
    const file = path.join(ARTIFACTS, `${SHOT}.png`);
    // Bootstrap fades the ring out: the fade is run to its end for the picture. The viewport holds the whole page
    // but for a few pixels of margin the graph's width pushes past it; the README's pictures are all 1440x900.
    await page.screenshot({ path: file, animations: 'disabled' });
    if (UPDATE_README_SHOTS) await copyFile(file, path.join(README_SHOTS, `${SHOT}.png`));
    await page.close();
  });
});
