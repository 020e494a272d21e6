import { describe, expect, it } from 'vitest';
import { loadConfig, type Config, type ConfigResult } from '../../src/config/load.js';

const BASE_ENV = { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 's3cret-value-0123456789', TZ: 'UTC' };
const CONFIG_PATH = '/etc/waygate/waygate.yml';

/** An in-memory file system: unknown paths fail the way readFileSync does. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    }
    return text;
  };
}

function withYaml(yaml: string, env: Record<string, string | undefined> = BASE_ENV): ConfigResult {
  return loadConfig({ TZ: 'UTC', ...env, WAYGATE_CONFIG: CONFIG_PATH }, files({ [CONFIG_PATH]: yaml }));
}

function ok(result: ConfigResult): Config {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.problems.join('\n')}`);
  return result.config;
}

function problems(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected config problems, but the config was accepted');
  return result.problems;
}

const neverRead = (path: string): string => {
  throw new Error(`no config file should be read, but ${path} was`);
};

describe('loadConfig: environment', () => {
  it('fills in defaults for a minimal environment and runs in HTTP mode', () => {
    const config = ok(loadConfig(BASE_ENV, neverRead));
    expect(config.env.PORT).toBe(3000);
    expect(config.env.WAYGATE_DB).toBe('./data/waygate.db');
    expect(config.env.SLACK_API_URL).toBe('https://slack.com/api/');
    expect(config.env.LOG_LEVEL).toBe('info');
    expect(config.file.timezone).toBe('UTC');
    expect(config.file.outbox.pace).toBe(1000);
    expect(config.file.outbox.maxBackoff).toBe(300_000);
    expect(config.file.outbox.giveUpAfter).toBe(86_400_000);
    expect(config.file.roles).toEqual({ lead: [], oncall: [], ops: [], security: [], admin: [] });
    expect(config.file.schedules).toEqual({});
    expect(config.mode).toBe('http');
  });

  it('selects Socket Mode when SLACK_APP_TOKEN is set, and then needs no signing secret', () => {
    const config = ok(loadConfig({ TZ: 'UTC', SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_APP_TOKEN: 'xapp-1-test-app-token' }));
    expect(config.mode).toBe('socket');
  });

  it('selects Socket Mode when both the app token and the signing secret are set', () => {
    expect(ok(loadConfig({ ...BASE_ENV, SLACK_APP_TOKEN: 'xapp-1-test-app-token' })).mode).toBe('socket');
  });

  it('rejects an app token that is not an xapp- token', () => {
    const list = problems(loadConfig({ ...BASE_ENV, SLACK_APP_TOKEN: 'xoxb-test-wrong-kind' }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: SLACK_APP_TOKEN .*xapp-/);
  });

  it('asks for SLACK_SIGNING_SECRET when neither it nor an app token is set', () => {
    const list = problems(loadConfig({ TZ: 'UTC', SLACK_BOT_TOKEN: 'xoxb-test-token' }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: SLACK_SIGNING_SECRET /);
    expect(list[0]).toContain('SLACK_APP_TOKEN');
  });

  it('treats an empty signing secret like a missing one', () => {
    const list = problems(loadConfig({ TZ: 'UTC', SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: '' }));
    expect(list.join('\n')).toContain('SLACK_SIGNING_SECRET');
  });

  it('names SLACK_BOT_TOKEN when it is missing', () => {
    const list = problems(loadConfig({ TZ: 'UTC', SLACK_SIGNING_SECRET: 's3cret-value-0123456789' }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: SLACK_BOT_TOKEN /);
  });

  it('names SLACK_BOT_TOKEN when it is not a bot token', () => {
    const list = problems(loadConfig({ ...BASE_ENV, SLACK_BOT_TOKEN: 'xoxp-test-user-token' }));
    expect(list).toEqual(['env: SLACK_BOT_TOKEN must be a bot token starting with xoxb-']);
  });

  it.each(['http', '70000', '-1', '80.5'])('names PORT when it is %j', (port) => {
    const list = problems(loadConfig({ ...BASE_ENV, PORT: port }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: PORT /);
  });

  it('accepts a numeric PORT from the environment string', () => {
    expect(ok(loadConfig({ ...BASE_ENV, PORT: '8080' })).env.PORT).toBe(8080);
  });

  it('names LOG_LEVEL when it is not a pino level, listing the allowed ones', () => {
    const list = problems(loadConfig({ ...BASE_ENV, LOG_LEVEL: 'verbose' }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: LOG_LEVEL /);
    expect(list[0]).toContain('debug');
  });

  it('adds a trailing slash to SLACK_API_URL so relative method names resolve under it', () => {
    const config = ok(loadConfig({ ...BASE_ENV, SLACK_API_URL: 'http://127.0.0.1:9999/api' }));
    expect(config.env.SLACK_API_URL).toBe('http://127.0.0.1:9999/api/');
  });

  it('keeps a SLACK_API_URL that already ends in a slash unchanged', () => {
    const config = ok(loadConfig({ ...BASE_ENV, SLACK_API_URL: 'http://127.0.0.1:9999/api/' }));
    expect(config.env.SLACK_API_URL).toBe('http://127.0.0.1:9999/api/');
  });

  it('names SLACK_API_URL when it is not a URL', () => {
    const list = problems(loadConfig({ ...BASE_ENV, SLACK_API_URL: 'slack dot com' }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^env: SLACK_API_URL /);
  });

  it('lists the bot token and signing secret as secrets', () => {
    const config = ok(loadConfig(BASE_ENV));
    expect(config.secrets).toEqual(expect.arrayContaining(['xoxb-test-token', 's3cret-value-0123456789']));
    expect(config.secrets).toHaveLength(2);
  });

  it('takes PostgreSQL from WAYGATE_DATABASE_URL, keeps its password out of logs, and names the variable when it is not one', () => {
    const config = ok(loadConfig({ ...BASE_ENV, WAYGATE_DATABASE_URL: 'postgres://waygate:pa%24%24word-0123@db:5432/waygate', WAYGATE_DB_POOL: '20' }));
    expect(config.env).toMatchObject({ WAYGATE_DATABASE_URL: 'postgres://waygate:pa%24%24word-0123@db:5432/waygate', WAYGATE_DB_POOL: 20 });
    expect(config.secrets).toContain('pa$$word-0123');
    expect(ok(loadConfig(BASE_ENV)).env.WAYGATE_DB_POOL).toBe(10);
    expect(problems(loadConfig({ ...BASE_ENV, WAYGATE_DATABASE_URL: 'mysql://db/waygate' }))).toEqual([
      'env: WAYGATE_DATABASE_URL must be a PostgreSQL URL such as postgres://waygate:password@db:5432/waygate',
    ]);
    expect(problems(loadConfig({ ...BASE_ENV, WAYGATE_DB_POOL: '1' }))).toEqual(['env: WAYGATE_DB_POOL must be at least 2']);
  });

  it('lists the app token as a secret too in Socket Mode', () => {
    const config = ok(loadConfig({ ...BASE_ENV, SLACK_APP_TOKEN: 'xapp-1-test-app-token' }));
    expect(config.secrets).toEqual(expect.arrayContaining(['xoxb-test-token', 's3cret-value-0123456789', 'xapp-1-test-app-token']));
  });

  it.each([
    ['SLACK_SIGNING_SECRET', 'x', 'must be at least 16 characters'],
    ['SLACK_SIGNING_SECRET', 'fifteen-chars-x', 'must be at least 16 characters'],
    ['PAGERDUTY_WEBHOOK_SECRET', '%', 'each comma-separated secret must be at least 16 characters'],
    ['PAGERDUTY_WEBHOOK_SECRET', 'a-long-enough-webhook-secret,short', 'each comma-separated secret must be at least 16 characters'],
    ['PAGERDUTY_API_TOKEN', 'u+short', 'must be at least 16 characters'],
    ['HEALTH_DETAILS_TOKEN', 'letmein', 'must be at least 16 characters'],
  ])('refuses a %s as short as %j, naming the variable and not the value', (name, value, message) => {
    const list = problems(loadConfig({ ...BASE_ENV, [name]: value }));
    expect(list).toHaveLength(1);
    expect(list[0]?.startsWith(`env: ${name} ${message}`), list[0]).toBe(true);
    expect(list[0]).not.toContain(value);
  });

  it('lists HEALTH_DETAILS_TOKEN as a secret', () => {
    const config = ok(loadConfig({ ...BASE_ENV, HEALTH_DETAILS_TOKEN: 'a-health-details-token-0123' }));
    expect(config.secrets).toContain('a-health-details-token-0123');
  });

  it('accepts secrets of 16 characters and more', () => {
    const config = ok(
      loadConfig({ ...BASE_ENV, SLACK_SIGNING_SECRET: 'x'.repeat(16), PAGERDUTY_WEBHOOK_SECRET: `${'a'.repeat(16)}, ${'b'.repeat(64)}`, PAGERDUTY_API_TOKEN: 'u+abcdefghij0123456789' }),
    );
    expect(config.webhookSecrets).toEqual(['a'.repeat(16), 'b'.repeat(64)]);
  });

  it('does not read any file when WAYGATE_CONFIG is unset or empty', () => {
    expect(ok(loadConfig(BASE_ENV, neverRead)).file.timezone).toBe('UTC');
    expect(ok(loadConfig({ ...BASE_ENV, WAYGATE_CONFIG: '' }, neverRead)).file.timezone).toBe('UTC');
  });
});

describe('loadConfig: YAML file', () => {
  it('reads the file named by WAYGATE_CONFIG', () => {
    const config = ok(
      withYaml(`
timezone: Europe/Berlin
channels:
  ops: C0123ABCD
  alerts: G0ALERTS1
roles:
  lead: [U0LEAD01]
  oncall: [S0ONCALL1, W0ENTERP1]
  ops: ['*']
schedules:
  housekeeping: "0 3 * * *"
  digest: false
`),
    );
    expect(config.file.timezone).toBe('Europe/Berlin');
    expect(config.file.channels).toEqual({ ops: 'C0123ABCD', alerts: 'G0ALERTS1' });
    expect(config.file.roles.lead).toEqual(['U0LEAD01']);
    expect(config.file.roles.oncall).toEqual(['S0ONCALL1', 'W0ENTERP1']);
    expect(config.file.roles.ops).toEqual(['*']);
    expect(config.file.roles.admin).toEqual([]);
    expect(config.file.schedules).toEqual({ housekeeping: '0 3 * * *', digest: false });
  });

  it('treats an empty file like no file', () => {
    const config = ok(withYaml(''));
    expect(config.file.timezone).toBe('UTC');
    expect(config.file.outbox.pace).toBe(1000);
  });

  it('names the role member path and the config path for a member that is not a Slack id', () => {
    const list = problems(withYaml('roles: { lead: [bob] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('roles.lead[0]');
    expect(list[0]).toContain(CONFIG_PATH);
    expect(list[0]).toMatch(/^config \/etc\/waygate\/waygate\.yml: roles\.lead\[0\] /);
  });

  it('points at the right index when a later role member is bad', () => {
    const list = problems(withYaml('roles: { admin: [U0ADMIN01, "@alice"] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('roles.admin[1]');
  });

  it('names an unknown top-level key', () => {
    const list = problems(withYaml('timezone: UTC\nchanels: { ops: C0123ABCD }'));
    expect(list).toEqual([`config ${CONFIG_PATH}: unknown key chanels`]);
  });

  it('names an unknown role with its full path', () => {
    const list = problems(withYaml('roles: { leads: [U0LEAD01] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('roles.leads');
    expect(list[0]).toContain('unknown key');
  });

  it('names an invalid timezone', () => {
    const list = problems(withYaml('timezone: Europe/Atlantis'));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^config \/etc\/waygate\/waygate\.yml: timezone /);
  });

  it('names an invalid cron expression under schedules', () => {
    const list = problems(withYaml('schedules: { housekeeping: "61 * * * *" }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('schedules.housekeeping');
    expect(list[0]).toContain('cron');
  });

  it('accepts false to disable a schedule, and a 6-field expression', () => {
    const config = ok(withYaml('schedules: { housekeeping: false, heartbeat: "*/30 * * * * *" }'));
    expect(config.file.schedules).toEqual({ housekeeping: false, heartbeat: '*/30 * * * * *' });
  });

  it('rejects true as a schedule (only false disables)', () => {
    const list = problems(withYaml('schedules: { housekeeping: true }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('schedules.housekeeping');
  });

  it('rejects a channel given by #name, naming channels.ops', () => {
    const list = problems(withYaml('channels: { ops: "#ops" }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('channels.ops');
    expect(list[0]).toContain('channel id');
  });

  it('names a channel alias that looks like a typo of a built-in one', () => {
    const list = problems(withYaml('channels: { alert: C0123ABCD }'));
    expect(list).toEqual([`config ${CONFIG_PATH}: unknown key channels.alert: alert looks like a typo of the built-in channel alerts`]);
  });

  it('accepts channel aliases and roles a team adds, and permissions granted to them', () => {
    const config = ok(
      withYaml(
        'channels: { releases: C0REL0001 }\nroles: { release-manager: [U0RM0001] }\npermissions: { job.run: [ops, release-manager], command.health: everyone }',
      ),
    );
    expect(config.file.channels.releases).toBe('C0REL0001');
    expect(config.file.roles['release-manager']).toEqual(['U0RM0001']);
    expect(config.file.roles.lead).toEqual([]);
    expect(config.file.permissions).toEqual({ 'job.run': ['ops', 'release-manager'], 'command.health': 'everyone' });
  });

  it('refuses a permission granted to a role nobody defined, naming it', () => {
    const list = problems(withYaml('permissions: { job.run: [ops, release-manager] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('permissions.job.run[1]');
    expect(list[0]).toContain('names no defined role');
    expect(list[0]).toContain('"release-manager"');
  });

  it('tells a short custom name from a typo: pm is a role of its own, op is a typo of ops', () => {
    expect(ok(withYaml('roles: { pm: [U0PM00001] }')).file.roles.pm).toEqual(['U0PM00001']);
    expect(problems(withYaml('roles: { op: [U0OP00001] }'))).toEqual([`config ${CONFIG_PATH}: unknown key roles.op: op looks like a typo of the built-in role ops`]);
  });

  it('refuses a custom role name that is not a plain name', () => {
    const list = problems(withYaml('roles: { Release_Manager: [U0RM0001] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('unknown key roles.Release_Manager');
    expect(list[0]).toContain('lower-case words joined by dashes');
  });

  it('refuses a malformed permission name', () => {
    const list = problems(withYaml('permissions: { "jobs run": [ops] }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('must be a permission name');
  });

  it('parses outbox durations into milliseconds and keeps the other defaults', () => {
    const config = ok(withYaml('outbox: { pace: 250ms, maxBackoff: 10m }'));
    expect(config.file.outbox).toEqual({ pace: 250, maxBackoff: 600_000, giveUpAfter: 86_400_000 });
  });

  it('names a malformed outbox duration and shows the bad value', () => {
    const list = problems(withYaml('outbox: { giveUpAfter: 1.5h }'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain('outbox.giveUpAfter');
    expect(list[0]).toContain('"1.5h"');
  });

  it('reports invalid YAML syntax as a line starting with the config path', () => {
    const list = problems(withYaml('roles:\n  lead: [U0LEAD01\nchannels: {'));
    expect(list.length).toBeGreaterThan(0);
    for (const line of list) expect(line.startsWith(`config ${CONFIG_PATH}: invalid YAML`)).toBe(true);
  });

  it('reports a file that cannot be read, with the error code', () => {
    const list = problems(loadConfig({ ...BASE_ENV, WAYGATE_CONFIG: '/missing.yml' }, files({})));
    expect(list).toEqual(['config /missing.yml: cannot be read (ENOENT)']);
  });

  it('rejects a YAML document that is not a mapping', () => {
    const list = problems(withYaml('- lead\n- ops'));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain(`config ${CONFIG_PATH}: (root)`);
  });
});

describe('loadConfig: reporting', () => {
  it('reports every problem from the environment and the file at once, one line each', () => {
    const result = loadConfig(
      {
        SLACK_BOT_TOKEN: 'xoxp-test-user',
        SLACK_SIGNING_SECRET: 's3cret-value-0123456789',
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        WAYGATE_CONFIG: CONFIG_PATH,
      },
      files({
        [CONFIG_PATH]: `
timezone: Nowhere/City
surprise: 1
channels: { ops: "#ops" }
roles: { lead: [bob], leads: [U0LEAD01] }
schedules: { housekeeping: "61 * * * *" }
outbox: { pace: 5 minutes }
`,
      }),
    );
    const list = problems(result);
    const mentions = [
      'SLACK_BOT_TOKEN',
      'PORT',
      'LOG_LEVEL',
      'timezone',
      'surprise',
      'channels.ops',
      'roles.lead[0]',
      'roles.leads',
      'schedules.housekeeping',
      'outbox.pace',
    ];
    for (const name of mentions) expect(list.some((line) => line.includes(name)), name).toBe(true);
    expect(list.length).toBeGreaterThanOrEqual(mentions.length);
    for (const line of list) expect(line).not.toMatch(/[\r\n]/);
  });

  it('keeps multi-line YAML parser messages to a single line each', () => {
    const list = problems(withYaml('a: [1, 2\nb: {\n  c: "unterminated\n'));
    expect(list.length).toBeGreaterThan(0);
    for (const line of list) expect(line).not.toMatch(/[\r\n]/);
  });

  it('reports a malformed bot token and a missing signing secret together', () => {
    const list = problems(loadConfig({ TZ: 'UTC', SLACK_BOT_TOKEN: 'xoxp-test-user' }));
    expect(list).toHaveLength(2);
    expect(list[0]).toMatch(/^env: SLACK_BOT_TOKEN /);
    expect(list[1]).toMatch(/^env: SLACK_SIGNING_SECRET /);
  });

  it('still asks for the signing secret when other variables are also wrong', () => {
    const list = problems(loadConfig({ TZ: 'UTC', PORT: 'eighty', LOG_LEVEL: 'loud' }));
    for (const name of ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'PORT', 'LOG_LEVEL']) {
      expect(list.some((line) => line.startsWith(`env: ${name} `)), name).toBe(true);
    }
    expect(list).toHaveLength(4);
  });

  it('never echoes environment values back (they may be secrets)', () => {
    const list = problems(loadConfig({ TZ: 'UTC', SLACK_BOT_TOKEN: 'xoxp-test-private-user-token', SLACK_APP_TOKEN: 'not-an-xapp-test-secret' }));
    expect(list).toHaveLength(2);
    expect(list.join('\n')).not.toContain('xoxp-test-private-user-token');
    expect(list.join('\n')).not.toContain('not-an-xapp-test-secret');
  });

  it('reports environment problems even when the file is unreadable', () => {
    const list = problems(loadConfig({ TZ: 'UTC', WAYGATE_CONFIG: '/missing.yml', SLACK_SIGNING_SECRET: 'x' }, files({})));
    expect(list.some((l) => l.startsWith('env: SLACK_BOT_TOKEN'))).toBe(true);
    expect(list).toContain('config /missing.yml: cannot be read (ENOENT)');
  });
});

describe('edge cases found in review', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 's3cret-value-0123456789', TZ: 'UTC' };
  it('treats an empty PORT as unset (3000), not as port 0', () => {
    const r = loadConfig({ ...base, PORT: '' });
    expect(r.ok && r.config.env.PORT).toBe(3000);
  });
  it('refuses a SLACK_API_URL that is not http(s)', () => {
    const r = loadConfig({ ...base, SLACK_API_URL: 'ftp://example.com/api' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems.join('\n')).toContain('SLACK_API_URL must be an http(s) URL');
  });
  it('keeps a problem about a key with a line break on one line', () => {
    const r = loadConfig({ ...base, WAYGATE_CONFIG: '/c.yml' }, () => '"bad\\nkey": 1\n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]).not.toContain('\n');
      expect(r.problems[0]).toContain('unknown key bad\\nkey');
    }
  });

describe('the time zone', () => {
  const env = { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 's3cret-value-0123456789' };

  it('is required when neither the config, TZ nor the system names one, and start-up says so', () => {
    expect(problems(loadConfig(env, neverRead, 'Etc/UTC'))).toEqual([
      'config: timezone is required: the IANA zone of your schedules, business hours and the 9 AM digest (e.g. Europe/Berlin, or UTC to mean it); neither the TZ variable nor the system names one',
    ]);
  });

  it('comes from the config first, then TZ, then the system, and says which', () => {
    const fromFile = ok(loadConfig({ ...env, TZ: 'America/New_York', WAYGATE_CONFIG: CONFIG_PATH }, files({ [CONFIG_PATH]: 'timezone: Europe/Berlin' }), 'Asia/Tokyo'));
    expect([fromFile.file.timezone, fromFile.timezoneSource]).toEqual(['Europe/Berlin', 'config']);
    const fromTz = ok(loadConfig({ ...env, TZ: 'America/New_York' }, neverRead, 'Asia/Tokyo'));
    expect([fromTz.file.timezone, fromTz.timezoneSource]).toEqual(['America/New_York', 'TZ']);
    const fromSystem = ok(loadConfig(env, neverRead, 'Asia/Tokyo'));
    expect([fromSystem.file.timezone, fromSystem.timezoneSource]).toEqual(['Asia/Tokyo', 'system']);
    // TZ=UTC is somebody's choice, unlike a container's default.
    expect(ok(loadConfig({ ...env, TZ: 'UTC' }, neverRead, 'Etc/UTC')).file.timezone).toBe('UTC');
  });

  it('names TZ when it is not a zone', () => {
    expect(problems(loadConfig({ ...env, TZ: 'Mars/Olympus' }, neverRead, 'Etc/UTC'))).toEqual([
      'env: TZ "Mars/Olympus" is not an IANA time zone such as Europe/Berlin; set it, or `timezone` in the config',
    ]);
  });
});

describe('links', () => {
  it('accepts http(s) links for the digest and alert cards, and refuses one that could break a Slack link', () => {
    expect(ok(withYaml('links: { dashboard: "https://grafana.example.com/d/1", repository: "https://github.com/acme/waygate" }')).file.links).toEqual({
      dashboard: 'https://grafana.example.com/d/1',
      repository: 'https://github.com/acme/waygate',
    });
    expect(problems(withYaml('links: { runbook: "javascript:alert(1)" }')).join('\n')).toContain('links.runbook must be an http(s) URL');
    expect(problems(withYaml('links: { wiki: "https://wiki.example.com" }')).join('\n')).toContain('unknown key links.wiki');
  });
});
});
