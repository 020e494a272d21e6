import { createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/** SOP-SEC-002: 32 random bytes, as Python's `secrets.token_urlsafe(32)` gives them. */
export const API_KEY_BYTES = 32;
/** base64url of 32 bytes without padding: 43 characters. */
export const API_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new API key: 32 bytes from the system's CSPRNG, base64url without padding. */
export function generateApiKey(): string {
  return randomBytes(API_KEY_BYTES).toString('base64url');
}

/**
 * scrypt cost for the fallback: N=2^14, r=8, p=1 costs about 16 MiB and a few tens of milliseconds, enough
 * to make guessing from a stolen database slow. A key is 256 random bits, so this guards against a weak
 * random source more than against guessing; the cost stays low because hashing runs before the ack.
 */
const SCRYPT = { N: 16_384, r: 8, p: 1 } as const;
const SCRYPT_SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Names a hash secret without revealing it, so a stored hash says which secret made it. */
export function hashSecretId(secret: string): string {
  return createHmac('sha256', secret).update('waygate api key hash secret id').digest('hex').slice(0, 16);
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Hashes API keys for storage and checks presented keys against stored hashes (decision 016). The stored
 * form names its scheme, so hashes made before a secret was configured still verify after:
 * - `hmac-sha256$<secret id>$<hex>` under WAYGATE_KEY_HASH_SECRET, which never enters the database;
 * - `scrypt$<N>$<r>$<p>$<salt b64url>$<hex>` without it, with a random salt per key.
 */
export class KeyHasher {
  private readonly secretId: string | undefined;

  constructor(private readonly secret: string | undefined) {
    this.secretId = secret === undefined ? undefined : hashSecretId(secret);
  }

  get scheme(): 'hmac-sha256' | 'scrypt' {
    return this.secret === undefined ? 'scrypt' : 'hmac-sha256';
  }

  hash(key: string): string {
    if (this.secret !== undefined && this.secretId !== undefined) {
      return `hmac-sha256$${this.secretId}$${createHmac('sha256', this.secret).update(key).digest('hex')}`;
    }
    const salt = randomBytes(SCRYPT_SALT_BYTES);
    const digest = scryptSync(key, salt, HASH_BYTES, SCRYPT);
    return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${digest.toString('hex')}`;
  }

  /** Constant-time in the key; false for a malformed hash or one made under a secret not configured now. */
  matches(presented: string, stored: string): boolean {
    const parts = stored.split('$');
    if (parts[0] === 'hmac-sha256' && parts.length === 3) {
      if (this.secret === undefined || parts[1] !== this.secretId) return false;
      const expected = Buffer.from(parts[2] ?? '', 'hex');
      return sameBytes(createHmac('sha256', this.secret).update(presented).digest(), expected);
    }
    if (parts[0] === 'scrypt' && parts.length === 6) {
      const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
      if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) return false;
      const expected = Buffer.from(parts[5] ?? '', 'hex');
      if (expected.length !== HASH_BYTES) return false;
      try {
        const digest = scryptSync(presented, Buffer.from(parts[4] ?? '', 'base64url'), HASH_BYTES, { N, r, p, maxmem: 256 * N * r * 2 });
        return sameBytes(digest, expected);
      } catch {
        return false; // parameters scrypt refuses (N not a power of two): not a hash this code wrote
      }
    }
    return false;
  }
}
