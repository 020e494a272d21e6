/**
 * The production build (`npm run build`: src/, commands/, jobs/) is what the image runs after
 * `npm prune --omit=dev`, so it may load nothing from devDependencies and must hold no stand-in, sandbox or
 * test code.
 * It is built once, into a temporary directory laid out like the image, then inspected and started; the
 * Docker files must not bring anything else into the image either.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../standins/slack/index.js';
import { BOT_TOKEN, DEFAULT_YAML, fetchHealthDetails, testEnv } from './helpers/bot.js';
import { spawnBot, type BotProcess } from './helpers/process.js';
import { importSites, packageName } from './support/import-specifiers.js';
import { PRODUCTION_BUILD_TIMEOUT_MS, startProductionBuild, type ProductionBuild } from './support/production-build.js';

const REPO = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const DEPENDENCIES = new Set(Object.keys(pkg.dependencies ?? {}));
const DEV_DEPENDENCIES = new Set(Object.keys(pkg.devDependencies ?? {}));

/** Every file under `dir`, as '/'-separated paths relative to it. */
function filesUnder(dir: string, below = ''): string[] {
  return readdirSync(join(dir, below), { withFileTypes: true })
    .flatMap((entry) => {
      const path = below === '' ? entry.name : `${below}/${entry.name}`;
      if (entry.isDirectory()) return filesUnder(dir, path);
      return entry.isFile() ? [path] : [];
    })
    .sort();
}

describe('the import scanner', () => {
  it('sees static imports, re-exports, import() and require(), and flags computed specifiers', () => {
    const code = [
      "import { WebSocketServer } from 'ws';",
      "import 'side-effect-only';",
      'import {',
      '  a,',
      '  b,',
      "} from '@scope/pkg/sub/path.js';",
      'export { c } from "./local.js";',
      "export * from 'reexported';",
      "const lazy = await import('lazy');",
      "const name = 'computed';",
      'const unknown = await import(name);',
      "const cjs = require('legacy');",
      "// import 'commented-out';",
      "const text = \"import 'in-a-string'\";",
      'const here = import.meta.url;',
    ].join('\n');
    expect(importSites(code).map((s) => [s.kind, s.specifier, s.line])).toEqual([
      ['import', 'ws', 1],
      ['import', 'side-effect-only', 2],
      ['import', '@scope/pkg/sub/path.js', 3],
      ['export', './local.js', 7],
      ['export', 'reexported', 8],
      ['import()', 'lazy', 9],
      ['import()', undefined, 11],
      ['require', 'legacy', 12],
    ]);
    expect(packageName('@scope/pkg/sub/path.js')).toBe('@scope/pkg');
    expect(packageName('tar/lib/extract.js')).toBe('tar');
    expect(packageName('ws')).toBe('ws');
  });
});

