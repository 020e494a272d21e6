import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog, teamProblems } from '../../src/sops/catalog.js';
import { parseDefinition, type Definition } from '../../src/sops/definition.js';
import { definitionJsonSchema } from '../../src/sops/json-schema.js';

const REPO = join(import.meta.dirname, '..', '..');
const DOCUMENT = readFileSync(join(REPO, '..', 'shared', 'seed', 'waygate-sop.md'), 'utf8');

/**
 * The SOP document, read the way a person reads it: each `### SOP-…` section, its checklists (`- [ ] …`)
 * and the points under its numbered steps (code blocks left out).
 */
function documentSops(): Map<string, { checklist: string[]; points: string[] }> {
  const sops = new Map<string, { checklist: string[]; points: string[] }>();
  const parts = DOCUMENT.split(/\n### (SOP-[A-Z]+-\d{3}): /);
  for (let i = 1; i < parts.length; i += 2) {
    const body = (parts[i + 1] ?? '').split('\n## ')[0]!.replace(/```[\s\S]*?```/g, '');
    const checklist = [...body.matchAll(/^\s*- \[ \] (.+)$/gm)].map((m) => m[1]!.trim());
    const bullets = [...body.matchAll(/^\s+- (?!\[)(.+)$/gm)].map((m) => m[1]!.trim());
    const titles = [...body.matchAll(/^\d+\. \*\*(.+?)\*\*/gm)].map((m) => m[1]!.trim());
    sops.set(parts[i]!, { checklist, points: [...checklist, ...bullets, ...titles] });
  }
  return sops;
}

function shipped(): Definition[] {
  const catalog = loadCatalog(join(REPO, 'sops'));
  if (!catalog.ok) throw new Error(catalog.problems.join('\n'));
  return [...catalog.definitions.values()].map((p) => p.definition);
}

const itemsOf = (d: Definition): string[] => d.steps.flatMap((s) => (s.kind === 'checklist' ? s.items.map((i) => i.text) : []));

describe('the SOP catalog', () => {
  const document = documentSops();
  const catalog = shipped().filter((d) => d.category !== undefined && d.sop !== undefined);

  it('holds every SOP of the document, once', () => {
    expect([...document.keys()]).toHaveLength(13);
    expect(catalog.map((d) => d.sop).sort()).toEqual([...document.keys()].sort());
  });

  it.each([...documentSops().keys()])('%s: every checklist item of the document is in its file, and the file ticks nothing the document does not say', (sop) => {
    const definition = catalog.find((d) => d.sop === sop)!;
    const { checklist, points } = document.get(sop)!;
    const items = itemsOf(definition);
    expect(items).toEqual(expect.arrayContaining(checklist));
    for (const item of items) expect(points).toContain(item);
  });

  it('commits the JSON Schema editors use, as generated from the schema the bot validates with', () => {
    expect(readFileSync(join(REPO, 'sops', 'definition.schema.json'), 'utf8')).toBe(definitionJsonSchema());
  });
});

describe("a team's own definitions", () => {
  const limits = { scripts: ['release'], roles: ['lead', 'ops'], channels: ['ops'] };
  const parse = (text: string): Definition => {
    const parsed = parseDefinition(text);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return parsed.pinned.definition;
  };

  it('may only name scripts of the allow-list and roles and channels of the config', () => {
    const definition = parse(`id: x\ntitle: X\nowner: lead\nchannel: releases\npermissions: { start: [release-manager], approve: [lead] }\nsteps:\n  - { id: a, kind: approval, title: A, approvers: [cto] }\n  - { id: s, kind: script, title: S, script: rm-everything }\n  - { id: n, kind: notify, title: N, to: nowhere, text: hi }\n`);
    expect(teamProblems(definition, limits)).toEqual([
      'channel: releases is not a channel under channels: in the config',
      'steps.1.script: rm-everything is not in the scripts: allow-list of the config',
      'steps.2.to: nowhere is not a channel under channels: in the config (or requester)',
      'permissions.start: release-manager is not a role under roles: in the config',
      'steps.0.approvers: cto is not a role under roles: in the config',
    ]);
    expect(teamProblems(parse(`id: y\ntitle: Y\nowner: lead\nchannel: ops\npermissions: { start: [ops] }\nsteps:\n  - { id: s, kind: script, title: S, script: release }\n`), limits)).toEqual([]);
  });
});
