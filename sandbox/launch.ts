/**
 * `npm start`. With Slack credentials (or in production) this is the bot exactly as before: the compiled
 * production entry, dist/src/main.js. Without any, it opens the local sandbox instead (sandbox/server.ts).
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { sandboxPort, startMode } from './mode.js';

const mode = startMode(process.env);
if (mode.kind === 'production') {
  await import(pathToFileURL(join(import.meta.dirname, '..', 'dist', 'src', 'main.js')).href);
} else if (mode.kind === 'refuse') {
  process.stderr.write(`${mode.message}\n`);
  process.exitCode = 1;
} else {
  await runSandbox();
}

async function runSandbox(): Promise<void> {
  const { startSandbox } = await import('./server.js');
  let sandbox;
  try {
    sandbox = await startSandbox({
      port: sandboxPort(process.env.PORT),
      ...(process.env.WAYGATE_DB ? { database: process.env.WAYGATE_DB } : {}),
      ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
    });
  } catch (err) {
    process.stderr.write(`waygate: the sandbox could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`Waygate sandbox mode (no Slack credentials set): open ${sandbox.url} — Slack and PagerDuty are local stand-ins; set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to connect to Slack.\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sandbox
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
