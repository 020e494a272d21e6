import { loadConfig } from './config/load.js';
import { createLogger } from './logging/logger.js';
import { createWaygate } from './app.js';

/** Process entry: validate config (exit 1 naming each bad field), start, stop gracefully on signals. */
async function main(): Promise<void> {
  const result = loadConfig(process.env);
  if (!result.ok) {
    for (const problem of result.problems) process.stderr.write(`waygate: ${problem}\n`);
    process.exitCode = 1;
    return;
  }
  const { config } = result;
  const logger = createLogger({ level: config.env.LOG_LEVEL, secrets: config.secrets });
  let waygate;
  try {
    waygate = createWaygate({ config, logger });
    await waygate.start();
  } catch (err) {
    logger.fatal({ err }, 'Waygate could not start');
    process.stderr.write(`waygate: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const running = waygate;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Exit only once pino has written its buffered lines, so the last words of a shutdown are not lost.
    const exit = (code: number) => logger.flush(() => process.exit(code));
    running
      .stop()
      .then(() => exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
