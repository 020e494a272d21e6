import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDefinition, type PinnedDefinition } from './definition.js';

/**
 * The procedures shipped with Waygate: the top-level `sops/` folder, found from this file whether it runs
 * from `src/` (tsx) or `dist/src/` (the build).
 */
export function builtInSopsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../sops'), resolve(here, '../../../sops')];
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- two fixed paths next to this file
  return candidates.find((dir) => existsSync(join(dir, 'hotfix.yml'))) ?? candidates[0]!;
}

export type CatalogOutcome = { ok: true; definitions: Map<string, PinnedDefinition> } | { ok: false; problems: string[] };

/**
 * Reads every `*.yml` definition of a folder, in name order. A file that does not validate is reported with
 * its name and field, and the whole catalog is refused: a procedure that silently vanished would be worse.
 */
export function loadCatalog(dir: string): CatalogOutcome {
  const problems: string[] = [];
  const definitions = new Map<string, PinnedDefinition>();
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the folder of shipped definitions
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml')).sort();
  for (const file of files) {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file of that folder
    const parsed = parseDefinition(readFileSync(join(dir, file), 'utf8'));
    if (!parsed.ok) {
      problems.push(...parsed.problems.map((p) => `${file}: ${p}`));
      continue;
    }
    const { id } = parsed.pinned.definition;
    if (definitions.has(id)) problems.push(`${file}: id ${id} is already used by another file`);
    else definitions.set(id, parsed.pinned);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, definitions };
}
