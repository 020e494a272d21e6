import { describe, expect, it } from 'vitest';
import { PAGERDUTY_URL_LIMIT, pagerDutyUrl } from '../../src/incidents/pagerduty-link.js';
import { renderAlert } from '../../src/incidents/alert-message.js';
import type { Incident } from '../../src/incidents/incident-repository.js';
import { fileConfigSchema } from '../../src/config/schema.js';
import { validateMessage } from '../../standins/slack/block-kit.js';

describe('pagerDutyUrl', () => {
  it('keeps an https link on PagerDuty, normalised', () => {
    expect(pagerDutyUrl('https://acme.pagerduty.com/incidents/Q1ABC')).toBe('https://acme.pagerduty.com/incidents/Q1ABC');
    expect(pagerDutyUrl('https://ACME.eu.PagerDuty.com/incidents/Q1ABC?a=1&b=2')).toBe('https://acme.eu.pagerduty.com/incidents/Q1ABC?a=1&b=2');
  });

  it.each([
    null,
    '',
    'https://pagerduty.com.evil.example/incidents/Q1',
    'https://evil.example/?pagerduty.com',
    'https://acme.pagerduty.com:8443/incidents/Q1',
    'https://acme.pagerduty.com./incidents/Q1',
    'https://аcme.pagerduty.com/incidents/Q1', // Cyrillic а
    'https://acme.pagerduty.com/incidents/Q1 <!channel>',
    'https://acme.pagerduty.com/incidents/Q1>',
    'HTTPS://user@acme.pagerduty.com/',
    'https://',
    '//acme.pagerduty.com/incidents/Q1',
    `https://acme.pagerduty.com/${'a'.repeat(PAGERDUTY_URL_LIMIT)}`,
  ])('refuses %s', (raw) => {
    expect(pagerDutyUrl(raw)).toBeNull();
  });

  it('takes only the configured host when one is given', () => {
    expect(pagerDutyUrl('https://acme.pagerduty.com/incidents/Q1', { accountHost: 'acme.pagerduty.com' })).not.toBeNull();
    expect(pagerDutyUrl('https://other.pagerduty.com/incidents/Q1', { accountHost: 'acme.pagerduty.com' })).toBeNull();
  });

  it('rejects a configured host that is not a bare host name', () => {
    expect(fileConfigSchema.safeParse({ incidents: { pagerDutyHost: 'https://acme.pagerduty.com/' } }).success).toBe(false);
    expect(fileConfigSchema.parse({ incidents: { pagerDutyHost: 'Acme.PagerDuty.com' } }).incidents.pagerDutyHost).toBe('acme.pagerduty.com');
    expect(fileConfigSchema.parse({}).incidents.pagerDutyHost).toBeUndefined();
  });
});

describe('an alert for an incident stored before links were checked', () => {
  const incident = (html_url: string): Incident => ({
    id: 'Q1OLD',
    number: 77,
    title: 'disk full',
    status: 'triggered',
    priority: 'P2',
    pd_priority: 'P2',
    urgency: 'high',
    service: 'API',
    html_url,
    assignees: '[]',
    created_at: 0,
    last_event_at: 0,
    last_pd_event_at: 0,
    acknowledged_at: null,
    acknowledged_by: null,
    acknowledged_source: null,
    resolved_at: null,
    resolved_by: null,
    resolved_source: null,
    sla_deadline: 60_000,
    sla_warn_at: 30_000,
    sla_state: 'running',
    breached_at: null,
    escalations: 0,
    alert_channel: 'C0ALERTS',
    alert_posted: 1,
    pd_sync: null,
    storm_id: null,
    storm_seq: null,
    assigned_slack: null,
    updated_at: 0,
  });

  it.each([
    ['too long for a button', `https://acme.pagerduty.com/incidents/Q1OLD?${'x'.repeat(3100)}`],
    ['a disguised label', 'https://acme.pagerduty.com/x|Reset your password'],
    ['plain http', 'http://acme.pagerduty.com/incidents/Q1OLD'],
  ])('is valid Block Kit without the link when html_url is %s', (_name, url) => {
    const alert = renderAlert(incident(url));
    expect(validateMessage(alert)).toEqual([]);
    expect(JSON.stringify(alert.blocks)).not.toContain(url.slice(0, 40));
  });
});
