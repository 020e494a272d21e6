/**
 * Sends requests to the bot exactly as Slack would: same body shapes, same headers, signed with the
 * app's signing secret, so Bolt's own verification runs against them unmodified.
 */
import { createHmac, randomBytes } from 'node:crypto';

export function slackSignature(secret: string, timestampSec: number, rawBody: string): string {
  return 'v0=' + createHmac('sha256', secret).update(`v0:${timestampSec}:${rawBody}`).digest('hex');
}

export interface SignOptions {
  timestampSec?: number;
  badSignature?: boolean;
  retryNum?: number;
  retryReason?: string;
  nowSec?: () => number;
}

export interface SignedResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into whatever the bot answered.
  json?: any;
}

export interface SlashCommandInput {
  text: string;
  userId?: string;
  userName?: string;
  channelId?: string;
  command?: string;
  responseUrl: string;
  triggerId?: string;
  teamId?: string;
}

/** What a user typed or picked in a modal: block_id → action_id → element state, as Slack sends it. */
export type ViewStateValues = Record<
  string,
  Record<string, { type: string; value?: string | null; selected_option?: { text?: { type: string; text: string }; value: string } | null; selected_options?: Array<{ value: string }>; selected_user?: string | null }>
>;

export interface ViewSubmissionInput {
  callbackId: string;
  userId: string;
  viewId?: string;
  privateMetadata?: string;
  values: ViewStateValues;
}

export interface BlockActionInput {
  actionId: string;
  /** The element clicked; default a button. Checkboxes send `selectedOptions`, overflow menus `selectedOption`. */
  type?: 'button' | 'checkboxes' | 'overflow' | 'static_select';
  value?: string;
  selectedOption?: string;
  selectedOptions?: string[];
  triggerId?: string;
  blockId?: string;
  userId: string;
  channelId: string;
  messageTs: string;
  responseUrl: string;
  message?: { text?: string; blocks?: unknown[] };
}

const TEAM_DOMAIN = 'standin';
const API_APP_ID = 'A0WAYGATE';
// Slack's deprecated verification token; Bolt ignores it but real payloads always carry one.
const VERIFICATION_TOKEN = 'STANDINVERIFICATIONTOKEN';

function triggerId(): string {
  return `${Date.now()}.${Math.floor(Math.random() * 1e11)}.${randomBytes(16).toString('hex')}`;
}

export class SlackRequestSigner {
  private readonly url: string;
  private readonly signingSecret: string;
  private readonly path: string;

  constructor(opts: { url: string; signingSecret: string; path?: string }) {
    this.url = opts.url.replace(/\/+$/, '');
    this.signingSecret = opts.signingSecret;
    this.path = opts.path ?? '/slack/events';
  }

  slashCommand(input: SlashCommandInput, opts: SignOptions = {}): Promise<SignedResponse> {
    const userId = input.userId ?? 'U0USER';
    const channelId = input.channelId ?? 'C0CHAN';
    const form = new URLSearchParams({
      token: VERIFICATION_TOKEN,
      team_id: input.teamId ?? 'T0STANDIN',
      team_domain: TEAM_DOMAIN,
      channel_id: channelId,
      channel_name: channelId.startsWith('D') ? 'directmessage' : 'standin-channel',
      user_id: userId,
      user_name: input.userName ?? userId.toLowerCase(),
      command: input.command ?? '/waygate',
      text: input.text,
      api_app_id: API_APP_ID,
      response_url: input.responseUrl,
      trigger_id: input.triggerId ?? triggerId(),
    });
    return this.send(form.toString(), 'application/x-www-form-urlencoded', opts);
  }

