/**
 * PagerDuty Webhooks v3 signatures: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, rawBody)>`, with
 * several comma-separated `v1=` entries while a subscription's secret is being rotated. A request is
 * authentic when any entry matches any configured secret. The secret is used as its literal UTF-8 bytes
 * (PagerDuty's secrets look like base64, but they are not decoded), and the body must be the raw bytes
 * as received: re-serialised JSON will not match.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_VERSION = 'v1=';
/** HMAC-SHA256 is 32 bytes: 64 hex characters. */
const HEX_SIGNATURE = /^[0-9a-f]{64}$/i;

function hmac(secret: string, rawBody: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(rawBody).digest();
}

/** `v1=<hex>` for a body, as PagerDuty puts it in X-PagerDuty-Signature. */
export function signPagerDutyBody(secret: string, rawBody: string): string {
  return SIGNATURE_VERSION + hmac(secret, rawBody).toString('hex');
}

/**
 * The v1 signatures a header carries, decoded; entries of other versions are skipped (PagerDuty may add
 * schemes), and a v1 entry that is not 64 hex digits is skipped as malformed.
 */
function v1Signatures(header: string): Buffer[] {
  const out: Buffer[] = [];
  for (const part of header.split(',')) {
    const entry = part.trim();
    if (!entry.startsWith(SIGNATURE_VERSION)) continue;
    const hex = entry.slice(SIGNATURE_VERSION.length);
    if (HEX_SIGNATURE.test(hex)) out.push(Buffer.from(hex, 'hex'));
  }
  return out;
}

/**
 * True when any well-formed `v1=` signature in `header` is the HMAC of `rawBody` under any of `secrets`.
 * A missing or malformed header, or no (non-empty) secrets, is false. Comparisons are constant-time.
 */
export function verifyPagerDutySignature(
  secrets: readonly string[],
  rawBody: Buffer | string,
  header: string | undefined,
): boolean {
  if (typeof header !== 'string' || header.length === 0) return false;
  const usable = secrets.filter((s) => s.length > 0);
  if (usable.length === 0) return false;
  const given = v1Signatures(header);
  if (given.length === 0) return false;
  let matched = false;
  for (const secret of usable) {
    const expected = hmac(secret, rawBody);
    for (const sig of given) {
      // Lengths are equal by construction (64 hex digits); check anyway, timingSafeEqual throws otherwise.
      // No early exit: every pair is compared, so timing does not reveal which secret or entry matched.
      if (sig.length === expected.length && timingSafeEqual(sig, expected)) matched = true;
    }
  }
  return matched;
}
