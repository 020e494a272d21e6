import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

describe('waygate.example.yml', () => {
  it('is a valid configuration, so the README quick start works as written', () => {
    const path = join(import.meta.dirname, '..', '..', 'waygate.example.yml');
    const result = loadConfig(
      { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 'example-signing-secret-0123', WAYGATE_CONFIG: path },
      (p) => readFileSync(p, 'utf8'),
    );
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.file.timezone).toBe('Europe/Berlin');
    expect(result.config.file.roles.oncall).toEqual(['S0ONCALL']);
    expect(result.config.file.outbox).toEqual({ pace: 1000, maxBackoff: 300_000, giveUpAfter: 86_400_000 });
  });
});
