/**
 * The Temporal Web UI in real Chromium (Debian's), against a whole local stack: what a person looks at to find a
 * payment and understand where it stands. Screenshots land in test-results/e2e/; `npm run screenshots` (this suite with
 * BATON_E2E_README_SHOTS=1) also copies them over the README's pictures in docs/screenshots/.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { paymentState, startPayment } from '../../client/payments';
import { runUiUrl } from '../../client/ui-links';
import { startRegistration } from '../../client/registrations';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { PaymentStatus } from '../../workflows/payment-contract';
import type { PaymentRequest } from '../../workflows/payment-contract';
import { freePort } from '../../services/ports';

const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-results', 'e2e');
const README_SHOTS = path.join(ROOT, 'docs', 'screenshots');
// Only on request: a test run must leave the tracked tree as it found it.
const UPDATE_README_SHOTS = process.env.BATON_E2E_README_SHOTS === '1';
const UI_TIMEOUT = 60_000;

let stack: LocalStack;
let browser: Browser;
let ui: string;
const runs: Record<'settled' | 'parked' | 'registration', { workflowId: string; runId: string }> = {
  settled: { workflowId: '', runId: '' },
  parked: { workflowId: '', runId: '' },
  registration: { workflowId: '', runId: '' },
};

function payment(paymentId: string, name: string): PaymentRequest {
  return {
    paymentId,
    fromAccountId: 'A-1001-EUR',
    amountMinor: 42_50,
    currency: 'EUR',
    beneficiary: { name, country: 'DE', iban: 'DE89370400440532013000' },
    timings: {
      amlReviewTimeoutMs: 60 * 60_000,
      bankStatusTimeoutMs: 30_000,
      bankPollAttempts: 3,
      bankPollIntervalMs: 5_000,
      needsAttentionRecheckMs: 60_000,
    },
  };
}

async function open(pathAndQuery: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(UI_TIMEOUT);
  await page.goto(`${ui}${pathAndQuery}`, { waitUntil: 'domcontentloaded' });
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (UPDATE_README_SHOTS) await copyFile(file, path.join(README_SHOTS, `${name}.png`));
  await page.close();
}

/** Waits until one of the page's frames shows text matching `pattern`. */
async function framedText(page: Page, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + UI_TIMEOUT;
  const seen: string[] = [];
  while (Date.now() < deadline) {
    seen.length = 0;
    for (const frame of page.frames()) {
      const text = await frame
        .locator('body')
        .innerText({ timeout: 1_000 })
        .catch(() => '');
      if (pattern.test(text)) return;
      seen.push(text.slice(0, 200));
    }
    await page.waitForTimeout(250);
  }
  assert.fail(`no frame shows ${String(pattern)}; frames held: ${JSON.stringify(seen)}`);
}

const runPath = (run: { workflowId: string; runId: string }) =>
  runUiUrl('', 'default', run.workflowId, run.runId);

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  if (UPDATE_README_SHOTS) await mkdir(README_SHOTS, { recursive: true });
  stack = await startLocalStack({ uiPort: await freePort(), bankDelayMs: 300 });
  ui = stack.uiUrl ?? assert.fail('the stack serves no UI');

  const settled = await startPayment(
    stack.client,
    payment('e2e-settled', AML_DEMO_NAMES.clear),
    stack.taskQueue,
  );
  const parked = await startPayment(
    stack.client,
    payment('e2e-parked', AML_DEMO_NAMES.review),
    stack.taskQueue,
  );
  const registration = await startRegistration(
    stack.client,
    {
      registrationId: 'e2e-registration',
      name: 'Ana Lima',
      email: 'ana.lima@example.com',
      channel: 'email',
      currency: 'EUR',
    },
    stack.taskQueue,
  );
  await settled.handle.result();
  await registration.handle.result();
  for (let i = 0; i < 300; i++) {
    if (
      (await paymentState(stack.client, 'e2e-parked').catch(() => undefined))?.status ===
      PaymentStatus.AwaitingAmlReview
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  runs.settled = { workflowId: settled.workflowId, runId: settled.runId };
  runs.parked = { workflowId: parked.workflowId, runId: parked.runId };
  runs.registration = { workflowId: registration.workflowId, runId: registration.runId };

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
  await stack?.stop();
});

describe('the Temporal UI', () => {
  test('lists the payment awaiting AML review when filtered by PaymentStatus, and only it', async () => {
    const page = await open(
      `/namespaces/default/workflows?query=${encodeURIComponent('PaymentStatus="awaiting_aml_review"')}`,
    );
    await page.getByText('payment:e2e-parked').first().waitFor();
    assert.equal(await page.getByText('payment:e2e-settled').count(), 0);
    await shoot(page, 'list-awaiting-review');
  });

  test("shows a settled payment's history and its input, decoded through the codec server", async () => {
    const page = await open(runPath(runs.settled));
    await page.getByText('Completed').first().waitFor();
    // The server stores the input encrypted; the browser shows it because the UI decodes it.
    await page.getByText(AML_DEMO_NAMES.clear).first().waitFor();
    await page
      .getByText(/debit 42\.50 EUR from A-1001-EUR|debitAccount/)
      .first()
      .waitFor();
    await shoot(page, 'payment-settled');
  });

  test('shows a payment waiting for AML review, with the summary of the step it stopped after', async () => {
    const page = await open(runPath(runs.parked));
    await page.getByText('Running').first().waitFor();
    await page
      .getByText(/AML screening of the beneficiary \(DE\)/)
      .first()
      .waitFor();
    await page.getByText(AML_DEMO_NAMES.review).first().waitFor();
    await shoot(page, 'payment-awaiting-review');
  });

  test('shows the summary, details and current details of a payment waiting for AML review', async () => {
    const page = await open(runPath(runs.parked));
    await page.getByText('User Metadata').first().click();
    // The UI renders each Markdown panel in its own sandboxed frame, after decoding it through the codec server.
    await framedText(page, /Pay 42\.50 EUR from A-1001-EUR to a beneficiary in DE/);
    await framedText(page, /from account: A-1001-EUR/);
    await framedText(page, /Waiting for AML review since \d\d:\d\d:\d\d UTC/);
    await framedText(page, /rejected at (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC/);
    await shoot(page, 'payment-current-details');
  });

  test('shows a completed registration', async () => {
    const page = await open(runPath(runs.registration));
    await page.getByText('registrationWorkflow').first().waitFor();
    await page.getByText('Completed').first().waitFor();
    await page.getByText('ana.lima@example.com').first().waitFor();
    await shoot(page, 'registration');
  });
});
