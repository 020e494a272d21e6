import { describe, expect, it } from 'vitest';
import { API_KEY_PATTERN, generateApiKey, hashSecretId, KeyHasher } from '../../src/keys/key-hash.js';

const SECRET = 'unit-test-key-hash-secret-0123456789abcdef';

describe('API key generation (SOP-SEC-002: secrets.token_urlsafe(32))', () => {
  it('is 32 random bytes as base64url without padding: 43 characters of A-Z a-z 0-9 - _', () => {
    const keys = Array.from({ length: 200 }, generateApiKey);
    for (const key of keys) {
      expect(key).toMatch(API_KEY_PATTERN);
      expect(key).toHaveLength(43);
      expect(key).not.toContain('=');
      expect(Buffer.from(key, 'base64url')).toHaveLength(32);
      // Round-trips: the text is exactly the encoding of the bytes, as Python's token_urlsafe gives it.
      expect(Buffer.from(key, 'base64url').toString('base64url')).toBe(key);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('KeyHasher', () => {
  const key = generateApiKey();

  it('with a secret: an HMAC-SHA-256 naming the secret, never the key', () => {
    const hasher = new KeyHasher(SECRET);
    expect(hasher.scheme).toBe('hmac-sha256');
    const stored = hasher.hash(key);
    const [scheme, secretId, digest] = stored.split('$');
    expect([scheme, secretId]).toEqual(['hmac-sha256', hashSecretId(SECRET)]);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(key);
    expect(hasher.hash(key)).toBe(stored);
    expect(hasher.matches(key, stored)).toBe(true);
    expect(hasher.matches(generateApiKey(), stored)).toBe(false);
    // Made under another secret, or checked without one: it cannot verify, rather than verify wrongly.
    expect(new KeyHasher(`${SECRET}-other`).matches(key, stored)).toBe(false);
    expect(new KeyHasher(undefined).matches(key, stored)).toBe(false);
  });

  it('without a secret: scrypt with its own random salt per hash', () => {
    const hasher = new KeyHasher(undefined);
    expect(hasher.scheme).toBe('scrypt');
    const a = hasher.hash(key);
    const b = hasher.hash(key);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
    expect(hasher.matches(key, a)).toBe(true);
    expect(hasher.matches(key, b)).toBe(true);
    expect(hasher.matches(generateApiKey(), a)).toBe(false);
    // A secret configured later does not strand the keys hashed before it.
    expect(new KeyHasher(SECRET).matches(key, a)).toBe(true);
  });

  it('refuses malformed or unknown stored hashes', () => {
    const hasher = new KeyHasher(SECRET);
    for (const stored of ['', 'plain', `sha256$${key}`, 'scrypt$0$8$1$AAAA$00', 'scrypt$16384$8$1$AAAA$00', 'scrypt$99999999$8$1$AAAA$' + '0'.repeat(64), 'scrypt$3$8$1$AAAA$' + '0'.repeat(64), 'hmac-sha256$x$00']) {
      expect(hasher.matches(key, stored)).toBe(false);
    }
  });
});
