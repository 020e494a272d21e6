import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signPagerDutyBody, verifyPagerDutySignature } from '../../src/pagerduty/signature.js';
import { incidentDataSchema, webhookEnvelopeSchema } from '../../src/pagerduty/webhook-schema.js';

// Public test vector from PagerDuty/go-pagerduty webhookv3/webhookv3_test.go (secret, body and signature
// copied byte for byte; the signature was also checked with `openssl dgst -sha256 -hmac`).
const GO_SECRET = 'lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK';
const GO_BODY =
  '{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}';
const GO_SIGNATURE = 'v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd';
/** go-pagerduty's "mismatch" case: well-formed, but not this body's signature. */
const GO_MISMATCH = 'v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5';

const OLD_SECRET = 'old-secret-before-rotation';
const NEW_SECRET = 'new-secret-after-rotation';

describe('PagerDuty webhook signatures', () => {
  it('reproduces the go-pagerduty test vector', () => {
    expect(signPagerDutyBody(GO_SECRET, GO_BODY)).toBe(GO_SIGNATURE);
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY, GO_SIGNATURE)).toBe(true);
    expect(verifyPagerDutySignature([GO_SECRET], Buffer.from(GO_BODY, 'utf8'), GO_SIGNATURE)).toBe(true);
  });

  it("rejects go-pagerduty's mismatching signature", () => {
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY, GO_MISMATCH)).toBe(false);
  });

  it('rejects a body changed after signing, even by re-serialising the same JSON', () => {
    const reserialised = JSON.stringify(JSON.parse(GO_BODY), null, 1);
    expect(verifyPagerDutySignature([GO_SECRET], reserialised, GO_SIGNATURE)).toBe(false);
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY.replace('P1', 'P2'), GO_SIGNATURE)).toBe(false);
  });

  it('accepts a rotation header when any one of its signatures matches, in either order', () => {
    const good = signPagerDutyBody(NEW_SECRET, GO_BODY);
    const bad = signPagerDutyBody('some-other-secret', GO_BODY);
    expect(verifyPagerDutySignature([NEW_SECRET], GO_BODY, `${bad},${good}`)).toBe(true);
    expect(verifyPagerDutySignature([NEW_SECRET], GO_BODY, `${good},${bad}`)).toBe(true);
    expect(verifyPagerDutySignature([NEW_SECRET], GO_BODY, `${bad}, ${good}`)).toBe(true);
    expect(verifyPagerDutySignature([NEW_SECRET], GO_BODY, `${bad},${GO_MISMATCH}`)).toBe(false);
  });

  it('accepts a signature made with any configured secret, so both work during rotation', () => {
    const secrets = [NEW_SECRET, OLD_SECRET];
    expect(verifyPagerDutySignature(secrets, GO_BODY, signPagerDutyBody(OLD_SECRET, GO_BODY))).toBe(true);
    expect(verifyPagerDutySignature(secrets, GO_BODY, signPagerDutyBody(NEW_SECRET, GO_BODY))).toBe(true);
    expect(verifyPagerDutySignature(secrets, GO_BODY, GO_SIGNATURE)).toBe(false);
  });

  it('rejects a signature made with the wrong secret', () => {
    expect(verifyPagerDutySignature([`${GO_SECRET}x`], GO_BODY, GO_SIGNATURE)).toBe(false);
    expect(verifyPagerDutySignature([NEW_SECRET], GO_BODY, signPagerDutyBody(OLD_SECRET, GO_BODY))).toBe(false);
  });

  it('signs with the secret as literal bytes, not base64-decoded', () => {
    const literal = createHmac('sha256', Buffer.from(GO_SECRET, 'utf8')).update(GO_BODY).digest('hex');
    expect(GO_SIGNATURE).toBe(`v1=${literal}`);
    const decodedKey = createHmac('sha256', Buffer.from(GO_SECRET, 'base64')).update(GO_BODY).digest('hex');
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY, `v1=${decodedKey}`)).toBe(false);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['only the version', 'v1='],
    ['no version prefix', GO_SIGNATURE.slice(3)],
    ['another version', `v0=${GO_SIGNATURE.slice(3)}`],
    ['another scheme name', `sha256=${GO_SIGNATURE.slice(3)}`],
    ['truncated hex', GO_SIGNATURE.slice(0, -2)],
    ['trailing garbage', `${GO_SIGNATURE}00`],
    ['non-hex digits', `v1=${'zz'.repeat(32)}`],
    ['only separators', ',,,'],
    ['a lone comma-separated empty entry', `v1=,${GO_MISMATCH}`],
  ])('rejects a malformed header: %s', (_name, header) => {
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY, header)).toBe(false);
  });

  it('still finds a good signature next to malformed entries', () => {
    expect(verifyPagerDutySignature([GO_SECRET], GO_BODY, `v1=,garbage,${GO_SIGNATURE}`)).toBe(true);
  });

  it('is false with no secrets or only empty secrets, even for a correctly signed body', () => {
    expect(verifyPagerDutySignature([], GO_BODY, GO_SIGNATURE)).toBe(false);
    expect(verifyPagerDutySignature([''], GO_BODY, signPagerDutyBody('', GO_BODY))).toBe(false);
  });

  it('parses the go-pagerduty sample as a webhook envelope carrying incident data', () => {
    const envelope = webhookEnvelopeSchema.parse(JSON.parse(GO_BODY));
    expect(envelope.event).toMatchObject({ event_type: 'incident.priority_updated', resource_type: 'incident' });
    expect(envelope.event.agent?.summary).toBe('Tenex Engineer');
    const incident = incidentDataSchema.parse(envelope.event.data);
    expect(incident).toMatchObject({ id: 'PGR0VU2', number: 2, status: 'triggered', urgency: 'high' });
    expect(incident.priority?.summary).toBe('P1');
    expect(incident.assignees.map((a) => a.summary)).toEqual(['User 123']);
  });
});
