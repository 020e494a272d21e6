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
export function loadCatalog(dir: string, check?: (definition: PinnedDefinition['definition']) => string[]): CatalogOutcome {
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
    const unfit = check?.(parsed.pinned.definition) ?? [];
    if (unfit.length > 0) {
      problems.push(...unfit.map((p) => `${file}: ${p}`));
      continue;
    }
    if (definitions.has(id)) problems.push(`${file}: id ${id} is already used by another file`);
    else definitions.set(id, parsed.pinned);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, definitions };
}

/** What a team's own definition may name: only what the config has. */
export interface TeamLimits {
  scripts: readonly string[];
  roles: readonly string[];
  channels: readonly string[];
}

/**
 * A team's definition may only name scripts of the `scripts:` allow-list and roles and channels the config
 * has: a typo would otherwise surface only when someone starts it, perhaps during an incident.
 */
export function teamProblems(definition: PinnedDefinition['definition'], limits: TeamLimits): string[] {
  const problems: string[] = [];
  if (!limits.channels.includes(definition.channel)) problems.push(`channel: ${definition.channel} is not a channel under channels: in the config`);
  const roleLists: Array<[string, readonly string[] | undefined]> = [
    ['permissions.start', definition.permissions.start],
    ['permissions.approve', definition.permissions.approve],
  ];
  definition.steps.forEach((step, i) => {
    if (step.kind === 'approval') roleLists.push([`steps.${i}.approvers`, step.approvers]);
    if (step.kind === 'script' && !limits.scripts.includes(step.script)) problems.push(`steps.${i}.script: ${step.script} is not in the scripts: allow-list of the config`);
    if ((step.kind === 'notify' || step.kind === 'remind') && step.to !== 'requester' && !limits.channels.includes(step.to)) {
      problems.push(`steps.${i}.to: ${step.to} is not a channel under channels: in the config (or requester)`);
    }
  });
  for (const [field, roles] of roleLists) {
    for (const role of roles ?? []) if (!limits.roles.includes(role)) problems.push(`${field}: ${role} is not a role under roles: in the config`);
  }
  return problems;
}

/**
 * The shipped procedures and, when `sops.dir` is set, the team's own: validated together (an id used twice
 * is refused), the team's also against the config (teamProblems).
 */
export function loadCatalogs(builtInDir: string, teamDir: string | null, limits: TeamLimits): CatalogOutcome {
  const shipped = loadCatalog(builtInDir);
  if (!shipped.ok || teamDir === null) return shipped;
  const team = loadCatalog(teamDir, (d) => teamProblems(d, limits));
  if (!team.ok) return { ok: false, problems: team.problems.map((p) => `${teamDir}/${p}`) };
  const clashes = [...team.definitions.keys()].filter((id) => shipped.definitions.has(id));
  if (clashes.length > 0) return { ok: false, problems: clashes.map((id) => `${teamDir}: id ${id} is already used by a procedure shipped with Waygate`) };
  return { ok: true, definitions: new Map([...shipped.definitions, ...team.definitions]) };
}
