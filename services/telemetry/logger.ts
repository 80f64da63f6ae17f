/**
 * Logs as one JSON object a line (pino), so a log store can join every line of one business process: each line
 * names its service, and where there is one the trace and span it was written in; the SDK's lines (workflows,
 * activities, the native core) arrive through `temporalLogger` (temporal/runtime.ts) with the workflow id, run id,
 * activity and correlation id the SDK and baton's interceptors attach. Nothing here adds personal data; callers log ids only.
 */
import { trace } from '@opentelemetry/api';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** A line-at-a-time log with optional structured fields (ids, counts); what baton's components are handed. */
export type Log = (line: string, fields?: Readonly<Record<string, unknown>>) => void;

/** How a process logs. */
export interface LoggerOptions {
  /** `service` field of every line (`baton-worker`, `baton-consumer`, `bank-simulator`). */
  service: string;
  /** Lowest level written (default `info`, or LOG_LEVEL). */
  level?: string;
  /** Where lines go (default: errors to stderr, the rest to stdout). */
  destination?: DestinationStream;
}

/** The process's JSON logger. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // The trace a line was written in, so a log store links each line to its trace.
      mixin() {
        const span = trace.getActiveSpan()?.spanContext();
        return span === undefined ? {} : { trace_id: span.traceId, span_id: span.spanId };
      },
    },
    options.destination ??
      // Errors go to stderr, the rest to stdout; written synchronously so a crash loses no line.
      pino.multistream(
        [
          { level: 'trace', stream: pino.destination({ dest: 1, sync: true }) },
          { level: 'error', stream: pino.destination({ dest: 2, sync: true }) },
        ],
        { dedupe: true },
      ),
  );
}

/**
 * The {@link Log} of a logger: each line at info, its fields beside it. A line a stack component prefixed with its
 * name (`[worker] ...`) carries the name as `component` instead.
 */
export function lineLog(logger: Logger): Log {
  return (line, fields) => {
    const prefixed = /^\[([\w-]+)\] ([\s\S]*)$/.exec(line);
    if (prefixed?.[1] === undefined || prefixed[2] === undefined) logger.info(fields ?? {}, line);
    else logger.info({ component: prefixed[1], ...fields }, prefixed[2]);
  };
}
