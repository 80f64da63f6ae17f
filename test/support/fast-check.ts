/** fast-check as the property tests use it: a failure prints its seed, and FC_SEED=<seed> replays those cases. */
import fc from 'fast-check';

// Concurrent outcomes may still differ on a replay; the generated cases are the same.
if (process.env.FC_SEED !== undefined) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

export default fc;
