/**
 * One business process's trace, read from Jaeger's HTTP query API (its v1 JSON shape, which Jaeger v2 serves too)
 * and drawn as a terminal waterfall or as a standalone SVG picture. The reader validates every answer; the drawing
 * functions are pure. Used by the CLI's `trace` command.
 */
import { z } from 'zod';
import { paymentWorkflowId } from '../workflows/payment-contract';
import { registrationWorkflowId } from '../workflows/registration-contract';

// --- Jaeger's JSON, validated

const tagSchema = z.object({ key: z.string(), type: z.string().optional(), value: z.unknown() });

const referenceSchema = z.object({
  refType: z.enum(['CHILD_OF', 'FOLLOWS_FROM']),
  traceID: z.string(),
  spanID: z.string(),
});

const spanSchema = z.object({
  traceID: z.string(),
  spanID: z.string().min(1),
  operationName: z.string(),
  references: z
    .array(referenceSchema)
    .nullish()
    .transform((refs) => refs ?? []),
  /** Microseconds since the epoch. */
  startTime: z.number().nonnegative(),
  /** Microseconds. */
  duration: z.number().nonnegative(),
  tags: z
    .array(tagSchema)
    .nullish()
    .transform((tags) => tags ?? []),
  processID: z.string(),
  warnings: z.array(z.string()).nullish(),
});

const processSchema = z.object({
  serviceName: z.string(),
  tags: z
    .array(tagSchema)
    .nullish()
    .transform((tags) => tags ?? []),
});

/** A trace as Jaeger's query API answers it. */
export const jaegerTraceSchema = z.object({
  traceID: z.string().min(1),
  spans: z.array(spanSchema),
  processes: z.record(z.string(), processSchema),
  warnings: z.array(z.string()).nullish(),
});

/** One trace, validated. */
export type JaegerTrace = z.infer<typeof jaegerTraceSchema>;
/** One span of a trace, validated. */
export type JaegerSpan = JaegerTrace['spans'][number];

// Jaeger answers `{ data, errors }` for a search and for one trace alike; `data` is null when it failed.
const answerSchema = z.object({
  data: z.array(jaegerTraceSchema).nullable(),
  errors: z
    .array(z.object({ code: z.number().optional(), msg: z.string() }))
    .nullish()
    .transform((errors) => errors ?? []),
});

// --- Reading

/** The variable that says where Jaeger's query API is, named in every message about reaching it. */
const URL_VARIABLE = 'JAEGER_QUERY_URL';

/** Where Jaeger's query API is and how long to wait for it. */
export interface JaegerOptions {
  /** Base URL of the query API, e.g. http://127.0.0.1:16686 (JAEGER_QUERY_URL). */
  baseUrl: string;
  /** How long one request may take; 10 s unless set. */
  timeoutMs?: number;
}

/** Jaeger could not be asked, refused the request, or answered something that is not a trace. */
export class JaegerError extends Error {
  override readonly name = 'JaegerError';

  constructor(
    message: string,
    readonly code: 'jaeger_unreachable' | 'jaeger_failed' | 'jaeger_malformed',
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Jaeger holds no trace for what was asked. */
export class TraceNotFoundError extends Error {
  override readonly name = 'TraceNotFoundError';
  readonly code = 'trace_not_found';

  constructor(
    message: string,
    /** The workflow ids searched for, or the one trace id asked for. */
    readonly searched: readonly string[],
    /** How far back the search looked; undefined for a trace asked for by id. */
    readonly lookback: string | undefined,
  ) {
    super(message);
  }
}

/** How far back a search looks, as written (`2d`) and in milliseconds. */
export interface Lookback {
  label: string;
  ms: number;
}

const LOOKBACK_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30m`, `12h`, `2d` (up to 90 days) as a {@link Lookback}; undefined for anything else. */
export function parseLookback(text: string): Lookback | undefined {
  const match = /^(\d{1,4})([mhd])$/.exec(text.trim());
  if (match === null) return undefined;
  const [, amount = '', unit = 'd'] = match;
  const ms = Number(amount) * LOOKBACK_UNITS_MS[unit as keyof typeof LOOKBACK_UNITS_MS];
  if (ms < 60_000 || ms > 90 * 86_400_000) return undefined;
  return { label: `${Number(amount)}${unit}`, ms };
}

/** The lookback a search uses unless told otherwise. */
export const DEFAULT_LOOKBACK: Lookback = { label: '2d', ms: 2 * 86_400_000 };

function endpoint(baseUrl: string, pathAndQuery: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${pathAndQuery}`;
}

/** The one-line reason a fetch failed: "connect ECONNREFUSED 127.0.0.1:16686" rather than "fetch failed". */
function fetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error && cause.message !== '') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * GETs one query API path and validates the answer. A 404 in Jaeger's own shape (a trace id it does not hold) is
 * `undefined` when `notFoundIsEmpty`, for the caller to word; any other failure is a {@link JaegerError}.
 */
