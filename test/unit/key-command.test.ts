import { describe, expect, it } from 'vitest';
import { key } from '../../commands/key.js';
import type { CommandContext } from '../../src/commands/types.js';
import { ManualClock } from '../../src/clock/clock.js';

/**
 * The router answers a command that misses the ack budget through an outbox `respond` row, which persists.
 * A reply holding a key must never take that path, so `key` must answer synchronously.
 */
describe('/waygate key answers synchronously', () => {
  const info = { id: 1, name: 'ci', owner: 'U0SEC', createdBy: 'U0SEC', createdAt: 0, rotatedAt: 0, status: 'active' as const, graceUntil: null, revokedAt: null, revokeReason: null };
  const ctx = {
    userId: 'U0SEC',
    responseUrl: 'https://hooks.slack.com/x',
    clock: new ManualClock('2026-03-02T08:00:00Z'),
    afterAck: () => undefined,
    apiKeys: {
      create: () => ({ ok: true, key: 'k'.repeat(43), info }),
      rotate: () => ({ ok: true, key: 'k'.repeat(43), info, graceUntil: 1 }),
      revoke: () => ({ ok: true, versions: 1, owner: 'U0SEC' }),
      list: () => [info],
      rotationScriptConfigured: true,
      graceMs: 86_400_000,
    },
  } as unknown as CommandContext;

  it.each([['create ci'], ['rotate ci'], ['revoke ci gone'], ['list']])('`key %s` returns its reply, not a promise', (text) => {
    const words = text.split(' ');
    const parsed = key.parse(words[0] === 'revoke' ? [words[0], words[1]!, words.slice(2).join(' ')] : words);
    expect(parsed.ok).toBe(true);
    const reply = key.run(ctx, (parsed as { args: unknown }).args);
    expect(reply).not.toBeInstanceOf(Promise);
    expect((reply as { text: string }).text.length).toBeGreaterThan(0);
  });
});
