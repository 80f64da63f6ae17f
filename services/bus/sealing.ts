/**
 * Personal data on the bus is sealed, as it is in Temporal's payloads: the personal fields of an event's `data`
 * (a beneficiary's name and IBAN, a customer's name, email and phone) leave in one AES-256-GCM box under the same
 * key ring, bound to the event's type and id; everything else (ids, types, statuses, amounts) stays readable, so
 * the broker's tools and other domains' routing can use it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyRing } from '../../config/key-ring';

/** The cipher a sealed box names; the only one opened. */
export const SEALED_CIPHER = 'AES-256-GCM';

/** The personal fields of an event, sealed: `data.sealed`. */
export interface SealedBox {
  keyId: string;
  cipher: typeof SEALED_CIPHER;
  /** base64 of IV (12 bytes), ciphertext and tag (16 bytes). */
  ciphertext: string;
}

/** A box that cannot be opened; the message names the key id, never data. */
export class SealedBoxError extends Error {
  override readonly name = 'SealedBoxError';
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

type Json = Record<string, unknown>;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Dotted paths (`beneficiary.name`) into `data`: removes each present one and returns them by path. */
function takePaths(data: Json, paths: readonly string[]): Record<string, unknown> {
  const taken: Record<string, unknown> = {};
  for (const dotted of paths) {
    const parts = dotted.split('.');
    const last = parts.pop();
    let holder: unknown = data;
    for (const part of parts) holder = isJson(holder) ? holder[part] : undefined;
    if (last === undefined || !isJson(holder) || !(last in holder)) continue;
    taken[dotted] = holder[last];
    delete holder[last];
  }
  return taken;
}

/** The dotted paths of `paths` that `data` holds. */
function presentPaths(data: Json, paths: readonly string[]): string[] {
  return paths.filter((dotted) => {
    const parts = dotted.split('.');
    const last = parts.pop();
    let holder: unknown = data;
    for (const part of parts) holder = isJson(holder) ? holder[part] : undefined;
    return last !== undefined && isJson(holder) && last in holder;
  });
}

function putPaths(data: Json, values: Record<string, unknown>): void {
  for (const [dotted, value] of Object.entries(values)) {
    const parts = dotted.split('.');
    const last = parts.pop();
    if (last === undefined) continue;
    let holder: Json = data;
    for (const part of parts) {
      const next = holder[part];
      if (!isJson(next)) {
        const created: Json = {};
        holder[part] = created;
        holder = created;
      } else {
        holder = next;
      }
    }
    holder[last] = value;
  }
}

function aad(binding: { type: string; id: string }): Buffer {
  return Buffer.from(`${binding.type} ${binding.id}`, 'utf8');
}

/**
 * A copy of `data` with the fields at `paths` moved into `sealed`, encrypted with the ring's active key and bound
 * to the event's `type` and `id` (a box moved to another event does not open).
 */
export function sealPersonalFields(
  ring: KeyRing,
  binding: { type: string; id: string },
  data: Json,
  paths: readonly string[],
): Json {
  const copy = structuredClone(data);
  const personal = takePaths(copy, paths);
  if (Object.keys(personal).length === 0) return copy;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', ring.activeKey, iv);
  cipher.setAAD(aad(binding));
  const plain = Buffer.from(JSON.stringify(personal), 'utf8');
  const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  const box: SealedBox = {
    keyId: ring.activeKeyId,
    cipher: SEALED_CIPHER,
    ciphertext: sealed.toString('base64'),
  };
  return { ...copy, sealed: box };
}

/**
 * A copy of `data` with its `sealed` box opened and the personal fields back in place; only the fields at `paths`
 * are taken from the box, whatever else it holds. A personal field in clear is refused: it has already reached the
 * broker's disk, and accepting it would teach its publisher that this is fine.
 */
export function openPersonalFields(
  ring: KeyRing,
  binding: { type: string; id: string },
  data: Json,
  paths: readonly string[],
): Json {
  const { sealed, ...rest } = data;
  const clear = presentPaths(rest, paths);
  if (clear.length > 0) {
    throw new SealedBoxError(
      `${clear.map((path) => `data.${path}`).join(', ')}: personal data travels in data.sealed, never in clear`,
    );
  }
  if (sealed === undefined) return structuredClone(rest);
  if (!isJson(sealed) || typeof sealed.keyId !== 'string' || typeof sealed.ciphertext !== 'string') {
    throw new SealedBoxError('data.sealed must be an object with keyId, cipher and ciphertext');
  }
  if (sealed.cipher !== SEALED_CIPHER)
    throw new SealedBoxError(`data.sealed.cipher must be ${SEALED_CIPHER}`);
  const key = ring.keys.get(sealed.keyId);
  if (key === undefined) {
    throw new SealedBoxError(`data.sealed: key "${sealed.keyId.slice(0, 32)}" is not in baton's key ring`);
  }
  const bytes = Buffer.from(sealed.ciphertext, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new SealedBoxError('data.sealed.ciphertext is too short');
  let personal: unknown;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(aad(binding));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
    personal = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new SealedBoxError(
      'data.sealed failed its integrity check (altered, sealed for another event, or under another key)',
    );
  }
  if (!isJson(personal)) throw new SealedBoxError('data.sealed does not hold an object');
  const opened = structuredClone(rest);
  const box = personal;
  putPaths(opened, Object.fromEntries(paths.filter((path) => path in box).map((path) => [path, box[path]])));
  return opened;
}
