import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from '../logging/logger.js';

/** Lets Bolt and the WebClient log through pino (and so through its redaction). */
export function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'bolt' });
  const text = (msgs: unknown[]): string => msgs.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  let level = LogLevel.INFO;
  return {
    debug: (...msgs: unknown[]) => child.debug(text(msgs)),
    info: (...msgs: unknown[]) => child.info(text(msgs)),
    warn: (...msgs: unknown[]) => child.warn(text(msgs)),
    error: (...msgs: unknown[]) => child.error(text(msgs)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
