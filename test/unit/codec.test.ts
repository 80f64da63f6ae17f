/** Payload encryption alone: the key ring from its environment text, and the codec on payloads in memory. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { payloadToJSON } from '@temporalio/common/lib/proto-utils';
import {
  CIPHER,
  CIPHER_METADATA,
  DecryptionFailure,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  loadCodecServerSettings,
  PayloadDecryptionError,
} from '../../temporal/codec';
import { generateKey, KeyRingError, LOCAL_DEV_KEYS, parseKeyRing } from '../../config/key-ring';
import { ConfigError } from '../../config/config';
import { assertNoTrace } from '../support/traces';

const NAME = 'Zoë Privatperson';
const K1 = generateKey();
const K2 = generateKey();

function jsonPayload(value: unknown): Payload {
  return defaultPayloadConverter.toPayload(value);
}

function metadataText(payload: Payload, key: string): string | undefined {
  const bytes = payload.metadata?.[key];
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

describe('key ring', () => {
  test('reads several keys and encrypts with the first when no active key is named', () => {
    const ring = parseKeyRing(` k1:${K1} , k2:${K2} ,`);
    assert.equal(ring.activeKeyId, 'k1');
    assert.deepEqual([...ring.keys.keys()], ['k1', 'k2']);
  });

  test('encrypts with the key BATON_CODEC_ACTIVE_KEY names', () => {
    assert.equal(parseKeyRing(`k1:${K1},k2:${K2}`, 'k2').activeKeyId, 'k2');
    assert.equal(parseKeyRing(`k1:${K1},k2:${K2}`, '  ').activeKeyId, 'k1');
  });

  test('accepts the local development keys, and generated keys are 32 random bytes', () => {
    assert.equal(parseKeyRing(LOCAL_DEV_KEYS).activeKeyId, 'local-dev');
    assert.equal(Buffer.from(generateKey(), 'base64').length, 32);
    assert.notEqual(generateKey(), generateKey());
  });

  test('never shows key bytes when the ring is printed', () => {
    const ring = parseKeyRing(`k1:${K1}`);
    const printed = inspect(ring, { depth: 5 }) + JSON.stringify(ring);
    assert.equal(printed.includes(K1), false);
    assert.equal(printed.includes(Buffer.from(K1, 'base64').toString('hex')), false);
  });

  const refusals: {
    case: string;
    keys: string;
    active?: string;
    variable: string;
    says: RegExp;
    keyId?: string;
  }[] = [
    { case: 'an empty list', keys: ' , ', variable: 'BATON_CODEC_KEYS', says: /at least one key/ },
    {
      case: 'a key without an id',
      keys: `k1:${K1},${K2}`,
      variable: 'BATON_CODEC_KEYS',
      says: /entry 2 is not of the form keyId:base64key/,
    },
    {
      case: 'an id with forbidden characters',
      keys: `bad id!:${K1}`,
      variable: 'BATON_CODEC_KEYS',
      says: /entry 1 has an invalid key id/,
    },
    {
      case: 'a key of 31 bytes',
      keys: `short:${randomBytes(31).toString('base64')}`,
      variable: 'BATON_CODEC_KEYS',
      says: /key "short" must be the base64 of exactly 32 bytes/,
      keyId: 'short',
    },
    {
      case: 'a key of 33 bytes',
      keys: `long:${randomBytes(33).toString('base64')}`,
      variable: 'BATON_CODEC_KEYS',
      says: /key "long" must be the base64 of exactly 32 bytes/,
      keyId: 'long',
    },
    {
      case: 'a key that is not base64',
      keys: `odd:${'!'.repeat(43)}=`,
      variable: 'BATON_CODEC_KEYS',
      says: /key "odd" must be the base64/,
      keyId: 'odd',
    },
    {
      case: 'an id listed twice',
      keys: `k1:${K1},k1:${K2}`,
      variable: 'BATON_CODEC_KEYS',
      says: /key "k1" is listed twice/,
      keyId: 'k1',
    },
    {
      case: 'an active key that is not listed',
      keys: `k1:${K1}`,
      active: 'k9',
      variable: 'BATON_CODEC_ACTIVE_KEY',
      says: /key "k9" is not listed in BATON_CODEC_KEYS/,
      keyId: 'k9',
    },
    {
      case: 'a key pasted as the active key id',
      keys: `k1:${K1}`,
      active: K2,
      variable: 'BATON_CODEC_ACTIVE_KEY',
      says: /the key it names is not listed/,
    },
  ];
  for (const refusal of refusals) {
    test(`refuses ${refusal.case}, naming the variable and never echoing key bytes`, () => {
      assert.throws(
        () => parseKeyRing(refusal.keys, refusal.active),
        (error: unknown) => {
          assert.ok(error instanceof KeyRingError);
          assert.equal(error.variable, refusal.variable);
          assert.equal(error.keyId, refusal.keyId);
          assert.ok(error.message.startsWith(`${refusal.variable}: `), error.message);
          assert.match(error.message, refusal.says);
          for (const entry of `${refusal.keys},${refusal.active ?? ''}`.split(',')) {
            const material = entry.slice(entry.indexOf(':') + 1);
            if (material.length >= 16) assert.equal(error.message.includes(material), false, error.message);
          }
          return true;
        },
      );
    });
  }
});

describe('encryption codec', () => {
  const ring = parseKeyRing(`k1:${K1}`);
  const codec = new EncryptionCodec(ring);

  test('gives back each JSON payload exactly after an encode and a decode', async () => {
    const values = [{ name: NAME, amount: 1250, currency: 'EUR' }, 'plain text', 42, null, [1, 2, 3]];
    const payloads = values.map(jsonPayload);
    const decoded = await codec.decode(await codec.encode(payloads));
    assert.deepEqual(
      decoded.map((payload) => defaultPayloadConverter.fromPayload(payload)),
      values,
    );
    assert.deepEqual(decoded.map(payloadToJSON), payloads.map(payloadToJSON));
  });

  test('labels encrypted payloads with the encoding, key id and cipher', async () => {
    const [encrypted] = await codec.encode([jsonPayload({ name: NAME })]);
    assert.ok(encrypted);
    assert.equal(metadataText(encrypted, 'encoding'), ENCRYPTED_ENCODING);
    assert.equal(metadataText(encrypted, KEY_ID_METADATA), 'k1');
    assert.equal(metadataText(encrypted, CIPHER_METADATA), CIPHER);
    assert.deepEqual(
      Object.keys(encrypted.metadata ?? {}).sort(),
      [CIPHER_METADATA, KEY_ID_METADATA, 'encoding'].sort(),
    );
  });

  test('leaves no trace of the plaintext in the encrypted payload, as bytes or as base64', async () => {
    const plain = jsonPayload({ beneficiary: NAME, note: `pay ${NAME}` });
    // The check can see the name where it is present: the unencrypted payload fails it.
    assert.throws(() => assertNoTrace(Buffer.from(plain.data ?? []), NAME));
    assert.throws(() => assertNoTrace(JSON.stringify(payloadToJSON(plain)), NAME));

    const [encrypted] = await codec.encode([plain]);
    assert.ok(encrypted);
    assertNoTrace(Buffer.from(encrypted.data ?? []), NAME);
    assertNoTrace(JSON.stringify(payloadToJSON(encrypted)), NAME);
    assertNoTrace(JSON.stringify(payloadToJSON(encrypted)), 'json/plain');
  });

  test('encrypts the same payload differently each time (a fresh IV per payload)', async () => {
    const payload = jsonPayload({ name: NAME });
    const [first, second] = await codec.encode([payload, payload]);
    assert.ok(first && second);
    assert.notDeepEqual(Buffer.from(first.data ?? []), Buffer.from(second.data ?? []));
  });

  test('keeps decrypting old payloads after a new active key is added', async () => {
    const [old] = await codec.encode([jsonPayload({ name: NAME, written: 'before rotation' })]);
    assert.ok(old);
    const rotated = new EncryptionCodec(parseKeyRing(`k1:${K1},k2:${K2}`, 'k2'));
    const [fresh] = await rotated.encode([jsonPayload({ name: NAME, written: 'after rotation' })]);
    assert.ok(fresh);
    assert.equal(metadataText(fresh, KEY_ID_METADATA), 'k2');
    const [oldDecoded, freshDecoded] = await rotated.decode([old, fresh]);
    assert.ok(oldDecoded && freshDecoded);
    assert.deepEqual(defaultPayloadConverter.fromPayload(oldDecoded), {
      name: NAME,
      written: 'before rotation',
    });
    assert.deepEqual(defaultPayloadConverter.fromPayload(freshDecoded), {
      name: NAME,
      written: 'after rotation',
    });
    // The old ring cannot read what the new key wrote.
    await assert.rejects(codec.decode([fresh]), /key "k2" is not in the key ring/);
  });

  test('refuses a payload encrypted with a key the ring does not hold, naming the key id', async () => {
    const other = new EncryptionCodec(parseKeyRing(`retired-2023:${K2}`));
    const encrypted = await other.encode([jsonPayload({ name: NAME })]);
    await assert.rejects(codec.decode(encrypted), (error: unknown) => {
      assert.ok(error instanceof PayloadDecryptionError);
      assert.equal(error.code, DecryptionFailure.UnknownKey);
      assert.equal(error.keyId, 'retired-2023');
      assert.match(error.message, /key "retired-2023" is not in the key ring/);
      return true;
    });
  });

  test('refuses tampered data and a key swapped under the same id', async () => {
    const [encrypted] = await codec.encode([jsonPayload({ name: NAME, amount: 100 })]);
    assert.ok(encrypted);
    const data = Buffer.from(encrypted.data ?? []);
    for (const at of [0, 12, data.length - 1]) {
      const tampered = Buffer.from(data);
      tampered[at] = (tampered[at] ?? 0) ^ 0x01;
      await assert.rejects(codec.decode([{ ...encrypted, data: tampered }]), (error: unknown) => {
        assert.ok(error instanceof PayloadDecryptionError);
        assert.equal(error.code, DecryptionFailure.IntegrityCheckFailed);
        assert.match(error.message, /key "k1".*integrity check/);
        return true;
      });
    }
    const impostor = new EncryptionCodec(parseKeyRing(`k1:${K2}`));
    await assert.rejects(impostor.decode([encrypted]), /key "k1".*integrity check/);
  });

  test('refuses an encrypted payload that lacks its key id, is truncated or names another cipher', async () => {
    const [encrypted] = await codec.encode([jsonPayload('x')]);
    assert.ok(encrypted);
    const metadata = encrypted.metadata ?? {};
    const withoutKeyId = Object.fromEntries(
      Object.entries(metadata).filter(([key]) => key !== KEY_ID_METADATA),
    );
    const cases: Payload[] = [
      { metadata: withoutKeyId, data: encrypted.data ?? null },
      { metadata, data: Buffer.alloc(20) },
      { metadata: { ...metadata, [CIPHER_METADATA]: Buffer.from('ROT13') }, data: encrypted.data ?? null },
    ];
    for (const payload of cases) {
      await assert.rejects(codec.decode([payload]), (error: unknown) => {
        assert.ok(error instanceof PayloadDecryptionError);
        assert.equal(error.code, DecryptionFailure.Malformed);
        return true;
      });
    }
  });

  test('passes payloads written before encryption through unchanged', async () => {
    const plain = [jsonPayload({ name: 'recorded earlier' }), defaultPayloadConverter.toPayload(undefined)];
    const decoded = await codec.decode(plain);
    assert.equal(decoded[0], plain[0]);
    assert.equal(decoded[1], plain[1]);
  });
});

describe('codec server settings', () => {
  test('default to port 8888, loopback, the local UI origins and the local development keys', () => {
    const settings = loadCodecServerSettings({});
    assert.equal(settings.port, 8888);
    assert.equal(settings.host, '127.0.0.1');
    assert.deepEqual(settings.allowedOrigins, ['http://localhost:8233', 'http://127.0.0.1:8233']);
    assert.equal(settings.ring.activeKeyId, 'local-dev');
    assert.equal(settings.usingLocalDevKeys, true);
    assert.equal(settings.authToken, undefined);
    assert.equal(settings.namespaces, undefined);
  });

  test('read every variable', () => {
    const settings = loadCodecServerSettings({
      BATON_CODEC_KEYS: `k1:${K1},k2:${K2}`,
      BATON_CODEC_ACTIVE_KEY: 'k2',
      CODEC_SERVER_PORT: '9999',
      CODEC_SERVER_HOST: '0.0.0.0',
      CODEC_ALLOWED_ORIGINS: 'https://temporal.example.com, http://localhost:8080',
      CODEC_AUTH_TOKEN: 'a-long-enough-token',
      CODEC_NAMESPACES: 'payments,registrations',
    });
    assert.equal(settings.ring.activeKeyId, 'k2');
    assert.equal(settings.port, 9999);
    assert.equal(settings.host, '0.0.0.0');
    assert.deepEqual(settings.allowedOrigins, ['https://temporal.example.com', 'http://localhost:8080']);
    assert.equal(settings.authToken, 'a-long-enough-token');
    assert.deepEqual(settings.namespaces, ['payments', 'registrations']);
    assert.equal(settings.usingLocalDevKeys, false);
  });

  const bad: [string, NodeJS.ProcessEnv][] = [
    ['CODEC_SERVER_PORT', { CODEC_SERVER_PORT: 'eighty' }],
    ['CODEC_ALLOWED_ORIGINS', { CODEC_ALLOWED_ORIGINS: 'http://localhost:8233/ui' }],
    ['CODEC_AUTH_TOKEN', { CODEC_AUTH_TOKEN: 'short' }],
    ['CODEC_NAMESPACES', { CODEC_NAMESPACES: 'pay ments' }],
    ['BATON_CODEC_KEYS', { BATON_CODEC_KEYS: 'k1:c2hvcnQ=' }],
    ['BATON_CODEC_ACTIVE_KEY', { BATON_CODEC_KEYS: `k1:${K1}`, BATON_CODEC_ACTIVE_KEY: 'k2' }],
  ];
  for (const [variable, env] of bad) {
    test(`refuse a bad ${variable} with a configuration error naming it`, () => {
      assert.throws(
        () => loadCodecServerSettings(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`${variable}: `));
          assert.equal(error.message.includes('c2hvcnQ='), false);
          assert.equal(error.message.includes(`: short`), false);
          return true;
        },
      );
    });
  }
});
