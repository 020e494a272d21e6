import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * manifest.yml is what an admin pastes into Slack's "Create app from manifest". Slack rejects a manifest
 * that breaks its schema, and a wrong URL or missing scope only shows up at the first real request, so
 * both are checked here: the official schema (slackapi/manifest-schema, kept in ../shared/schemas) and
 * the handful of things Waygate depends on.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifestPath = path.join(repoRoot, 'manifest.yml');
const schemaPath = path.resolve(repoRoot, '..', 'shared', 'schemas', 'slack-app-manifest.v1.schema.json');

const EVENTS_PATH = '/slack/events';
const EXPECTED_BOT_SCOPES = [
  'commands',
  'chat:write',
  'chat:write.public',
  'im:write',
  'users:read',
  'users:read.email',
  'usergroups:read',
  'files:write',
  'channels:history',
];

interface SlashCommand {
  command: string;
  url?: string;
  description: string;
  usage_hint?: string;
  should_escape?: boolean;
}

interface Manifest {
  _metadata?: { major_version?: number; minor_version?: number };
  display_information: { name: string; description?: string; background_color?: string };
  features?: {
    bot_user?: { display_name: string; always_online?: boolean };
    slash_commands?: SlashCommand[];
  };
  oauth_config?: { scopes?: { bot?: string[]; user?: string[] } };
  settings?: {
    interactivity?: { is_enabled: boolean; request_url?: string };
    event_subscriptions?: { request_url?: string; bot_events?: string[] };
    org_deploy_enabled?: boolean;
    socket_mode_enabled?: boolean;
    token_rotation_enabled?: boolean;
  };
}

function loadManifest(): Manifest {
  return parse(readFileSync(manifestPath, 'utf8')) as Manifest;
}

function errorsOf(validate: ValidateFunction, data: unknown): string {
  validate(data);
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

describe('manifest.yml', () => {
  let manifest: Manifest;
  let validate: ValidateFunction;

  beforeAll(() => {
    manifest = loadManifest();
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as object;
    // strict: false because the upstream schema uses non-standard keywords (`regex`, `_note`).
    // validateFormats: false because ajv-formats is not a dependency; the only format (`uri`) is on `$schema`.
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    validate = ajv.compile(schema);
  });

  it('validates against the Slack app manifest v1 schema', () => {
    expect(errorsOf(validate, manifest)).toBe('');
    expect(validate(manifest)).toBe(true);
  });

  it('uses manifest format 1.1', () => {
    expect(manifest._metadata).toEqual({ major_version: 1, minor_version: 1 });
  });

  it('the schema check really rejects broken manifests', () => {
    const longName = structuredClone(manifest);
    longName.display_information.name = 'W'.repeat(40);
    expect(validate(longName)).toBe(false);
    expect(errorsOf(validate, longName)).toContain('/display_information/name');

    const unknownKey = { ...structuredClone(manifest), slash_commands: [] };
    expect(validate(unknownKey)).toBe(false);

    const badCommand = structuredClone(manifest);
    badCommand.features!.slash_commands![0]!.command = 'waygate';
    expect(validate(badCommand)).toBe(false);

    const noName = structuredClone(manifest) as unknown as { display_information: Record<string, unknown> };
    delete noName.display_information.name;
    expect(validate(noName)).toBe(false);
  });

  it('has a display name Slack accepts and a valid hex background colour', () => {
    // The schema declares the colour rule with a non-standard `regex` keyword that ajv ignores, so check it here.
    expect(manifest.display_information.name).toBe('Waygate');
    const color = manifest.display_information.background_color ?? '';
    expect(color).toMatch(/^#[0-9a-fA-F]+$/);
    expect([4, 7]).toContain(color.length);
    expect(manifest.features?.bot_user).toEqual({ display_name: 'waygate', always_online: true });
  });

  it('registers /waygate against the HTTP events endpoint', () => {
    const commands = manifest.features?.slash_commands ?? [];
    const waygate = commands.find((c) => c.command === '/waygate');
    expect(waygate).toBeDefined();
    // Mentions arrive as <@U…|name>, so `/waygate oncall override @user` names a user id, not a display name.
    expect(waygate?.should_escape).toBe(true);
    expect(waygate?.usage_hint).toMatch(/\bhelp\b/);
    const url = new URL(waygate?.url ?? '');
    expect(url.protocol).toBe('https:');
    expect(url.pathname).toBe(EVENTS_PATH);
  });

  it('sends interactivity (buttons) to the same URL as the command', () => {
    const interactivity = manifest.settings?.interactivity;
    expect(interactivity?.is_enabled).toBe(true);
    expect(interactivity?.request_url).toBe(manifest.features?.slash_commands?.[0]?.url);
  });

  it('asks for exactly the bot scopes the features use, including users:read.email', () => {
    const bot = manifest.oauth_config?.scopes?.bot ?? [];
    expect(bot).toContain('users:read.email');
    expect([...bot].sort()).toEqual([...EXPECTED_BOT_SCOPES].sort());
    expect(new Set(bot).size).toBe(bot.length);
    expect(manifest.oauth_config?.scopes?.user).toBeUndefined();
  });

  it('runs in HTTP mode: socket mode, org deploy and token rotation off, no events yet', () => {
    expect(manifest.settings?.socket_mode_enabled).toBe(false);
    expect(manifest.settings?.org_deploy_enabled).toBe(false);
    expect(manifest.settings?.token_rotation_enabled).toBe(false);
    expect(manifest.settings?.event_subscriptions).toBeUndefined();
  });

  it('uses one placeholder host the installer is told to replace', () => {
    const text = readFileSync(manifestPath, 'utf8');
    expect(text).toMatch(/replace the placeholder host/i);
    const hosts = new Set(
      [manifest.features?.slash_commands?.[0]?.url, manifest.settings?.interactivity?.request_url].map(
        (u) => new URL(u ?? '').host,
      ),
    );
    expect([...hosts]).toEqual(['waygate.example.com']);
  });
});
