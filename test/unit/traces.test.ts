import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { traceArgs } from '../../client/cli/trace-commands';
import { UsageError } from '../../client/cli/support';
import {
  chooseTrace,
  escapeXml,
  fetchTrace,
  findProcessTrace,
  JaegerError,
  parseLookback,
  TraceNotFoundError,
  traceRows,
  traceSvg,
  waterfall,
} from '../../client/traces';
import type { JaegerTrace } from '../../client/traces';
import { runCli } from '../support/cli';

const T0 = 1_750_000_000_000_000; // µs since the epoch

function span(
  spanID: string,
  operationName: string,
  processID: string,
  startUs: number,
  durationUs: number,
  parent?: string,
  tags: { key: string; type: string; value: unknown }[] = [],
) {
  return {
    traceID: 'a1b2c3',
    spanID,
    operationName,
    references: parent === undefined ? [] : [{ refType: 'CHILD_OF', traceID: 'a1b2c3', spanID: parent }],
    startTime: T0 + startUs,
    duration: durationUs,
    tags,
    logs: [],
    processID,
    warnings: null,
  };
}

/** A payment's start: three services, nested four deep, one failed bank call, and a webhook span whose parent is missing. */
const START_TRACE = {
  traceID: 'a1b2c3',
  // Out of order on purpose: the tree is built from the references and start times, not the array.
  spans: [
    span('s3', 'RunActivity:debit', 'p2', 20_000, 10_000, 's2'),
    span('s6', 'HandleSignal:bankWebhook', 'p2', 60_000, 2_000, 'gone'),
    span('s1', 'StartWorkflow:paymentWorkflow', 'p1', 0, 4_000, undefined, [
      { key: 'temporalWorkflowId', type: 'string', value: 'payment:p-1' },
    ]),
    span('s5', 'POST /v1/payments <bank>', 'p3', 8_000, 12_500, 's4', [
      { key: 'error', type: 'bool', value: true },
    ]),
    span('s2', 'RunWorkflow:paymentWorkflow', 'p2', 1_000, 90_000, 's1'),
    span('s4', 'RunActivity:submitToBank', 'p2', 5_000, 30_000, 's2', [
      { key: 'otel.status_code', type: 'string', value: 'OK' },
    ]),
  ],
  processes: {
    p1: { serviceName: 'baton-client', tags: [] },
    p2: { serviceName: 'baton-worker', tags: [] },
    p3: { serviceName: 'bank-simulator', tags: [] },
  },
  warnings: null,
};

/** A later webhook's trace of the same payment: more spans, but no StartWorkflow. */
const WEBHOOK_TRACE = {
  traceID: 'ffff01',
  spans: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
    ...span(`w${i}`, `step ${i}`, 'p1', i * 1_000, 500, i === 0 ? undefined : 'w0'),
    traceID: 'ffff01',
  })),
  processes: { p1: { serviceName: 'baton-worker', tags: [] } },
  warnings: null,
};

const trace = START_TRACE as unknown as JaegerTrace;

