import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normaliseLogMessage, scanErrors } from '../../src/health/log-scan.js';

const LINES = [
  '2026-01-05 08:00:01,123 INFO waygate.server: started on port 8000',
  '2026-01-05 08:00:02,001 ERROR waygate.db: Connection to db failed after 3 retries',
  '2026-01-05 08:00:03,002 ERROR waygate.db: Connection to db failed after 5 retries',
  '2026-01-05T08:00:04.123Z [ERROR] request 7f3a9c2e failed: timeout 5000ms',
  '2026-01-05T08:00:05.456Z [ERROR] request 0b1c2d3e4f failed: timeout 3000ms',
  '2026-01-05T08:00:06.789Z [ERROR] request deadbeef42 failed: timeout 5000ms',
  '2026-01-05 08:00:07,000 WARNING waygate.cache: slow eviction',
  '2026-01-05 08:00:08,000 - waygate - ERROR - Upstream 502 for req 3fa85f64-5717-4562-b3fc-2c963f66afa6',
  '2026-01-05 08:00:09,000 - waygate - ERROR - Upstream 504 for req 0e9b1c2a-0000-4562-b3fc-2c963f66afa6',
  'Jan  5 08:00:10 host waygate[123]: ERROR pool exhausted (0x7ffd12)',
  '2026-01-05 08:00:11,000 error lower-case does not count',
];

