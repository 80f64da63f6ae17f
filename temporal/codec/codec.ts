/**
 * End-to-end encryption of baton's Temporal payloads: workflow inputs, results, signals, updates, queries and
 * failures leave the worker and the client encrypted with AES-256-GCM, so the Temporal server and its database only
 * ever hold ciphertext. The Web UI reads them through the codec server, which holds the same keys.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { KeyRing } from '../../config/key-ring';

/** The `encoding` of an encrypted payload; every other encoding passes through decoding untouched. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The cipher written in `encryption-cipher`, the only one this codec reads. */
export const CIPHER = 'AES-256-GCM';
/** Metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Metadata key naming the cipher. */
export const CIPHER_METADATA = 'encryption-cipher';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const ProtoPayload = temporal.api.common.v1.Payload;

/** Why a payload could not be decrypted. */
export const DecryptionFailure = {
  /** The payload names a key the ring does not hold. */
  UnknownKey: 'unknown_key',
  /** The authentication tag did not match: the data was altered, or the key under that id is not the one used. */
  IntegrityCheckFailed: 'integrity_check_failed',
  /** The payload says it is encrypted but lacks what decryption needs, or names another cipher. */
  Malformed: 'malformed',
} as const;
/** One of {@link DecryptionFailure}. */
export type DecryptionFailure = (typeof DecryptionFailure)[keyof typeof DecryptionFailure];

/** An encrypted payload that cannot be read; the message names the key id, never any data. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
  constructor(
    readonly code: DecryptionFailure,
    readonly keyId: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A Temporal payload codec that encrypts each whole payload (metadata and data) with the ring's active key. */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly ring: KeyRing) {}

  /** Encrypts every payload with the active key. */
  encode(payloads: Payload[]): Promise<Payload[]> {
    // Through `then`, so a failure rejects the promise rather than throwing at the caller.
    return Promise.resolve(payloads).then((list) => list.map((payload) => this.encrypt(payload)));
  }

  /** Decrypts the encrypted payloads with the key each names; others (written before encryption) pass through. */
  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads).then((list) => list.map((payload) => this.decrypt(payload)));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.ring.activeKey, iv);
    const plain = ProtoPayload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(this.ring.activeKeyId),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    const metadata = payload.metadata ?? {};
    if (text(metadata.encoding) !== ENCRYPTED_ENCODING) return payload;

    const keyId = text(metadata[KEY_ID_METADATA]);
    if (keyId === undefined) {
      throw new PayloadDecryptionError(
        DecryptionFailure.Malformed,
        undefined,
        `cannot decrypt a payload: it has no ${KEY_ID_METADATA}`,
      );
    }
    const cipherName = text(metadata[CIPHER_METADATA]);
    if (cipherName !== undefined && cipherName !== CIPHER) {
      throw new PayloadDecryptionError(
        DecryptionFailure.Malformed,
        keyId,
        `cannot decrypt a payload of key "${keyId}": cipher "${cipherName}" is not ${CIPHER}`,
      );
    }
    const key = this.ring.keys.get(keyId);
    if (key === undefined) {
      throw new PayloadDecryptionError(
        DecryptionFailure.UnknownKey,
        keyId,
        `cannot decrypt a payload: key "${keyId}" is not in the key ring (BATON_CODEC_KEYS)`,
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(
        DecryptionFailure.Malformed,
        keyId,
        `cannot decrypt a payload of key "${keyId}": its data is too short to hold an IV and a tag`,
      );
    }
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw new PayloadDecryptionError(
        DecryptionFailure.IntegrityCheckFailed,
        keyId,
        `cannot decrypt a payload of key "${keyId}": it failed the integrity check ` +
          '(the data was altered, or this is not the key it was encrypted with)',
        { cause },
      );
    }
    return ProtoPayload.decode(plain);
  }
}

/**
 * The module every worker, client and workflow bundle loads the failure converter from (`failureConverterPath`):
 * the TypeScript source under tsx, the compiled file under plain node.
 */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter that encrypts every payload with `ring` and moves failure messages and stack traces into
 * payloads too. Give the same one to the worker, every client and the replayer; pass `FAILURE_CONVERTER_PATH` to
 * `bundleWorkflowCode` as `failureConverterPath` when the bundle is built ahead of the worker.
 */
export function createDataConverter(ring: KeyRing): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(ring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

function utf8(value: string): Uint8Array {
  return Buffer.from(value, 'utf8');
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes === undefined || bytes === null ? undefined : Buffer.from(bytes).toString('utf8');
}