describe('a trace drawn as rows', () => {
  test('puts children under parents, siblings by start time, and an orphan at the root level', () => {
    const rows = traceRows(trace);
    assert.deepEqual(
      rows.map((r) => [r.spanId, r.parentId, r.depth]),
      [
        ['s1', null, 0],
        ['s2', 's1', 1],
        ['s4', 's2', 2],
        ['s5', 's4', 3],
        ['s3', 's2', 2],
        ['s6', null, 0],
      ],
    );
  });

  test('measures offsets from the first span, in ms, and names each span with its service and status', () => {
    const rows = traceRows(trace);
    assert.deepEqual(
      rows.map((r) => [r.name, r.service, r.startOffsetMs, r.durationMs, r.status]),
      [
        ['StartWorkflow:paymentWorkflow', 'baton-client', 0, 4, 'ok'],
        ['RunWorkflow:paymentWorkflow', 'baton-worker', 1, 90, 'ok'],
        ['RunActivity:submitToBank', 'baton-worker', 5, 30, 'ok'],
        ['POST /v1/payments <bank>', 'bank-simulator', 8, 12.5, 'error'],
        ['RunActivity:debit', 'baton-worker', 20, 10, 'ok'],
        ['HandleSignal:bankWebhook', 'baton-worker', 60, 2, 'ok'],
      ],
    );
  });

  test('reads otel.status_code ERROR as an error too', () => {
    const failed = {
      ...START_TRACE,
      spans: [
        span('x', 'x', 'p1', 0, 1, undefined, [{ key: 'otel.status_code', type: 'string', value: 'ERROR' }]),
      ],
    } as unknown as JaegerTrace;
    assert.equal(traceRows(failed)[0]?.status, 'error');
  });

  test('draws a waterfall: a header, then one indented row per span with its bar on a 40-column scale', () => {
    const lines = waterfall(trace);
    assert.equal(
      lines[0],
      'trace a1b2c3 · 6 spans · services: baton-client, baton-worker, bank-simulator · 91.0 ms',
    );
    assert.match(lines[1] ?? '', /^span\s+service\s+start ms\s+dur ms\s+status\s+timeline$/);
    const body = lines.slice(2);
    assert.equal(body.length, 6);
    assert.match(
      body[0] ?? '',
      /^StartWorkflow:paymentWorkflow\s+baton-client\s+0\.0\s+4\.0\s+ok\s+│██ {38}│$/,
    );
    assert.match(
      body[1] ?? '',
      /^ {2}RunWorkflow:paymentWorkflow\s+baton-worker\s+1\.0\s+90\.0\s+ok\s+│█{40}│$/,
    );
    assert.match(
      body[3] ?? '',
      /^ {6}POST \/v1\/payments <bank>\s+bank-simulator\s+8\.0\s+12\.5\s+error\s+│ {3}▓{7} {30}│$/,
    );
    assert.match(body[5] ?? '', /^HandleSignal:bankWebhook\s+baton-worker\s+60\.0\s+2\.0\s+ok/);
    for (const line of body) assert.equal(/│(.*)│$/.exec(line)?.[1]?.length, 40, line);
    // Every column starts at the same place on every row.
    const at = (line: string) => line.indexOf('│');
    assert.equal(new Set(body.map(at)).size, 1);
  });
});

/** Tags balance and no bare `<`, `>` or `&` stands in text: enough of XML to know a browser will draw it. */
function assertXmlish(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, closing, name = '', , selfClosing] = match;
    if (selfClosing === '/') continue;
    if (closing === '/') assert.equal(stack.pop(), name, `</${name}> closes nothing open`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  const text = svg.replace(/<\/?[a-zA-Z][^<>]*>/g, '');
  assert.doesNotMatch(text, /[<>]/, 'no bare < or > in text');
  assert.doesNotMatch(text, /&(?!(amp|lt|gt|quot|apos);)/, 'no bare & in text');
}

describe('a trace drawn as SVG', () => {
  const svg = traceSvg(trace, { title: 'payment:p-1 & co' });

  test('is one standalone, well-formed SVG document about 1000 px wide', () => {
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1000" '), svg.slice(0, 80));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assertXmlish(svg);
    assert.doesNotMatch(
      svg,
      /<script|<style|@import|href=|url\(/,
      'no scripts, stylesheets or external resources',
    );
  });

  test('names every span and service, escaped, and escapes a < in a span name', () => {
    for (const row of traceRows(trace)) {
      assert.ok(svg.includes(`>${escapeXml(row.name)}</text>`), row.name);
      assert.ok(svg.includes(`>${escapeXml(row.service)}</text>`), row.service);
    }
    assert.ok(svg.includes('POST /v1/payments &lt;bank&gt;'));
    assert.ok(!svg.includes('<bank>'));
    assert.ok(svg.includes('payment:p-1 &amp; co'));
  });

  test('colours bars by service with a legend, marks the failed span red, and labels the axis in ms', () => {
    const fills = [
      ...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="12" rx="2" fill="(#[0-9a-f]{6})"/g),
    ].map((m) => m[1]);
    // Six bars and four legend swatches (three services and the error mark).
    assert.equal(fills.length, 10);
    assert.equal(new Set(fills.slice(0, 6)).size, 3);
    assert.equal((svg.match(/stroke="#d73a49"/g) ?? []).length, 2, 'the failed bar and its legend swatch');
    assert.match(svg, />12\.5 ms · error<\/text>/);
    assert.match(svg, />0 ms<\/text>/);
    assert.match(svg, />\d+ ms<\/text>/);
    assert.ok(svg.includes('>error</text>'));
  });

  test('escapes what XML cannot hold', () => {
    assert.equal(escapeXml(`a<b>&"c'\u0001`), 'a&lt;b&gt;&amp;&quot;c&apos;');
  });
});

