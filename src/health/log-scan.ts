/**
 * SOP-MAINT-001 `grep ERROR /var/log/waygate/waygate.log`, incrementally: each digest reads the log from the
 * byte offset where the previous one stopped, so an error is reported once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { oneLine, truncate } from '../core/text.js';

/** Most bytes read per scan; a longer backlog is read on by the next scan. */
export const MAX_SCAN_BYTES = 50 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
const TOP_N = 3;
const MESSAGE_CHARS = 200;
const NEWLINE = 0x0a;

export interface LogScan {
  path: string;
  exists: boolean;
  /** Lines containing `ERROR` (case-sensitive, like grep) among those read. */
  errorLines: number;
  /** The most frequent normalised messages, most frequent first (ties: first seen first). */
  top: Array<{ message: string; count: number }>;
  /** Where the next scan starts: just after the last complete line read. */
  nextOffset: number;
  /** The file was smaller than the offset, so it was replaced (logrotate) and read from its start. */
  rotated: boolean;
  /** The read stopped at MAX_SCAN_BYTES before the end of the file; the next scan continues from nextOffset. */
  truncated: boolean;
}

// Prefix patterns are anchored and free of nested repetition, and lines are cut to LINE_CHARS before they
// are matched: log lines carry request data, so the patterns must stay linear whatever a line holds.
const LINE_CHARS = 2_000;
const TIMESTAMP_PREFIXES: readonly RegExp[] = [
  // 2026-01-05 08:00:01,123 · 2026-01-05T08:00:01.123Z · [2026-01-05 08:00:01.5+01:00]
  /^\[?\d{4}-\d{2}-\d{2}[T ][\d:.,]{5,18}Z?\]?/,
  // a zone offset left over from the above: "+0100", "-05:00"
  /^[+-]\d{2}:?\d{2}\]?(?=\s|$)/,
  // syslog with host and program: "Jan  5 08:00:01 host waygate[123]:"
  /^[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2} [\w.-]{1,255} [\w./[\]-]{1,255}:/,
  /^[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}/,
  // epoch seconds or milliseconds
  /^\d{10}[.\d]{0,7}(?=\s|$)/,
];
const LEVEL_PREFIX =
  /^(\[(ERROR|CRITICAL|FATAL|WARN|WARNING|INFO|DEBUG|TRACE|NOTICE)\]|(level=)?(ERROR|CRITICAL|FATAL|WARN|WARNING|INFO|DEBUG|TRACE|NOTICE)(?=[\s:|\]-]|$)):?/;
// Python's `%(asctime)s - %(name)s - %(levelname)s - %(message)s` leaves "name - ERROR - message".
const NAME_THEN_LEVEL = /^[\w.-]{1,255} - (ERROR|CRITICAL|FATAL|WARN|WARNING|INFO|DEBUG|TRACE|NOTICE) - /;
const SEPARATOR = /^([-|:]{1,10}|\[\d{1,10}\])(?=\s|$)/;

/** The message of a log line: timestamps and level prefixes gone, JSON lines reduced to their message. */
function messageOf(line: string): string {
  let text = line.slice(0, LINE_CHARS).trim();
  if (text.startsWith('{')) {
    try {
      const obj = JSON.parse(text) as Record<string, unknown>;
      const msg = obj.message ?? obj.msg ?? obj.event ?? obj.error;
      if (typeof msg === 'string' && msg.trim().length > 0) return msg.trim();
    } catch {
      // Not JSON: treated as text.
    }
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const re of [...TIMESTAMP_PREFIXES, LEVEL_PREFIX, NAME_THEN_LEVEL, SEPARATOR]) {
      const m = re.exec(text);
      if (m && m[0].length > 0) {
        text = text.slice(m[0].length).trimStart();
        changed = true;
      }
    }
  }
  return text;
}

/**
 * Groups log lines that differ only in timestamps, numbers and ids: prefixes stripped, UUIDs, 0x…, hex ids
 * of 6+ characters with a digit and all numbers replaced by `#`, whitespace collapsed.
 */
export function normaliseLogMessage(line: string): string {
  const message = oneLine(
    messageOf(line)
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '#')
      .replace(/\b0x[0-9a-f]+\b/gi, '#')
      .replace(/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b/gi, '#')
      .replace(/\d+/g, '#'),
  );
  return message === '' ? '(empty message)' : truncate(message, MESSAGE_CHARS);
}

function errnoCode(err: unknown): unknown {
  return (err as { code?: unknown }).code;
}

/**
 * Counts the ERROR lines written since `fromOffset`. A file now smaller than the offset was rotated and is read
 * from its start. A missing file is `exists: false` (nextOffset 0, so its successor is read from the start);
 * other I/O errors (e.g. permission denied) throw. A trailing line without a newline is still being written and
 * is left for the next scan. At most MAX_SCAN_BYTES are read per call.
 */
export function scanErrors(path: string, fromOffset: number, maxBytes: number = MAX_SCAN_BYTES): LogScan {
  let fd: number;
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured log file
    fd = openSync(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      return { path, exists: false, errorLines: 0, top: [], nextOffset: 0, rotated: false, truncated: false };
    }
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const offset = Number.isSafeInteger(fromOffset) && fromOffset >= 0 ? fromOffset : 0;
    const rotated = offset > size;
    const start = rotated ? 0 : offset;
    const end = Math.min(size, start + Math.max(1, maxBytes));

    const counts = new Map<string, number>();
    let errorLines = 0;
    const countLines = (bytes: Buffer): void => {
      for (const line of bytes.toString('utf8').split('\n')) {
        if (!line.includes('ERROR')) continue;
        errorLines += 1;
        const key = normaliseLogMessage(line);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    };

    // Lines are split on the newline byte, which never occurs inside a multi-byte UTF-8 character.
    let pending: Buffer = Buffer.alloc(0);
    let consumed = start; // file position just after the last complete line handled
    let position = start;
    const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, Math.max(1, end - start)));
    while (position < end) {
      const read = readSync(fd, chunk, 0, Math.min(chunk.length, end - position), position);
      if (read === 0) break;
      position += read;
      const data = pending.length > 0 ? Buffer.concat([pending, chunk.subarray(0, read)]) : chunk.subarray(0, read);
      const lastNewline = data.lastIndexOf(NEWLINE);
      if (lastNewline < 0) {
        pending = Buffer.from(data);
        continue;
      }
      countLines(data.subarray(0, lastNewline));
      consumed += lastNewline + 1;
      pending = Buffer.from(data.subarray(lastNewline + 1));
    }
    const truncated = end < size;
    // A single line longer than the whole budget would otherwise stall every later scan: count it and move on.
    if (truncated && consumed === start && pending.length > 0) {
      countLines(pending);
      consumed += pending.length;
    }

    const top = [...counts.entries()]
      .map(([message, count], seen) => ({ message, count, seen }))
      .sort((a, b) => b.count - a.count || a.seen - b.seen)
      .slice(0, TOP_N)
      .map(({ message, count }) => ({ message, count }));
    return { path, exists: true, errorLines, top, nextOffset: consumed, rotated, truncated };
  } finally {
    closeSync(fd);
  }
}