describe('the Docker build', () => {
  // Nothing in the test run builds the image, so these keep the two files honest about what reaches it.
  it('copies what the production build compiles, and no stand-ins, sandbox, tests or benchmarks', () => {
    const sources = readFileSync(join(REPO, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter((line) => /^COPY\s/.test(line) && !line.includes('--from='))
      .flatMap((line) => line.trim().split(/\s+/).slice(1, -1))
      .map((source) => source.replace(/^\.\/|\/$/g, ''));
    const { include } = JSON.parse(readFileSync(join(REPO, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    expect(sources).toEqual(expect.arrayContaining(include));
    expect(sources.filter((s) => s === '.' || /^(standins|sandbox|test|bench)(\/|$)/.test(s))).toEqual([]);
    expect(include.filter((dir) => /^(standins|sandbox|test|bench)(\/|$)/.test(dir))).toEqual([]);
  });

  it('leaves stand-ins, the sandbox, tests and benchmarks out of the build context', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim().replace(/^\/|\/$/g, ''));
    expect(ignored).toEqual(expect.arrayContaining(['standins', 'sandbox', 'test', 'bench']));
  });
});

describe('the production build', () => {
  let build: ProductionBuild | undefined;
  let dist: string;

  beforeAll(async () => {
    build = startProductionBuild();
    dist = build.dist;
    await build.done;
  }, PRODUCTION_BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await build?.remove();
  });

  it('holds src/, commands/ and jobs/ only: no stand-ins, tests or benchmarks', () => {
    const files = filesUnder(dist);
    expect(files).toContain('src/main.js');
    const stray = files.filter(
      (f) => !/^(src|commands|jobs)\//.test(f) || /(^|\/)(standins?|sandbox|test|support|bench)(\/|$)/i.test(f),
    );
    expect(stray).toEqual([]);
  });

  it('loads only Node builtins, its own files and packages from dependencies', () => {
    const problems: string[] = [];
    const packages = new Set<string>();
    const jsFiles = filesUnder(dist).filter((f) => f.endsWith('.js'));
    for (const file of jsFiles) {
      const path = join(dist, file);
      for (const site of importSites(readFileSync(path, 'utf8'))) {
        const at = `${file}:${site.line}`;
        const spec = site.specifier;
        if (spec === undefined) {
          problems.push(`${at}: ${site.kind} of a computed specifier, which cannot be checked`);
        } else if (spec.startsWith('.') || spec.startsWith('/')) {
          const target = resolve(dirname(path), spec);
          if (!target.startsWith(dist + sep) || !existsSync(target)) problems.push(`${at}: ${spec} is not a file of the build`);
        } else if (!isBuiltin(spec)) {
          const name = packageName(spec);
          packages.add(name);
          if (!DEPENDENCIES.has(name)) {
            const why = DEV_DEPENDENCIES.has(name) ? 'a devDependency, pruned from the image' : 'not a dependency';
            problems.push(`${at}: ${spec} is ${why}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    // A scan that found nothing would pass the check above vacuously.
    expect(jsFiles.length).toBeGreaterThan(10);
    expect([...packages]).toEqual(expect.arrayContaining(['@slack/bolt', 'better-sqlite3']));
  });

  describe('started as the image starts it (its CMD)', () => {
    let slack: SlackStandIn;
    let dir: string;
    let bot: BotProcess | undefined;
    const cmd = (): string[] => {
      const line = readFileSync(join(REPO, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('CMD '));
      return JSON.parse(line!.slice('CMD '.length)) as string[];
    };

    beforeEach(async () => {
      slack = await SlackStandIn.start({ token: BOT_TOKEN });
      dir = mkdtempSync(join(tmpdir(), 'waygate-proc-'));
    });
    afterEach(async () => {
      if (bot && bot.child.exitCode === null && bot.child.signalCode === null) {
        process.kill(-bot.child.pid!, 'SIGKILL');
      }
      await bot?.exited;
      await slack.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs the bot, which serves /health and /metrics and stops on SIGTERM', async () => {
      expect(cmd()).toEqual(['node', 'dist/src/main.js']);
      bot = spawnBot({ ...testEnv(dir, slack, DEFAULT_YAML), LOG_LEVEL: 'info' }, { commandIn: { cwd: build!.root, argv: cmd() } });
      const port = await bot.ready;
      const health = await fetchHealthDetails(`http://127.0.0.1:${port}`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', version: '0.1.0', database: { reachable: true } });
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('waygate_commands_total');
      process.kill(-bot.child.pid!, 'SIGTERM');
      await bot.exited;
      expect(bot.stdout.some((l) => l.includes('Waygate stopped'))).toBe(true);
    });

    it('with NODE_ENV=production and no Slack credentials, exits 1 naming the variables to set (there is no sandbox in the image)', async () => {
      bot = spawnBot({ NODE_ENV: 'production', WAYGATE_DB: join(dir, 'waygate.db') }, { commandIn: { cwd: build!.root, argv: cmd() } });
      const { code } = await bot.exited;
      expect(code).toBe(1);
      expect(bot.stderr).toEqual(
        expect.arrayContaining([
          'waygate: env: SLACK_BOT_TOKEN is required (the bot token, xoxb-…)',
          'waygate: env: SLACK_SIGNING_SECRET is required for HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)',
        ]),
      );
      expect(existsSync(join(dir, 'waygate.db'))).toBe(false);
    });
  });
});