describe('choosing a trace', () => {
  test('prefers the trace that started the workflow over a larger later one, else the largest', () => {
    const start = START_TRACE as unknown as JaegerTrace;
    const webhook = WEBHOOK_TRACE as unknown as JaegerTrace;
    assert.equal(chooseTrace([webhook, start])?.traceID, 'a1b2c3');
    const small = { ...webhook, traceID: 'small', spans: webhook.spans.slice(0, 2) };
    assert.equal(chooseTrace([small, webhook])?.traceID, 'ffff01');
    assert.equal(chooseTrace([]), undefined);
  });

  test('reads lookbacks in minutes, hours and days', () => {
    assert.deepEqual(parseLookback('2d'), { label: '2d', ms: 172_800_000 });
    assert.deepEqual(parseLookback('30m'), { label: '30m', ms: 1_800_000 });
    for (const bad of ['', '2', '2w', '0m', '91d', '1.5h']) assert.equal(parseLookback(bad), undefined, bad);
  });
});

describe("the reader of Jaeger's query API", () => {
  let server: Server;
  let baseUrl: string;
  const asked: URL[] = [];
  /** What the fake Jaeger answers: status and body, by request. */
  let answer: (url: URL) => [number, string] = () => [200, '{"data":[]}'];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://jaeger');
      asked.push(url);
      if (url.pathname.startsWith('/hang/')) return;
      const [status, body] = answer(url);
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Answers searches for `workflowId` with `traces`, and every other search with none. */
  const searchesFind = (workflowId: string, traces: unknown[]) => (url: URL) =>
    [
      200,
      JSON.stringify({ data: url.searchParams.get('tags')?.includes(`"${workflowId}"`) ? traces : [] }),
    ] as [number, string];

  test("searches baton-worker spans by the payment's workflow id over the lookback, and picks the start trace", async () => {
    answer = searchesFind('payment:p-1', [WEBHOOK_TRACE, START_TRACE]);
    asked.length = 0;
    const before = Date.now() * 1000;
    const found = await findProcessTrace({ baseUrl }, 'p-1', { label: '2d', ms: 172_800_000 });
    assert.equal(found.workflowId, 'payment:p-1');
    assert.equal(found.trace.traceID, 'a1b2c3');
    assert.equal(found.matched, 2);
    const search = asked.find((u) => u.searchParams.get('tags')?.includes('payment:p-1'));
    assert.equal(search?.pathname, '/api/traces');
    assert.equal(search?.searchParams.get('service'), 'baton-worker');
    assert.deepEqual(JSON.parse(search?.searchParams.get('tags') ?? ''), {
      temporalWorkflowId: 'payment:p-1',
    });
    assert.equal(search?.searchParams.get('limit'), '20');
    assert.equal(search?.searchParams.get('lookback'), '2d');
    const start = Number(search?.searchParams.get('start'));
    const end = Number(search?.searchParams.get('end'));
    assert.equal(end - start, 172_800_000_000);
    assert.ok(end >= before && end <= Date.now() * 1000);
  });

  test("falls back to the registration's workflow id when no payment has the id", async () => {
    answer = searchesFind('registration:r-1', [START_TRACE]);
    const found = await findProcessTrace({ baseUrl }, 'r-1');
    assert.equal(found.workflowId, 'registration:r-1');
    assert.equal(found.matched, 1);
  });

  test('says which ids it looked for and how far back when no trace is found', async () => {
    answer = () => [200, '{"data":[],"total":0,"limit":0,"offset":0,"errors":null}'];
    await assert.rejects(
      findProcessTrace({ baseUrl }, 'p-9', { label: '12h', ms: 43_200_000 }),
      (err: unknown) =>
        err instanceof TraceNotFoundError &&
        err.lookback === '12h' &&
        /payment:p-9 or registration:p-9 in the last 12h/.test(err.message),
    );
  });

  test('reads one trace by id, and says so when Jaeger has none', async () => {
    answer = (url) =>
      url.pathname === '/api/traces/a1b2c3'
        ? [200, JSON.stringify({ data: [START_TRACE] })]
        : [404, '{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}'];
    assert.equal((await fetchTrace({ baseUrl }, 'a1b2c3')).spans.length, 6);
    await assert.rejects(
      fetchTrace({ baseUrl }, 'beef'),
      (err: unknown) => err instanceof TraceNotFoundError && /has no trace beef/.test(err.message),
    );
  });

  test('rejects a malformed answer with a clear error', async () => {
    answer = () => [
      200,
      JSON.stringify({ data: [{ traceID: 'a1', spans: [{ spanID: 7 }], processes: {} }] }),
    ];
    await assert.rejects(
      fetchTrace({ baseUrl }, 'a1'),
      (err: unknown) =>
        err instanceof JaegerError &&
        err.code === 'jaeger_malformed' &&
        err.message.startsWith(
          `Jaeger at ${baseUrl} answered GET /api/traces/a1 with a body that is not a list of traces (data.0.spans.0.`,
        ),
    );
    answer = () => [200, '<html>not jaeger</html>'];
    await assert.rejects(
      fetchTrace({ baseUrl }, 'a1'),
      (err: unknown) =>
        err instanceof JaegerError && /not JSON; is JAEGER_QUERY_URL its query API/.test(err.message),
    );
  });

  test("reports Jaeger's own error messages", async () => {
    answer = () => [400, '{"data":null,"errors":[{"code":400,"msg":"malformed \'tags\' parameter"}]}'];
    await assert.rejects(
      findProcessTrace({ baseUrl }, 'p-1'),
      (err: unknown) =>
        err instanceof JaegerError &&
        err.code === 'jaeger_failed' &&
        /HTTP 400 \(malformed 'tags' parameter\)/.test(err.message),
    );
  });

  test('names the URL and the variable that sets it when Jaeger cannot be reached or does not answer', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(
      fetchTrace({ baseUrl: closedUrl }, 'a1'),
      (err: unknown) =>
        err instanceof JaegerError &&
        err.code === 'jaeger_unreachable' &&
        err.message.startsWith(`cannot reach Jaeger at ${closedUrl} (`) &&
        err.message.includes('JAEGER_QUERY_URL'),
    );
    await assert.rejects(
      fetchTrace({ baseUrl: `${baseUrl}/hang`, timeoutMs: 100 }, 'a1'),
      (err: unknown) => err instanceof JaegerError && /no answer within 100 ms/.test(err.message),
    );
  });

  test('the CLI prints the rows as JSON and writes the SVG, reading the fake Jaeger', async () => {
    answer = searchesFind('payment:p-1', [WEBHOOK_TRACE, START_TRACE]);
    const dir = await mkdtemp(path.join(tmpdir(), 'baton-trace-'));
    try {
      const file = path.join(dir, 'docs', 'trace.svg');
      const run = await runCli({ JAEGER_QUERY_URL: baseUrl }, 'trace', 'p-1', '--json', '--svg', file);
      assert.equal(run.code, 0, run.stderr);
      const rows = JSON.parse(run.stdout) as { spanId: string; depth: number }[];
      assert.deepEqual(
        rows.map((r) => r.spanId),
        ['s1', 's2', 's4', 's5', 's3', 's6'],
      );
      assert.deepEqual(Object.keys(rows[0] ?? {}).sort(), [
        'depth',
        'durationMs',
        'name',
        'parentId',
        'service',
        'spanId',
        'startOffsetMs',
        'status',
      ]);
      assert.match(run.stderr, /wrote the trace's picture to .*trace\.svg/);
      assertXmlish(await readFile(file, 'utf8'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the trace command', () => {
  test('exits 2 without an id, and starts nothing', async () => {
    const run = await runCli({ JAEGER_QUERY_URL: 'http://127.0.0.1:1' }, 'trace');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /trace needs a payment or registration id \(or --trace-id <id>\)/);
  });

  test('reads its arguments, and refuses what a person must fix', () => {
    assert.deepEqual(traceArgs(['p-1']), {
      target: { kind: 'process', id: 'p-1' },
      lookback: { label: '2d', ms: 172_800_000 },
      svg: undefined,
      json: false,
    });
    assert.deepEqual(traceArgs(['--trace-id', 'A1B2', '--svg', 'x.svg', '--json']).target, {
      kind: 'trace',
      traceId: 'a1b2',
    });
    assert.equal(traceArgs(['p-1', '--lookback', '7d']).lookback.label, '7d');
    const refusals: [string[], RegExp][] = [
      [[], /needs a payment or registration id/],
      [['p-1', 'p-2'], /unexpected argument "p-2"/],
      [['p-1', '--trace-id', 'a1'], /not both/],
      [['--trace-id', 'xyz'], /--trace-id must be a trace id/],
      [['p-1', '--lookback', '3w'], /--lookback must be/],
      [['p-1', '--svg', ' '], /--svg needs a file name/],
      [['p-1', '--colour'], /Unknown option '--colour'/],
    ];
    for (const [args, message] of refusals) {
      assert.throws(
        () => traceArgs(args),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
        args.join(' '),
      );
    }
  });

  test('prints its usage for --help', async () => {
    const run = await runCli({}, 'trace', '--help');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run client -- trace \(<paymentId \| registrationId>/);
    assert.match(run.stdout, /\[--svg <file>\] \[--json\]/);
  });
});
