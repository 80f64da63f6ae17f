/** Payload encryption for baton: the key ring, the Temporal codec and data converter, and the codec server. */
export * from './codec';
export * from './codec-server';
