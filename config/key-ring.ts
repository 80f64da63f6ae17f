/**
 * The AES-256 keys that encrypt baton's Temporal payloads. A ring holds every key that may still have to decrypt a
 * stored history, and names the one new payloads are encrypted with, so a key can be rotated without losing the
 * histories written under the old one.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** The environment variable listing the keys, as `keyId:base64key` pairs separated by commas. */
export const KEYS_VARIABLE = 'BATON_CODEC_KEYS';
/** The environment variable naming the key new payloads are encrypted with (default: the first listed). */
export const ACTIVE_KEY_VARIABLE = 'BATON_CODEC_ACTIVE_KEY';

/** What a key id may look like. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** AES-256 wants exactly this many key bytes. */
export const KEY_BYTES = 32;

// Standard base64 of exactly 32 bytes: 43 characters and one padding sign.
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * The development key ring of the LOCAL STACK ONLY: its one key is the ASCII text "baton-local-dev-key-NOT-A-SECRET",
 * published in this repository, so it protects nothing. Every other deployment sets its own `BATON_CODEC_KEYS`.
 */
export const LOCAL_DEV_KEYS = 'local-dev:YmF0b24tbG9jYWwtZGV2LWtleS1OT1QtQS1TRUNSRVQ=';

/** The keys a codec may use: several to decrypt, one of them to encrypt. */
export interface KeyRing {
  /** The id written on every payload encrypted from now on. */
  readonly activeKeyId: string;
  /** The key of `activeKeyId`. */
  readonly activeKey: KeyObject;
  /** Every known key by id, the active one included. `KeyObject`s never print their bytes. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

/** A key setting that cannot be used; the message names the variable and, where known, the key id, never a key. */
export class KeyRingError extends Error {
  override readonly name = 'KeyRingError';
  constructor(
    readonly variable: typeof KEYS_VARIABLE | typeof ACTIVE_KEY_VARIABLE,
    message: string,
    readonly keyId?: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/**
 * Parses `keys` (the value of BATON_CODEC_KEYS) and `activeKeyId` (BATON_CODEC_ACTIVE_KEY; blank or absent means
 * the first key listed) into a ring.
 */
export function parseKeyRing(keys: string, activeKeyId?: string): KeyRing {
  const entries = keys
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) {
    throw new KeyRingError(KEYS_VARIABLE, 'must list at least one key as keyId:base64key');
  }
  const ring = new Map<string, KeyObject>();
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    // A malformed entry may be a bare key: say where it is, never what it holds.
    if (colon < 0)
      throw new KeyRingError(KEYS_VARIABLE, `entry ${index + 1} is not of the form keyId:base64key`);
    const id = entry.slice(0, colon).trim();
    const material = entry.slice(colon + 1).trim();
    if (!KEY_ID_PATTERN.test(id)) {
      throw new KeyRingError(
        KEYS_VARIABLE,
        `entry ${index + 1} has an invalid key id (1 to 32 characters of A-Z, a-z, 0-9, "_" and "-")`,
      );
    }
    if (ring.has(id)) throw new KeyRingError(KEYS_VARIABLE, `key "${id}" is listed twice`, id);
    if (!BASE64_KEY.test(material)) {
      throw new KeyRingError(
        KEYS_VARIABLE,
        `key "${id}" must be the base64 of exactly ${KEY_BYTES} bytes`,
        id,
      );
    }
    ring.set(id, createSecretKey(Buffer.from(material, 'base64')));
  });

  const [firstId] = ring.keys();
  const wanted = activeKeyId?.trim() || firstId;
  const activeKey = wanted === undefined ? undefined : ring.get(wanted);
  if (wanted === undefined || activeKey === undefined) {
    // An active id that is not even id-shaped may be a key pasted into the wrong variable: do not repeat it.
    const shown = wanted !== undefined && KEY_ID_PATTERN.test(wanted) ? wanted : undefined;
    throw new KeyRingError(
      ACTIVE_KEY_VARIABLE,
      `${shown === undefined ? 'the key it names' : `key "${shown}"`} is not listed in ${KEYS_VARIABLE}`,
      shown,
    );
  }
  return { activeKeyId: wanted, activeKey, keys: ring };
}

/** A fresh random key, as the base64 text `BATON_CODEC_KEYS` expects after `keyId:`. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
