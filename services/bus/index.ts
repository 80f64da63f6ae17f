/** The message bus: its interface, the NATS JetStream adapter, the CloudEvents envelope and sealed personal data. */
export * from './bus';
export * from './cloudevents';
export { openNatsBus, STREAM_CONFIGS, DUPLICATE_WINDOW_MS } from './nats-bus';
export type { NatsBusOptions } from './nats-bus';
export { SealedBoxError, SEALED_CIPHER } from './sealing';
export type { SealedBox } from './sealing';
