/**
 * The CLI's `trace` command: one business process's trace, read from Jaeger, as a terminal waterfall, as JSON rows,
 * and optionally as an SVG picture for the README.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config/config';
import {
  DEFAULT_LOOKBACK,
  fetchTrace,
  findProcessTrace,
  JaegerError,
  parseLookback,
  startsWorkflow,
  TraceNotFoundError,
  traceRows,
  traceSvg,
  waterfall,
} from '../traces';
import type { JaegerTrace, Lookback } from '../traces';
import { noPositionals, parse, UsageError } from './support';

/** What `trace` was asked to draw: a payment's or registration's trace, or one trace by its id. */
export type TraceTarget = { kind: 'process'; id: string } | { kind: 'trace'; traceId: string };

/** `trace`'s arguments, checked. */
export interface TraceArgs {
  target: TraceTarget;
  lookback: Lookback;
  /** Where to write the SVG picture, when asked. */
  svg: string | undefined;
  json: boolean;
}

// Jaeger's trace ids are up to 32 hex digits (a 64-bit id has 16); checking here turns a typo into a usage error.
const traceIdSchema = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{1,32}$/)
  .transform((id) => id.toLowerCase());

/** Parses `trace`'s arguments; a UsageError (exit 2) for anything a person must fix, before Jaeger is asked. */
export function traceArgs(args: string[]): TraceArgs {
  const { values, positionals } = parse(args, {
    'trace-id': { type: 'string' },
    lookback: { type: 'string' },
    svg: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const [id, ...extra] = positionals;
  noPositionals(extra);
  let target: TraceTarget;
  if (values['trace-id'] !== undefined) {
    if (id !== undefined)
      throw new UsageError('trace takes a payment or registration id or --trace-id, not both');
    const traceId = traceIdSchema.safeParse(values['trace-id']);
    if (!traceId.success)
      throw new UsageError(
        `--trace-id must be a trace id (up to 32 hex digits), not "${values['trace-id']}"`,
      );
    target = { kind: 'trace', traceId: traceId.data };
  } else {
    if (id === undefined || id.trim() === '')
      throw new UsageError('trace needs a payment or registration id (or --trace-id <id>)');
    target = { kind: 'process', id: id.trim() };
  }
  let lookback = DEFAULT_LOOKBACK;
  if (values.lookback !== undefined) {
    const parsed = parseLookback(values.lookback);
    if (parsed === undefined)
      throw new UsageError(
        `--lookback must be minutes, hours or days up to 90d (30m, 12h, 2d), not "${values.lookback}"`,
      );
    if (target.kind === 'trace')
      throw new UsageError(
        '--lookback bounds a search by payment or registration id; --trace-id reads one trace directly',
      );
    lookback = parsed;
  }
  if (values.svg !== undefined && values.svg.trim() === '') throw new UsageError('--svg needs a file name');
  return { target, lookback, svg: values.svg?.trim(), json: values.json === true };
}

/** `trace <paymentId | registrationId> [--lookback <2d>] [--svg <file>] [--json]`, or `trace --trace-id <id>`. */
export async function trace(config: Config, args: string[]): Promise<number> {
  const { target, lookback, svg, json } = traceArgs(args);
  const jaeger = { baseUrl: config.JAEGER_QUERY_URL };
  let chosen: JaegerTrace;
  let title: string;
  let note: string | undefined;
  try {
    if (target.kind === 'trace') {
      chosen = await fetchTrace(jaeger, target.traceId);
      title = `trace ${chosen.traceID}`;
    } else {
      const found = await findProcessTrace(jaeger, target.id, lookback);
      chosen = found.trace;
      title = found.workflowId;
      const which = startsWorkflow(chosen) ? 'the one that started it' : 'the largest';
      note =
        found.matched > 1
          ? `${found.workflowId}: ${found.matched} traces in the last ${lookback.label}; showing ${which}`
          : found.workflowId;
    }
  } catch (err) {
    if (err instanceof JaegerError || err instanceof TraceNotFoundError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }

  if (json) console.log(JSON.stringify(traceRows(chosen), null, 2));
  else {
    if (note !== undefined) console.log(note);
    console.log(waterfall(chosen).join('\n'));
    console.log(`  Jaeger: ${config.JAEGER_QUERY_URL.replace(/\/+$/, '')}/trace/${chosen.traceID}`);
  }
  if (svg !== undefined) {
    const file = path.resolve(svg);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, traceSvg(chosen, { title }));
    // On stderr under --json, so stdout stays one JSON document.
    const wrote = `wrote the trace's picture to ${file}`;
    if (json) console.error(wrote);
    else console.log(wrote);
  }
  return 0;
}
