/**
 * The failure converter of every baton worker and client, loaded by path (`failureConverterPath`) because it also
 * runs inside the workflow sandbox. It moves each failure's message and stack trace into an encoded payload, so the
 * payload codec encrypts them like any other data; the history keeps only "Encoded failure".
 */
import { DefaultFailureConverter } from '@temporalio/common';

/** Failures whose message and stack trace travel as an (encrypted) payload. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