async function getAnswer(
  options: JaegerOptions,
  pathAndQuery: string,
  notFoundIsEmpty: boolean,
): Promise<z.infer<typeof answerSchema> | undefined> {
  const url = endpoint(options.baseUrl, pathAndQuery);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const what = `GET ${pathAndQuery.split('?')[0] ?? pathAndQuery}`;
  let status: number;
  let text: string;
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    text = await response.text();
  } catch (err) {
    throw new JaegerError(
      `cannot reach Jaeger at ${options.baseUrl} (${fetchFailure(err, timeoutMs)}); ` +
        `start Jaeger there or point ${URL_VARIABLE} at its query API`,
      'jaeger_unreachable',
      url,
      { cause: err },
    );
  }
  const ok = status >= 200 && status < 300;
  const notTheQueryApi = (problem: string, cause: unknown): JaegerError =>
    ok
      ? new JaegerError(
          `Jaeger at ${options.baseUrl} answered ${what} with ${problem}; is ${URL_VARIABLE} its query API (port 16686)?`,
          'jaeger_malformed',
          url,
          { cause },
        )
      : new JaegerError(
          `Jaeger at ${options.baseUrl} failed ${what}: HTTP ${status}; is ${URL_VARIABLE} its query API (port 16686)?`,
          'jaeger_failed',
          url,
          { cause },
        );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw notTheQueryApi('a body that is not JSON', err);
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : ` (${issue.path.join('.') || 'body'}: ${issue.message})`;
    throw notTheQueryApi(`a body that is not a list of traces${where}`, parsed.error);
  }
  if (status === 404 && notFoundIsEmpty) return undefined;
  if (!ok || parsed.data.data === null) {
    const reasons = parsed.data.errors.map((e) => e.msg).join('; ');
    throw new JaegerError(
      `Jaeger at ${options.baseUrl} failed ${what}: HTTP ${status}${reasons === '' ? '' : ` (${reasons})`}`,
      'jaeger_failed',
      url,
    );
  }
  return parsed.data;
}

/** One trace by its id; {@link TraceNotFoundError} when Jaeger has none. */
export async function fetchTrace(options: JaegerOptions, traceId: string): Promise<JaegerTrace> {
  const answer = await getAnswer(options, `/api/traces/${encodeURIComponent(traceId)}`, true);
  const trace = answer?.data?.[0];
  if (trace === undefined) {
    throw new TraceNotFoundError(
      `Jaeger at ${options.baseUrl} has no trace ${traceId} (it may have aged out of its storage)`,
      [traceId],
      undefined,
    );
  }
  return trace;
}

/** What a search asks for: one service's spans carrying every tag given, within the lookback. */
export interface TraceSearch {
  service: string;
  tags: Readonly<Record<string, string>>;
  lookback: Lookback;
  /** At most this many traces; 20 unless set. */
  limit?: number;
  /** The end of the searched window; now unless set. */
  now?: Date;
}

/** Every trace holding a span that matches the search (each trace once, whole). */
export async function searchTraces(options: JaegerOptions, search: TraceSearch): Promise<JaegerTrace[]> {
  const endUs = (search.now ?? new Date()).getTime() * 1000;
  // The search API takes its window as start/end in microseconds; without `start` it looks back only as far as the
  // server's own default. `lookback` is the UI's word for the same window, sent so the URL reads like the UI's.
  const query = new URLSearchParams({
    service: search.service,
    tags: JSON.stringify(search.tags),
    start: String(endUs - search.lookback.ms * 1000),
    end: String(endUs),
    lookback: search.lookback.label,
    limit: String(search.limit ?? 20),
  });
  const answer = await getAnswer(options, `/api/traces?${query.toString()}`, false);
  const unique = new Map<string, JaegerTrace>();
  for (const trace of answer?.data ?? []) if (!unique.has(trace.traceID)) unique.set(trace.traceID, trace);
  return [...unique.values()];
}

