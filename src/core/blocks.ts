import type {
  ActionsBlock,
  Button,
  Checkboxes,
  ConfirmationDialog,
  ContextBlock,
  DividerBlock,
  HeaderBlock,
  InputBlock,
  KnownBlock,
  ModalView,
  Overflow,
  PlainTextOption,
  SectionBlock,
} from '@slack/types';
import { truncate } from './text.js';

/**
 * Typed Block Kit builders (on @slack/types): the limits Slack enforces are applied here, once, so a long
 * title or value is cut instead of making Slack refuse the whole message.
 */
export type Block = KnownBlock;

const SECTION_LIMIT = 3000;
const HEADER_LIMIT = 150;
const BUTTON_TEXT_LIMIT = 75;
/** Slack refuses a button or option value longer than this. */
export const VALUE_LIMIT = 2000;
const ID_LIMIT = 255;

function checkedValue(value: string): string {
  if (value.length > VALUE_LIMIT) throw new RangeError(`a Block Kit value of ${value.length} characters exceeds Slack's ${VALUE_LIMIT}`);
  return value;
}

function checkedId(id: string): string {
  if (id.length > ID_LIMIT) throw new RangeError(`a Block Kit id of ${id.length} characters exceeds Slack's ${ID_LIMIT}`);
  return id;
}

const plain = (text: string, limit: number) => ({ type: 'plain_text' as const, text: truncate(text, limit) });

export function section(text: string): SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_LIMIT) } };
}

export function context(...texts: string[]): ContextBlock {
  return { type: 'context', elements: texts.slice(0, 10).map((text) => ({ type: 'mrkdwn' as const, text })) };
}

export function header(text: string): HeaderBlock {
  return { type: 'header', text: plain(text, HEADER_LIMIT) };
}

export function divider(): DividerBlock {
  return { type: 'divider' };
}

/** A row of interactive elements (at most 25). */
export function actions(blockId: string, elements: ActionsBlock['elements']): ActionsBlock {
  return { type: 'actions', block_id: checkedId(blockId), elements: elements.slice(0, 25) };
}

/** A "are you sure?" dialog Slack shows before the click is sent. */
export function confirm(opts: { title: string; text: string; confirm: string; deny?: string }): ConfirmationDialog {
  return {
    title: plain(opts.title, 100),
    text: { type: 'mrkdwn', text: truncate(opts.text, 300) },
    confirm: plain(opts.confirm, 30),
    deny: plain(opts.deny ?? 'Cancel', 30),
  };
}

export function button(opts: {
  actionId: string;
  text: string;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
  confirm?: ConfirmationDialog;
}): Button {
  return {
    type: 'button',
    action_id: checkedId(opts.actionId),
    text: plain(opts.text, BUTTON_TEXT_LIMIT),
    ...(opts.style ? { style: opts.style } : {}),
    ...(opts.value !== undefined ? { value: checkedValue(opts.value) } : {}),
    ...(opts.url ? { url: opts.url } : {}),
    ...(opts.confirm ? { confirm: opts.confirm } : {}),
  };
}

const option = (o: { text: string; value: string }): PlainTextOption => ({ text: plain(o.text, 75), value: checkedValue(o.value) });

/** Checkboxes (at most 10): a click sends the whole current selection. */
export function checkboxes(opts: { actionId: string; options: ReadonlyArray<{ text: string; value: string }>; selected?: readonly string[] }): Checkboxes {
  const options = opts.options.slice(0, 10).map(option);
  const selected = options.filter((o) => opts.selected?.includes(o.value ?? ''));
  return { type: 'checkboxes', action_id: checkedId(opts.actionId), options, ...(selected.length > 0 ? { initial_options: selected } : {}) };
}

/** An overflow menu of 2–5 options. */
export function overflow(opts: { actionId: string; options: ReadonlyArray<{ text: string; value: string }> }): Overflow {
  if (opts.options.length < 2 || opts.options.length > 5) throw new RangeError('an overflow menu needs 2 to 5 options');
  return { type: 'overflow', action_id: checkedId(opts.actionId), options: opts.options.map(option) };
}

/** A text field in a modal; its value arrives under `blockId` in the submission. */
export function textInput(opts: { blockId: string; label: string; multiline?: boolean; placeholder?: string; optional?: boolean; initial?: string }): InputBlock {
  return {
    type: 'input',
    block_id: checkedId(opts.blockId),
    label: plain(opts.label, 2000),
    optional: opts.optional === true,
    element: {
      type: 'plain_text_input',
      action_id: 'value',
      multiline: opts.multiline === true,
      ...(opts.placeholder ? { placeholder: plain(opts.placeholder, 150) } : {}),
      ...(opts.initial ? { initial_value: opts.initial } : {}),
    },
  };
}

/** A choice of one Slack user in a modal; the user id arrives under `blockId`. */
export function userSelect(opts: { blockId: string; label: string; initialUser?: string; hint?: string }): InputBlock {
  return {
    type: 'input',
    block_id: checkedId(opts.blockId),
    label: plain(opts.label, 2000),
    ...(opts.hint ? { hint: plain(opts.hint, 2000) } : {}),
    element: { type: 'users_select', action_id: 'value', ...(opts.initialUser ? { initial_user: opts.initialUser } : {}) },
  };
}

/** A choice of one option in a modal; the option's value arrives under `blockId`. */
export function staticSelect(opts: { blockId: string; label: string; options: ReadonlyArray<{ text: string; value: string }>; initial?: string }): InputBlock {
  const options = opts.options.slice(0, 100).map(option);
  const initial = options.find((o) => o.value === opts.initial);
  return {
    type: 'input',
    block_id: checkedId(opts.blockId),
    label: plain(opts.label, 2000),
    element: { type: 'static_select', action_id: 'value', options, ...(initial ? { initial_option: initial } : {}) },
  };
}

const MODAL_TEXT_LIMIT = 24;
const PRIVATE_METADATA_LIMIT = 3000;

/** A modal for views.open; `metadata` travels back in the submission (as private_metadata). */
export function modal(opts: { callbackId: string; title: string; submit: string; close?: string; metadata: string; blocks: readonly KnownBlock[] }): ModalView {
  if (opts.metadata.length > PRIVATE_METADATA_LIMIT) throw new RangeError(`modal metadata of ${opts.metadata.length} characters exceeds Slack's ${PRIVATE_METADATA_LIMIT}`);
  return {
    type: 'modal',
    callback_id: checkedId(opts.callbackId),
    title: plain(opts.title, MODAL_TEXT_LIMIT),
    submit: plain(opts.submit, MODAL_TEXT_LIMIT),
    close: plain(opts.close ?? 'Cancel', MODAL_TEXT_LIMIT),
    private_metadata: opts.metadata,
    blocks: opts.blocks.slice(0, 100),
  };
}
