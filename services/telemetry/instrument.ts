/**
 * Imported first by every baton entry point, before anything loads `pg` or `http`: OpenTelemetry patches those
 * libraries as they are loaded, so a module loaded earlier would go untraced. It only registers the
 * instrumentations; their spans go nowhere until the process calls `startTracing` (services/telemetry/tracing.ts),
 * and an outgoing call with no business trace around it makes no span at all.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/** Operations endpoints scraped every few seconds: a span each would bury the business traces. */
const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

function untracedIncoming(request: IncomingMessage): boolean {
  return UNTRACED_PATHS.has(pathOf(request.url));
}

/** A request's path without its query: ids may sit in a path, never personal data (query strings are left out). */
function pathOf(url: string | undefined): string {
  return (url ?? '').split('?')[0] ?? '';
}

/** Names an HTTP span by method and path (`POST /payments`), not by the method alone. */
function nameByPath(span: Span, request: ClientRequest | IncomingMessage): void {
  const method = request.method ?? 'HTTP';
  span.updateName(`${method} ${pathOf('path' in request ? request.path : request.url)}`);
}

registerInstrumentations({
  instrumentations: [
    // The webhook receiver and the local stand-ins' servers; Twilio's SDK calls out through node:http.
    new HttpInstrumentation({
      ignoreIncomingRequestHook: untracedIncoming,
      requireParentforOutgoingSpans: true,
      requestHook: nameByPath,
    }),
    // The bank client uses fetch (undici).
    new UndiciInstrumentation({
      requireParentforSpans: true,
      requestHook: (span, request) => span.updateName(`${request.method} ${pathOf(request.path)}`),
    }),
    // The ledger's statements, as text with placeholders: bound values (names, IBANs) are never recorded.
    new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
  ],
});
