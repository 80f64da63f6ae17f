/**
 * How every baton process reaches Temporal: address, namespace, and for a real cluster mTLS or an API key, all
 * from the validated configuration. The worker uses a native connection, the client a gRPC one; both get the same
 * options from here.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDataConverter } from './codec';
import { tracingClientInterceptors } from './tracing';
import type { Config } from '../config/config';

type TemporalSettings = Pick<
  Config,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_TLS_CERT_PATH'
  | 'TEMPORAL_TLS_KEY_PATH'
  | 'TEMPORAL_TLS_CA_PATH'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
  | 'codecKeys'
>;

/** Connection options shared by the worker and the client. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/** Builds the connection options from configuration; reads certificate files once. */
export function temporalConnectionOptions(config: TemporalSettings): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: config.TEMPORAL_ADDRESS };
  const tls: TLSConfig = {};
  let useTls = false;
  if (config.TEMPORAL_TLS_CERT_PATH !== undefined && config.TEMPORAL_TLS_KEY_PATH !== undefined) {
    tls.clientCertPair = {
      crt: readFileSync(config.TEMPORAL_TLS_CERT_PATH),
      key: readFileSync(config.TEMPORAL_TLS_KEY_PATH),
    };
    useTls = true;
  }
  if (config.TEMPORAL_TLS_CA_PATH !== undefined) {
    tls.serverRootCACertificate = readFileSync(config.TEMPORAL_TLS_CA_PATH);
    useTls = true;
  }
  if (config.TEMPORAL_TLS_SERVER_NAME !== undefined) {
    tls.serverNameOverride = config.TEMPORAL_TLS_SERVER_NAME;
    useTls = true;
  }
  if (config.TEMPORAL_API_KEY !== undefined) {
    // An API key is only ever sent over TLS (Temporal Cloud requires it).
    options.apiKey = config.TEMPORAL_API_KEY;
    useTls = true;
  }
  if (useTls) options.tls = Object.keys(tls).length > 0 ? tls : true;
  return options;
}

/**
 * Connects a client to the configured namespace, traced (its starts, signals and updates are spans when the
 * process has tracing on). Close it with `client.connection.close()`.
 */
export async function connectClient(config: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: createDataConverter(config.codecKeys),
    interceptors: { workflow: tracingClientInterceptors() },
  });
}

/** Opens the native connection a worker polls through. */
export function connectWorker(config: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(config));
}
