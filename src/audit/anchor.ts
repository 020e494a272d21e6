import type { AuditLog } from './audit-log.js';

/**
 * The chain's head as the daily digest posts it: "head #42 `0123456789abcdef`", the head entry's id and the
 * first 16 hex digits (64 bits) of its hash. Posted in Slack, it is a copy of the trail's state that someone
 * who can write only the database cannot change, so a later digest can check the trail still holds it.
 */
export interface AuditAnchor {
  id: number;
  /** The head hash's first ANCHOR_HEX_DIGITS hex digits. */
  head: string;
}

export const ANCHOR_HEX_DIGITS = 16;
const ANCHOR_RE = /head #(\d+) `([0-9a-f]{16})`/;

export function anchorText(anchor: AuditAnchor): string {
  return `head #${anchor.id} \`${anchor.head.slice(0, ANCHOR_HEX_DIGITS)}\``;
}

/** The anchor in a message's text or blocks (as JSON), if it has one. */
export function parseAnchor(text: string): AuditAnchor | undefined {
  const m = ANCHOR_RE.exec(text);
  return m ? { id: Number(m[1]), head: m[2]! } : undefined;
}

/** Why the trail no longer matches an anchor posted earlier; undefined when it still does. */
export async function anchorMismatch(audit: Pick<AuditLog, 'hashOf'>, anchor: AuditAnchor): Promise<string | undefined> {
  // Both sides are public (the anchor is posted in Slack): no secret to leak through timing.
  const stored = await audit.hashOf(anchor.id);
  if (stored === undefined) return `entry #${anchor.id}, the head an earlier digest posted, is no longer in the trail: the newest entries were deleted`;
  if (!stored.startsWith(anchor.head)) return `entry #${anchor.id} no longer has the hash an earlier digest posted for it: the trail up to it was rewritten`;
  return undefined;
}
