// `npm run migrate-to-postgres -- <sqlite file> <postgres url>`: moves an existing SQLite database into an
// empty PostgreSQL database (README, "Running more than one replica"). Stop Waygate first.
import { openDatabase } from '../src/db/database.js';
import { openPostgres, redact } from '../src/db/postgres.js';
import { MoveFailed, moveToPostgres } from '../src/db/move-to-postgres.js';

const [file, url] = process.argv.slice(2);
if (!file || !url || !/^postgres(ql)?:\/\//.test(url)) {
  console.error('usage: npm run migrate-to-postgres -- <sqlite file> <postgres://user:password@host:5432/database>');
  process.exit(2);
}

try {
  // Opening the file brings it to this version's schema, as starting Waygate would.
  const source = openDatabase(file);
  const target = await openPostgres(url);
  try {
    const report = await moveToPostgres(source, target);
    const width = Math.max(...report.tables.map((t) => t.table.length));
    for (const t of report.tables) console.log(`${t.table.padEnd(width)}  ${String(t.sqlite).padStart(8)} → ${String(t.postgres).padStart(8)}`);
    console.log(`moved ${file} to ${redact(url)}: every table's row count matches. Start Waygate with WAYGATE_DATABASE_URL set.`);
  } finally {
    source.close();
    await target.close();
  }
} catch (err) {
  if (err instanceof MoveFailed) for (const p of err.report.problems) console.error(`  ${p}`);
  console.error(`not moved: ${(err as Error).message}`);
  process.exit(1);
}