/** The service whose spans carry the workflow id attribute. */
export const WORKER_SERVICE = 'baton-worker';
/** The span attribute Temporal's OpenTelemetry interceptors put the workflow id in. */
export const WORKFLOW_ID_TAG = 'temporalWorkflowId';

/** The workflow ids an id given by a person may mean: a prefixed id itself, else a payment's, then a registration's. */
export function processWorkflowIds(id: string): string[] {
  if (id.startsWith('payment:') || id.startsWith('registration:')) return [id];
  return [paymentWorkflowId(id), registrationWorkflowId(id)];
}

/** Whether a trace holds the client's `StartWorkflow:` span: the trace a process began in. */
export function startsWorkflow(trace: JaegerTrace): boolean {
  return trace.spans.some((s) => s.operationName.startsWith('StartWorkflow:'));
}

/**
 * Of the traces one workflow appears in (its start, then each later signal or webhook in a trace of its own), the
 * one that started it: a trace with a `StartWorkflow:` span, else the one with the most spans. Ties go to the
 * earliest. Undefined for none.
 */
export function chooseTrace(traces: readonly JaegerTrace[]): JaegerTrace | undefined {
  const starts = traces.filter(startsWorkflow);
  const pool = starts.length > 0 ? starts : traces;
  return [...pool].sort((a, b) => b.spans.length - a.spans.length || traceStart(a) - traceStart(b))[0];
}

/** The trace chosen for a business process, and how it was found. */
export interface ProcessTrace {
  workflowId: string;
  trace: JaegerTrace;
  /** How many traces carry the workflow id; only the chosen one is drawn, none are merged. */
  matched: number;
}

/**
 * The trace of a payment or registration: searches `baton-worker` spans tagged with each workflow id
 * {@link processWorkflowIds} gives, takes the first id that has traces and {@link chooseTrace}s among them.
 * Throws {@link TraceNotFoundError} when none has, {@link JaegerError} when Jaeger cannot answer.
 */
export async function findProcessTrace(
  options: JaegerOptions,
  id: string,
  lookback: Lookback = DEFAULT_LOOKBACK,
): Promise<ProcessTrace> {
  const workflowIds = processWorkflowIds(id);
  const now = new Date();
  const found = await Promise.all(
    workflowIds.map((workflowId) =>
      searchTraces(options, {
        service: WORKER_SERVICE,
        tags: { [WORKFLOW_ID_TAG]: workflowId },
        lookback,
        now,
      }),
    ),
  );
  for (const [index, traces] of found.entries()) {
    const trace = chooseTrace(traces);
    const workflowId = workflowIds[index];
    if (trace !== undefined && workflowId !== undefined) return { workflowId, trace, matched: traces.length };
  }
  throw new TraceNotFoundError(
    `no trace in Jaeger at ${options.baseUrl} has a ${WORKER_SERVICE} span with ${WORKFLOW_ID_TAG} ` +
      `${workflowIds.join(' or ')} in the last ${lookback.label}; a longer --lookback may find an older one`,
    workflowIds,
    lookback.label,
  );
}

// --- The span tree

/** How a span ended. */
export const SpanStatus = {
  /** Finished without an error status. */
  Ok: 'ok',
  /** Marked failed: `otel.status_code` ERROR or `error` true. */
  Error: 'error',
} as const;
/** How a span ended. */
export type SpanStatus = (typeof SpanStatus)[keyof typeof SpanStatus];

/** One span as drawn: a row of the waterfall, in tree order. */
export interface TraceRow {
  spanId: string;
  /** The span it hangs under in this trace; null at the root level (roots, and orphans whose parent is absent). */
  parentId: string | null;
  name: string;
  service: string;
  /** From the trace's first span start. */
  startOffsetMs: number;
  durationMs: number;
  status: SpanStatus;
  /** 0 at the root level. */
  depth: number;
}

function traceStart(trace: JaegerTrace): number {
  return trace.spans.reduce((min, s) => Math.min(min, s.startTime), Number.POSITIVE_INFINITY);
}