  blockAction(input: BlockActionInput, opts: SignOptions = {}): Promise<SignedResponse> {
    const blockId = input.blockId ?? 'actions';
    const payload = {
      type: 'block_actions',
      user: { id: input.userId, username: input.userId.toLowerCase(), team_id: 'T0STANDIN' },
      api_app_id: API_APP_ID,
      token: VERIFICATION_TOKEN,
      container: { type: 'message', message_ts: input.messageTs, channel_id: input.channelId, is_ephemeral: false },
      trigger_id: input.triggerId ?? triggerId(),
      team: { id: 'T0STANDIN', domain: TEAM_DOMAIN },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: input.channelId, name: 'standin-channel' },
      message: {
        type: 'message',
        ts: input.messageTs,
        text: input.message?.text ?? '',
        blocks: input.message?.blocks ?? [],
      },
      state: { values: {} },
      response_url: input.responseUrl,
      actions: [
        {
          type: input.type ?? 'button',
          action_id: input.actionId,
          block_id: blockId,
          ...(input.type === undefined || input.type === 'button' ? { text: { type: 'plain_text', text: input.actionId, emoji: true } } : {}),
          ...(input.value !== undefined ? { value: input.value } : {}),
          ...(input.selectedOption !== undefined ? { selected_option: { text: { type: 'plain_text', text: input.selectedOption }, value: input.selectedOption } } : {}),
          ...(input.selectedOptions !== undefined
            ? { selected_options: input.selectedOptions.map((v) => ({ text: { type: 'plain_text', text: v }, value: v })) }
            : {}),
          action_ts: `${this.nowSec(opts)}.000000`,
        },
      ],
    };
    const form = new URLSearchParams({ payload: JSON.stringify(payload) });
    return this.send(form.toString(), 'application/x-www-form-urlencoded', opts);
  }

  /** A modal's submit button, as Slack sends it: the view with its state, in a form body. */
  viewSubmission(input: ViewSubmissionInput, opts: SignOptions = {}): Promise<SignedResponse> {
    const payload = {
      type: 'view_submission',
      team: { id: 'T0STANDIN', domain: TEAM_DOMAIN },
      user: { id: input.userId, username: input.userId.toLowerCase(), team_id: 'T0STANDIN' },
      api_app_id: API_APP_ID,
      token: VERIFICATION_TOKEN,
      trigger_id: triggerId(),
      view: {
        id: input.viewId ?? 'V00000001',
        team_id: 'T0STANDIN',
        type: 'modal',
        callback_id: input.callbackId,
        private_metadata: input.privateMetadata ?? '',
        state: { values: input.values },
        hash: '1.abc',
        app_id: API_APP_ID,
        bot_id: 'B0WAYGATE',
      },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.interaction(payload, opts);
  }

  /** Any interaction payload, signed and form-encoded as Slack sends it (for payloads Slack should never send, too). */
  interaction(payload: object, opts: SignOptions = {}): Promise<SignedResponse> {
    const form = new URLSearchParams({ payload: JSON.stringify(payload) });
    return this.send(form.toString(), 'application/x-www-form-urlencoded', opts);
  }

  event(body: object, opts: SignOptions = {}): Promise<SignedResponse> {
    return this.send(JSON.stringify(body), 'application/json', opts);
  }

  private nowSec(opts: SignOptions): number {
    return Math.floor(opts.nowSec?.() ?? Date.now() / 1000);
  }

  private async send(body: string, contentType: string, opts: SignOptions): Promise<SignedResponse> {
    const ts = opts.timestampSec ?? this.nowSec(opts);
    const secret = opts.badSignature ? `${this.signingSecret}-wrong` : this.signingSecret;
    const headers: Record<string, string> = {
      // Exact value matters: Bolt's receiver answers 400 to a form body whose type carries a charset.
      'Content-Type': contentType,
      'X-Slack-Request-Timestamp': String(ts),
      'X-Slack-Signature': slackSignature(secret, ts, body),
    };
    if (opts.retryNum !== undefined) {
      headers['X-Slack-Retry-Num'] = String(opts.retryNum);
      headers['X-Slack-Retry-Reason'] = opts.retryReason ?? 'http_timeout';
    }
    const res = await fetch(`${this.url}${this.path}`, { method: 'POST', headers, body });
    const text = await res.text();
    const result: SignedResponse = { status: res.status, headers: Object.fromEntries(res.headers.entries()), text };
    if ((res.headers.get('content-type') ?? '').includes('application/json') && text.length > 0) {
      result.json = JSON.parse(text) as unknown;
    }
    return result;
  }
}
