import { parseJsonField } from './block-kit.js';
import type { ApiResult, Params } from './params.js';

/** Slack's published limits for modals. */
export const MODAL_LIMITS = { title: 24, button: 24, blocks: 100, privateMetadata: 3000, callbackId: 255 } as const;

export interface OpenedView {
  id: string;
  triggerId: string;
  callbackId: string;
  privateMetadata: string;
  title: string;
  blocks: unknown[];
}

function textOf(field: unknown): string | undefined {
  return typeof field === 'object' && field !== null && typeof (field as { text?: unknown }).text === 'string'
    ? (field as { text: string }).text
    : undefined;
}

/** Problems Slack would answer views.open with (`invalid_arguments`); empty when it would open the modal. */
export function validateModal(view: unknown): string[] {
  if (typeof view !== 'object' || view === null) return ['view must be an object'];
  const v = view as Record<string, unknown>;
  const problems: string[] = [];
  if (v.type !== 'modal') problems.push('view.type must be modal');
  const title = textOf(v.title);
  if (title === undefined) problems.push('view.title is required');
  else if (title.length > MODAL_LIMITS.title) problems.push(`view.title is ${title.length} chars; max is ${MODAL_LIMITS.title}`);
  for (const key of ['submit', 'close'] as const) {
    const text = textOf(v[key]);
    if (v[key] !== undefined && (text === undefined || text.length > MODAL_LIMITS.button)) problems.push(`view.${key} must be plain text of at most ${MODAL_LIMITS.button} chars`);
  }
  if (!Array.isArray(v.blocks)) problems.push('view.blocks must be an array');
  else if (v.blocks.length > MODAL_LIMITS.blocks) problems.push(`view has ${v.blocks.length} blocks; max is ${MODAL_LIMITS.blocks}`);
  else if ((v.blocks as Array<{ type?: unknown }>).some((b) => b.type === 'input') && v.submit === undefined) problems.push('a view with input blocks needs a submit button');
  if (typeof v.private_metadata === 'string' && v.private_metadata.length > MODAL_LIMITS.privateMetadata) problems.push('view.private_metadata is too long');
  if (typeof v.callback_id === 'string' && v.callback_id.length > MODAL_LIMITS.callbackId) problems.push('view.callback_id is too long');
  return problems;
}

/** views.open: modals opened with a trigger_id, kept so tests can look at them and submit them. */
export class ViewStore {
  private opened: OpenedView[] = [];
  private seq = 0;

  open(params: Params): ApiResult {
    const triggerId = params.trigger_id;
    if (typeof triggerId !== 'string' || triggerId === '') return { ok: false, error: 'invalid_trigger_id' };
    const view = parseJsonField(params.view) as Record<string, unknown> | undefined;
    const problems = validateModal(view);
    if (problems.length > 0 || !view) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: problems } };
    const opened: OpenedView = {
      id: `V${String(++this.seq).padStart(8, '0')}`,
      triggerId,
      callbackId: typeof view.callback_id === 'string' ? view.callback_id : '',
      privateMetadata: typeof view.private_metadata === 'string' ? view.private_metadata : '',
      title: textOf(view.title) ?? '',
      blocks: view.blocks as unknown[],
    };
    this.opened.push(opened);
    return { ok: true, view: { id: opened.id, callback_id: opened.callbackId, private_metadata: opened.privateMetadata, blocks: opened.blocks } };
  }

  list(): OpenedView[] {
    return [...this.opened];
  }

  clear(): void {
    this.opened = [];
  }
}