function spanStatus(span: JaegerSpan): SpanStatus {
  const failed = span.tags.some(
    (tag) =>
      (tag.key === 'otel.status_code' && tag.value === 'ERROR') ||
      (tag.key === 'error' && (tag.value === true || tag.value === 'true')),
  );
  return failed ? SpanStatus.Error : SpanStatus.Ok;
}

/**
 * The spans of a trace in tree order: each under the span it references (CHILD_OF before FOLLOWS_FROM), siblings
 * by start time; a span whose parent is not in the trace sits at the root level.
 */
export function traceRows(trace: JaegerTrace): TraceRow[] {
  const byId = new Map<string, JaegerSpan>();
  for (const span of trace.spans) if (!byId.has(span.spanID)) byId.set(span.spanID, span);
  const spans = [...byId.values()].sort((a, b) => a.startTime - b.startTime || cmp(a.spanID, b.spanID));

  const parentOf = (span: JaegerSpan): string | undefined => {
    const present = span.references.filter((r) => r.spanID !== span.spanID && byId.has(r.spanID));
    return (present.find((r) => r.refType === 'CHILD_OF') ?? present[0])?.spanID;
  };
  const children = new Map<string, JaegerSpan[]>();
  const roots: JaegerSpan[] = [];
  for (const span of spans) {
    const parent = parentOf(span);
    if (parent === undefined) roots.push(span);
    else children.set(parent, [...(children.get(parent) ?? []), span]);
  }

  const start = spans.length === 0 ? 0 : traceStart(trace);
  const rows: TraceRow[] = [];
  const placed = new Set<string>();
  const place = (span: JaegerSpan, parentId: string | null, depth: number): void => {
    if (placed.has(span.spanID)) return;
    placed.add(span.spanID);
    rows.push({
      spanId: span.spanID,
      parentId,
      name: span.operationName,
      service: trace.processes[span.processID]?.serviceName ?? 'unknown',
      startOffsetMs: (span.startTime - start) / 1000,
      durationMs: span.duration / 1000,
      status: spanStatus(span),
      depth,
    });
    for (const child of children.get(span.spanID) ?? []) place(child, span.spanID, depth + 1);
  };
  for (const root of roots) place(root, null, 0);
  // Spans whose references form a loop are reachable from no root: they too go to the root level.
  for (const span of spans) place(span, null, 0);
  return rows;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What a trace amounts to: its id, size, services (in the order they first appear) and length. */
export interface TraceSummary {
  traceId: string;
  spanCount: number;
  services: string[];
  totalMs: number;
}

/** The {@link TraceSummary} of a trace whose rows are `rows`. */
export function traceSummary(trace: JaegerTrace, rows: readonly TraceRow[] = traceRows(trace)): TraceSummary {
  return {
    traceId: trace.traceID,
    spanCount: rows.length,
    services: [...new Set(rows.map((r) => r.service))],
    totalMs: rows.reduce((max, r) => Math.max(max, r.startOffsetMs + r.durationMs), 0),
  };
}

function ms(value: number): string {
  return value.toFixed(1);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

// --- The terminal waterfall

/**
 * The trace as text lines: a header (trace id, span count, services, total duration), column titles, then one row
 * per span in tree order with its indented name, service, start offset and duration in ms, status, and a bar
 * `width` characters wide at the scale of the whole trace.
 */
export function waterfall(trace: JaegerTrace, options: { width?: number } = {}): string[] {
  const width = Math.max(10, options.width ?? 40);
  const rows = traceRows(trace);
  const summary = traceSummary(trace, rows);
  const header =
    `trace ${summary.traceId} · ${summary.spanCount} span${summary.spanCount === 1 ? '' : 's'} · ` +
    `services: ${summary.services.join(', ') || '(none)'} · ${ms(summary.totalMs)} ms`;
  if (rows.length === 0) return [header];

  const labels = rows.map((r) => truncate(`${'  '.repeat(r.depth)}${r.name}`, 60));
  const nameWidth = Math.max('span'.length, ...labels.map((l) => l.length));
  const services = rows.map((r) => truncate(r.service, 24));
  const serviceWidth = Math.max('service'.length, ...services.map((s) => s.length));
  const starts = rows.map((r) => ms(r.startOffsetMs));
  const startWidth = Math.max('start ms'.length, ...starts.map((s) => s.length));
  const durations = rows.map((r) => ms(r.durationMs));
  const durationWidth = Math.max('dur ms'.length, ...durations.map((d) => d.length));
  const statusWidth = 'status'.length;
  const total = summary.totalMs > 0 ? summary.totalMs : 1;

  const line = (cells: [string, string, string, string, string, string]): string =>
    [
      cells[0].padEnd(nameWidth),
      cells[1].padEnd(serviceWidth),
      cells[2].padStart(startWidth),
      cells[3].padStart(durationWidth),
      cells[4].padEnd(statusWidth),
      cells[5],
    ]
      .join('  ')
      .trimEnd();

  return [
    header,
    line(['span', 'service', 'start ms', 'dur ms', 'status', 'timeline']),
    ...rows.map((row, i) => {
      const first = Math.min(width - 1, Math.floor((row.startOffsetMs / total) * width));
      const last = Math.min(
        width,
        Math.max(first + 1, Math.ceil(((row.startOffsetMs + row.durationMs) / total) * width)),
      );
      const fill = row.status === SpanStatus.Error ? '▓' : '█';
      const bar = `│${' '.repeat(first)}${fill.repeat(last - first)}${' '.repeat(width - last)}│`;
      return line([labels[i] ?? '', services[i] ?? '', starts[i] ?? '', durations[i] ?? '', row.status, bar]);
    }),
  ];
}

// --- The SVG picture

// eslint-disable-next-line no-control-regex -- the point is to find the control characters XML 1.0 forbids
const NOT_IN_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for XML content and attribute values, dropping the control characters XML 1.0 cannot hold. */
export function escapeXml(text: string): string {
  return text
    .replace(NOT_IN_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// Tableau's ten colours without its red and pink, so only an error is red.
const SERVICE_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#bab0ac',
];
const ERROR_RED = '#d73a49';
const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

/** A step of 1, 2, 2.5 or 5 × 10ⁿ ms that cuts `totalMs` into about `target` ticks. */
function tickStep(totalMs: number, target: number): number {
  const raw = totalMs / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
}

function decimalsOf(step: number): number {
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6)
    decimals += 1;
  return decimals;
}

/** Rounds for an SVG attribute: two decimals at most, no trailing zeros. */
function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * The trace as a standalone SVG picture about 1000 px wide, for a README: a title, one row per span (indented name
 * and service on the left, a bar at its offset and length on a time axis in ms), bars coloured by service with a
 * legend, failed spans outlined and labelled in red. No scripts, external fonts or stylesheets.
 */
export function traceSvg(trace: JaegerTrace, options: { title?: string } = {}): string {
  const rows = traceRows(trace);
  const summary = traceSummary(trace, rows);
  const colour = new Map(
    summary.services.map((s, i) => [s, SERVICE_COLOURS[i % SERVICE_COLOURS.length] ?? '#888']),
  );

  const width = 1000;
  const pad = 20;
  const serviceX = pad + 290;
  const chartX = 440;
  const chartRight = width - pad;
  const chartWidth = chartRight - chartX;
  const axisY = 74;
  const rowsTop = 84;
  const rowHeight = 22;
  const rowsBottom = rowsTop + rows.length * rowHeight;
  const total = summary.totalMs > 0 ? summary.totalMs : 1;
  const x = (offsetMs: number) => chartX + (offsetMs / total) * chartWidth;

  const out: string[] = [];
  const title = options.title ?? `trace ${summary.traceId}`;
  out.push(
    `<text x="${pad}" y="30" font-size="17" font-weight="600" fill="#24292f">${escapeXml(title)}</text>`,
    `<text x="${pad}" y="50" font-size="12" fill="#57606a">${escapeXml(
      `trace ${summary.traceId} · ${summary.spanCount} span${summary.spanCount === 1 ? '' : 's'} · ` +
        `${summary.services.length} service${summary.services.length === 1 ? '' : 's'} · ${ms(summary.totalMs)} ms`,
    )}</text>`,
    `<text x="${pad}" y="${axisY - 4}" font-size="11" font-weight="600" fill="#57606a">span</text>`,
    `<text x="${serviceX}" y="${axisY - 4}" font-size="11" font-weight="600" fill="#57606a">service</text>`,
  );

  // Row stripes first, so the grid and the bars lie on top of them.
  rows.forEach((_, i) => {
    if (i % 2 === 1)
      out.push(
        `<rect x="${pad - 6}" y="${rowsTop + i * rowHeight}" width="${width - 2 * pad + 12}" height="${rowHeight}" fill="#f6f8fa"/>`,
      );
  });

  const step = tickStep(total, 6);
  const decimals = decimalsOf(step);
  for (let i = 0; i * step <= total * (1 + 1e-9); i += 1) {
    const tick = i * step;
    const tx = x(tick);
    const anchor = tx > chartRight - 30 ? 'end' : tx < chartX + 10 ? 'start' : 'middle';
    out.push(
      `<line x1="${px(tx)}" y1="${axisY + 2}" x2="${px(tx)}" y2="${rowsBottom}" stroke="#d0d7de" stroke-width="1"/>`,
      `<text x="${px(tx)}" y="${axisY - 4}" font-size="11" fill="#57606a" text-anchor="${anchor}">${tick.toFixed(decimals)} ms</text>`,
    );
  }
  out.push(
    `<line x1="${chartX}" y1="${axisY + 2}" x2="${chartRight}" y2="${axisY + 2}" stroke="#8c959f" stroke-width="1"/>`,
  );

  rows.forEach((row, i) => {
    const y = rowsTop + i * rowHeight;
    const textY = y + 15;
    const failed = row.status === SpanStatus.Error;
    const indent = Math.min(row.depth, 12) * 12;
    const name = truncate(row.name, Math.floor((serviceX - pad - indent - 10) / 6.6));
    const barX = x(row.startOffsetMs);
    const barWidth = Math.max(2, (row.durationMs / total) * chartWidth);
    const barEnd = Math.min(chartRight, barX + barWidth);
    const label = `${ms(row.durationMs)} ms${failed ? ' · error' : ''}`;
    const labelWidth = label.length * 6.2;
    const [labelX, anchor, labelFill] =
      barEnd + 4 + labelWidth <= chartRight
        ? [barEnd + 4, 'start', failed ? ERROR_RED : '#57606a']
        : barX - 4 - labelWidth >= chartX
          ? [barX - 4, 'end', failed ? ERROR_RED : '#57606a']
          : [barEnd - 4, 'end', '#ffffff'];
    out.push(
      `<g>`,
      `<title>${escapeXml(`${row.name} (${row.service}): ${label}`)}</title>`,
      `<text x="${pad + indent}" y="${textY}" font-size="12" fill="${failed ? ERROR_RED : '#24292f'}">${escapeXml(name)}</text>`,
      `<text x="${serviceX}" y="${textY}" font-size="11" fill="#57606a">${escapeXml(truncate(row.service, 20))}</text>`,
      `<rect x="${px(barX)}" y="${y + 5}" width="${px(barEnd - barX)}" height="12" rx="2" fill="${colour.get(row.service) ?? '#888'}"` +
        (failed ? ` stroke="${ERROR_RED}" stroke-width="2"` : '') +
        '/>',
      `<text x="${px(labelX)}" y="${textY}" font-size="10" fill="${labelFill}" text-anchor="${anchor}">${escapeXml(label)}</text>`,
      `</g>`,
    );
  });

  // The legend: one swatch per service, then the error mark, wrapping at the right edge.
  const entries = [
    ...summary.services.map((s) => ({ label: s, fill: colour.get(s) ?? '#888', stroke: undefined })),
    ...(rows.some((r) => r.status === SpanStatus.Error)
      ? [{ label: 'error', fill: '#ffffff', stroke: ERROR_RED }]
      : []),
  ];
  let lx = pad;
  let ly = rowsBottom + 22;
  for (const entry of entries) {
    const text = truncate(entry.label, 40);
    const entryWidth = 18 + text.length * 6.6 + 18;
    if (lx + entryWidth > width - pad && lx > pad) {
      lx = pad;
      ly += 20;
    }
    out.push(
      `<rect x="${px(lx)}" y="${ly - 10}" width="12" height="12" rx="2" fill="${entry.fill}"` +
        (entry.stroke === undefined ? '' : ` stroke="${entry.stroke}" stroke-width="2"`) +
        '/>',
      `<text x="${px(lx + 18)}" y="${ly}" font-size="12" fill="#24292f">${escapeXml(text)}</text>`,
    );
    lx += entryWidth;
  }
  const height = ly + 16;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="${escapeXml(FONT)}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
