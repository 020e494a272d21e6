import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The "Waygate MCP" service the sandbox's bot watches: a health endpoint whose answer the side panel
 * switches, a small SQLite database for the backup and maintenance jobs, and a log the digest scans.
 */
export interface SampleService {
  healthUrl: string;
  database: string;
  logFile: string;
  healthy: boolean;
  setHealthy(healthy: boolean, now: Date): void;
  close(): Promise<void>;
}

export async function startSampleService(dir: string, now: Date): Promise<SampleService> {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the sandbox's own data folder
  mkdirSync(dir, { recursive: true });
  const database = join(dir, 'waygate-mcp.db');
  const logFile = join(dir, 'waygate-mcp.log');
  const db = new Database(database);
  db.exec('CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY, tool TEXT NOT NULL, at TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO requests (tool, at) VALUES (?, ?)');
  for (let i = 0; i < 200; i++) insert.run(['search', 'fetch', 'summarise'][i % 3]!, now.toISOString());
  db.close();
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the sandbox's own data folder
  writeFileSync(logFile, `${now.toISOString()} INFO waygate-mcp started\n`);

  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/health') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(service.healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(service.healthy ? { status: 'ok', database: 'ok', version: '2.4.1' } : { status: 'error', database: 'unreachable', version: '2.4.1' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const service: SampleService = {
    healthUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`,
    database,
    logFile,
    healthy: true,
    setHealthy(healthy, at) {
      service.healthy = healthy;
      const line = healthy ? 'INFO database connection restored' : 'ERROR database connection lost: unable to open database file';
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the sandbox's own data folder
      appendFileSync(logFile, `${at.toISOString()} ${line}\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return service;
}