describe('scanErrors', () => {
  let dir: string;
  let log: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-logscan-'));
    log = join(dir, 'waygate.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('counts ERROR lines and returns the 3 most frequent normalised messages', () => {
    writeFileSync(log, `${LINES.join('\n')}\n`);
    const r = scanErrors(log, 0);
    expect(r).toEqual({
      path: log,
      exists: true,
      errorLines: 8,
      top: [
        { message: 'request # failed: timeout #ms', count: 3 },
        { message: 'waygate.db: Connection to db failed after # retries', count: 2 },
        { message: 'Upstream # for req #', count: 2 },
      ],
      nextOffset: statSync(log).size,
      rotated: false,
      truncated: false,
    });
  });

  it('continues from the offset of the last scan', () => {
    writeFileSync(log, `${LINES.join('\n')}\n`);
    const first = scanErrors(log, 0);
    appendFileSync(log, '2026-01-06 08:00:00,000 ERROR disk full on /dev/sda1\n2026-01-06 08:00:01,000 INFO fine\n');
    const second = scanErrors(log, first.nextOffset);
    expect(second).toMatchObject({
      exists: true,
      errorLines: 1,
      top: [{ message: 'disk full on /dev/sda#', count: 1 }],
      nextOffset: statSync(log).size,
      rotated: false,
    });
    expect(scanErrors(log, second.nextOffset)).toMatchObject({ errorLines: 0, top: [], nextOffset: second.nextOffset });
  });

  it('leaves a line still being written for the next scan', () => {
    writeFileSync(log, 'ERROR one\nERROR tw');
    const first = scanErrors(log, 0);
    expect(first).toMatchObject({ errorLines: 1, nextOffset: 'ERROR one\n'.length });
    appendFileSync(log, 'o\n');
    expect(scanErrors(log, first.nextOffset)).toMatchObject({ errorLines: 1, top: [{ message: 'two', count: 1 }] });
  });

  it('detects rotation when the file is now smaller than the offset and reads it from the start', () => {
    writeFileSync(log, `${LINES.join('\n')}\n`);
    const first = scanErrors(log, 0);
    writeFileSync(log, '2026-01-06 00:00:01,000 ERROR fresh file error 1\n');
    const r = scanErrors(log, first.nextOffset);
    expect(r).toMatchObject({ exists: true, rotated: true, errorLines: 1, top: [{ message: 'fresh file error #', count: 1 }] });
    expect(r.nextOffset).toBe(statSync(log).size);
  });

  it('reports a missing file instead of throwing', () => {
    expect(scanErrors(join(dir, 'missing.log'), 1234)).toEqual({
      path: join(dir, 'missing.log'),
      exists: false,
      errorLines: 0,
      top: [],
      nextOffset: 0,
      rotated: false,
      truncated: false,
    });
  });

  it('reads an empty file as no errors', () => {
    writeFileSync(log, '');
    expect(scanErrors(log, 0)).toMatchObject({ exists: true, errorLines: 0, top: [], nextOffset: 0, rotated: false });
  });

  it('stops at the byte cap and continues there next time', () => {
    const line = '2026-01-05 08:00:00,000 ERROR capped 1\n'; // 39 bytes
    writeFileSync(log, line.repeat(10));
    const first = scanErrors(log, 0, 100);
    expect(first).toMatchObject({ errorLines: 2, nextOffset: 2 * line.length, truncated: true });
    let offset = first.nextOffset;
    let total = first.errorLines;
    for (let i = 0; i < 10 && offset < statSync(log).size; i++) {
      const r = scanErrors(log, offset, 100);
      total += r.errorLines;
      offset = r.nextOffset;
    }
    expect(total).toBe(10);
    expect(offset).toBe(statSync(log).size);
  });

  it('moves past a single line longer than the cap instead of stalling', () => {
    writeFileSync(log, `ERROR ${'x'.repeat(300)}\nERROR after\n`);
    const r = scanErrors(log, 0, 100);
    expect(r).toMatchObject({ errorLines: 1, nextOffset: 100, truncated: true });
    const rest = scanErrors(log, r.nextOffset, 1_000);
    expect(rest.errorLines).toBe(1); // "ERROR after"; the remainder of the long line has no ERROR
    expect(rest.nextOffset).toBe(statSync(log).size);
  });

  it('reads across chunk boundaries and multi-byte characters', () => {
    const big = `${'2026-01-05 08:00:00,000 INFO filler ✓ ünïcödé\n'.repeat(40_000)}2026-01-05 08:00:00,000 ERROR Zürich ✗ 7\n`;
    writeFileSync(log, big);
    expect(Buffer.byteLength(big)).toBeGreaterThan(1024 * 1024);
    const r = scanErrors(log, 0);
    expect(r).toMatchObject({ errorLines: 1, top: [{ message: 'Zürich ✗ #', count: 1 }], nextOffset: Buffer.byteLength(big) });
  });

  it('treats a nonsense offset as the start', () => {
    writeFileSync(log, 'ERROR a\n');
    expect(scanErrors(log, -5).errorLines).toBe(1);
    expect(scanErrors(log, Number.NaN).errorLines).toBe(1);
  });

  it('throws on errors other than a missing file (here: the path is a directory)', () => {
    expect(() => scanErrors(dir, 0)).toThrow(/EISDIR/);
  });

  it('ranks ties by first appearance', () => {
    writeFileSync(log, ['ERROR b', 'ERROR a', 'ERROR c', 'ERROR d', 'ERROR d'].join('\n') + '\n');
    expect(scanErrors(log, 0).top).toEqual([
      { message: 'd', count: 2 },
      { message: 'b', count: 1 },
      { message: 'a', count: 1 },
    ]);
  });
});

describe('normaliseLogMessage', () => {
  it.each([
    ['2026-01-05 08:00:01,123 ERROR waygate.server: Connection to db failed after 3 retries', 'waygate.server: Connection to db failed after # retries'],
    ['[2026-01-05 08:00:01 +0100] ERROR: boom', 'boom'],
    ['2026-01-05T08:00:01+01:00 ERROR boom', 'boom'],
    ['ERROR:    Exception in ASGI application', 'Exception in ASGI application'],
    ['{"level":"ERROR","ts":1767600000,"msg":"db timeout after 30s"}', 'db timeout after #s'],
    ['1767600000.123 ERROR something id=deadbeef99', 'something id=#'],
    ['level=ERROR request failed', 'request failed'],
    ['INFO got ERROR from upstream', 'got ERROR from upstream'],
    ['ERROR facade decade', 'facade decade'],
    ['ERROR', '(empty message)'],
  ])('%s → %s', (line, expected) => {
    expect(normaliseLogMessage(line)).toBe(expected);
  });

  it('caps long messages', () => {
    expect([...normaliseLogMessage(`ERROR ${'a'.repeat(1000)}`)]).toHaveLength(200);
  });
});
