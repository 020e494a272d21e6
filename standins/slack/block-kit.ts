/**
 * A Block Kit validator strict enough that a message a real workspace would refuse fails here too,
 * so integration tests catch bad layouts before Slack does. Limits follow Slack's published reference.
 */

export const LIMITS = {
  messageText: 40_000,
  blocks: 50,
  blockId: 255,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  buttonUrl: 3000,
  imageAltText: 2000,
  labelText: 2000,
  optionText: 75,
  optionValue: 150,
  selectOptions: 100,
  choiceOptions: 10,
  overflowOptions: 5,
} as const;

const ACCESSORY_TYPES = new Set([
  'button',
  'overflow',
  'static_select',
  'users_select',
  'conversations_select',
  'channels_select',
  'datepicker',
  'image',
  'checkboxes',
  'radio_buttons',
]);

const ACTIONS_ELEMENT_TYPES = new Set([
  'button',
  'static_select',
  'users_select',
  'conversations_select',
  'channels_select',
  'overflow',
  'datepicker',
  'checkboxes',
  'radio_buttons',
]);

const INPUT_ELEMENT_TYPES = new Set([
  'plain_text_input',
  'static_select',
  'multi_static_select',
  'users_select',
  'multi_users_select',
  'conversations_select',
  'multi_conversations_select',
  'channels_select',
  'multi_channels_select',
  'datepicker',
  'timepicker',
  'checkboxes',
  'radio_buttons',
  'number_input',
  'email_text_input',
  'url_text_input',
]);

const RICH_TEXT_ELEMENT_TYPES = new Set([
  'rich_text_section',
  'rich_text_list',
  'rich_text_preformatted',
  'rich_text_quote',
]);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The WebClient sends object fields as JSON strings in form bodies, so accept both shapes. */
export function parseJsonField(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

interface TextRule {
  plainOnly?: boolean;
  max?: number;
}

function checkText(t: unknown, at: string, rule: TextRule = {}): string[] {
  if (!isObj(t)) return [`${at} must be a text object`];
  if (t.type !== 'plain_text' && t.type !== 'mrkdwn') return [`${at}.type must be plain_text or mrkdwn`];
  if (rule.plainOnly && t.type !== 'plain_text') return [`${at} must be plain_text`];
  if (typeof t.text !== 'string' || t.text.length === 0) return [`${at}.text must be a non-empty string`];
  if (rule.max !== undefined && t.text.length > rule.max) {
    return [`${at}.text is ${t.text.length} chars; max is ${rule.max}`];
  }
  return [];
}

function checkOptionalString(v: unknown, at: string, max: number): string[] {
  if (v === undefined) return [];
  if (typeof v !== 'string' || v.length === 0) return [`${at} must be a non-empty string`];
  return v.length > max ? [`${at} is ${v.length} chars; max is ${max}`] : [];
}

function checkOptions(options: unknown, at: string, max: number, min = 1): string[] {
  if (!Array.isArray(options)) return [`${at} must be an array`];
  if (options.length < min || options.length > max) return [`${at} must hold ${min}-${max} options`];
  return options.flatMap((o: unknown, i) => {
    const here = `${at}[${i}]`;
    if (!isObj(o)) return [`${here} must be an option object`];
    return [
      ...checkText(o.text, `${here}.text`, { max: LIMITS.optionText }),
      ...checkOptionalString(o.value, `${here}.value`, LIMITS.optionValue),
    ];
  });
}

function checkButton(el: Obj, at: string): string[] {
  const problems = [
    ...checkText(el.text, `${at}.text`, { plainOnly: true, max: LIMITS.buttonText }),
    ...checkOptionalString(el.value, `${at}.value`, LIMITS.buttonValue),
    ...checkOptionalString(el.url, `${at}.url`, LIMITS.buttonUrl),
  ];
  if (el.style !== undefined && el.style !== 'primary' && el.style !== 'danger') {
    problems.push(`${at}.style must be primary or danger`);
  }
  return problems;
}

function checkImageElement(el: Obj, at: string): string[] {
  const problems = checkOptionalString(el.alt_text, `${at}.alt_text`, LIMITS.imageAltText);
  if (el.alt_text === undefined) problems.push(`${at}.alt_text is required`);
  if (typeof el.image_url !== 'string' && !isObj(el.slack_file)) problems.push(`${at}.image_url is required`);
  return problems;
}

/** Per-type checks beyond the shared ones; types absent here only need a valid action_id. */
const ELEMENT_CHECKS: Record<string, (el: Obj, at: string) => string[]> = {
  button: checkButton,
  image: checkImageElement,
  static_select: (el, at) =>
    el.option_groups === undefined ? checkOptions(el.options, `${at}.options`, LIMITS.selectOptions) : [],
  overflow: (el, at) => checkOptions(el.options, `${at}.options`, LIMITS.overflowOptions, 1),
  checkboxes: (el, at) => checkOptions(el.options, `${at}.options`, LIMITS.choiceOptions),
  radio_buttons: (el, at) => checkOptions(el.options, `${at}.options`, LIMITS.choiceOptions),
};

function checkElement(el: unknown, at: string, allowed: ReadonlySet<string>): string[] {
  if (!isObj(el)) return [`${at} must be an element object`];
  if (typeof el.type !== 'string' || !allowed.has(el.type)) return [`${at}.type ${String(el.type)} is not allowed here`];
  const problems = checkOptionalString(el.action_id, `${at}.action_id`, LIMITS.actionId);
  if (el.placeholder !== undefined) problems.push(...checkText(el.placeholder, `${at}.placeholder`, { plainOnly: true }));
  return [...problems, ...(ELEMENT_CHECKS[el.type]?.(el, at) ?? [])];
}

function checkSection(b: Obj, at: string): string[] {
  if (b.text === undefined && b.fields === undefined) return [`${at} needs text or fields`];
  const problems: string[] = [];
  if (b.text !== undefined) problems.push(...checkText(b.text, `${at}.text`, { max: LIMITS.sectionText }));
  if (b.fields !== undefined) {
    if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > LIMITS.sectionFields) {
      problems.push(`${at}.fields must be an array of 1-${LIMITS.sectionFields} text objects`);
    } else {
      b.fields.forEach((f: unknown, i) => problems.push(...checkText(f, `${at}.fields[${i}]`, { max: LIMITS.fieldText })));
    }
  }
  if (b.accessory !== undefined) problems.push(...checkElement(b.accessory, `${at}.accessory`, ACCESSORY_TYPES));
  return problems;
}

function checkHeader(b: Obj, at: string): string[] {
  return checkText(b.text, `${at}.text`, { plainOnly: true, max: LIMITS.headerText });
}

function checkContext(b: Obj, at: string): string[] {
  if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > LIMITS.contextElements) {
    return [`${at}.elements must be an array of 1-${LIMITS.contextElements} items`];
  }
  return b.elements.flatMap((el: unknown, i) => {
    const here = `${at}.elements[${i}]`;
    return isObj(el) && el.type === 'image' ? checkImageElement(el, here) : checkText(el, here);
  });
}

function checkActions(b: Obj, at: string): string[] {
  if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > LIMITS.actionsElements) {
    return [`${at}.elements must be an array of 1-${LIMITS.actionsElements} elements`];
  }
  const problems = b.elements.flatMap((el: unknown, i) => checkElement(el, `${at}.elements[${i}]`, ACTIONS_ELEMENT_TYPES));
  // Slack refuses the whole message when two elements of one block share an action_id.
  const seen = new Set<string>();
  for (const el of b.elements as unknown[]) {
    if (!isObj(el) || typeof el.action_id !== 'string') continue;
    if (seen.has(el.action_id)) problems.push(`${at} has duplicate action_id ${el.action_id}`);
    seen.add(el.action_id);
  }
  return problems;
}

function checkImageBlock(b: Obj, at: string): string[] {
  const problems = checkImageElement(b, at);
  if (b.title !== undefined) problems.push(...checkText(b.title, `${at}.title`, { plainOnly: true, max: LIMITS.labelText }));
  return problems;
}

function checkInput(b: Obj, at: string): string[] {
  const problems = checkText(b.label, `${at}.label`, { plainOnly: true, max: LIMITS.labelText });
  if (b.element === undefined) return [...problems, `${at}.element is required`];
  return [...problems, ...checkElement(b.element, `${at}.element`, INPUT_ELEMENT_TYPES)];
}

function checkRichText(b: Obj, at: string): string[] {
  if (!Array.isArray(b.elements) || b.elements.length === 0) return [`${at}.elements must be a non-empty array`];
  return b.elements.flatMap((el: unknown, i) =>
    isObj(el) && typeof el.type === 'string' && RICH_TEXT_ELEMENT_TYPES.has(el.type)
      ? []
      : [`${at}.elements[${i}] is not a rich_text element`],
  );
}

const BLOCK_CHECKS: Record<string, (b: Obj, at: string) => string[]> = {
  section: checkSection,
  divider: () => [],
  header: checkHeader,
  context: checkContext,
  actions: checkActions,
  image: checkImageBlock,
  input: checkInput,
  rich_text: checkRichText,
};

function checkBlockId(blockId: unknown, at: string, seen: Set<string>): string[] {
  if (blockId === undefined) return [];
  const problems = checkOptionalString(blockId, `${at}.block_id`, LIMITS.blockId);
  if (typeof blockId === 'string') {
    if (seen.has(blockId)) problems.push(`${at}.block_id ${blockId} is not unique`);
    seen.add(blockId);
  }
  return problems;
}

function checkBlocks(blocks: unknown[]): string[] {
  if (blocks.length > LIMITS.blocks) return [`message has ${blocks.length} blocks; max is ${LIMITS.blocks}`];
  const problems: string[] = [];
  const blockIds = new Set<string>();
  for (const [i, b] of blocks.entries()) {
    const at = `blocks[${i}]`;
    const check = isObj(b) && typeof b.type === 'string' ? BLOCK_CHECKS[b.type] : undefined;
    if (!isObj(b) || !check) {
      problems.push(`${at}.type ${isObj(b) ? String(b.type) : typeof b} is not a known block type`);
      continue;
    }
    problems.push(...checkBlockId(b.block_id, at, blockIds), ...check(b, at));
  }
  return problems;
}

/** Returns human-readable problems; an empty array means Slack would accept the message. */
export function validateMessage(msg: { text?: unknown; blocks?: unknown; attachments?: unknown }): string[] {
  const problems: string[] = [];
  const text = msg.text ?? undefined;
  const blocks = parseJsonField(msg.blocks ?? undefined);
  const attachments = parseJsonField(msg.attachments ?? undefined);

  if (text !== undefined && typeof text !== 'string') problems.push('text must be a string');
  if (typeof text === 'string' && text.length > LIMITS.messageText) {
    problems.push(`text is ${text.length} chars; max is ${LIMITS.messageText}`);
  }
  if (blocks !== undefined) {
    if (Array.isArray(blocks)) problems.push(...checkBlocks(blocks));
    else problems.push('blocks must be an array');
  }
  if (attachments !== undefined && !Array.isArray(attachments)) problems.push('attachments must be an array');

  const hasText = typeof text === 'string' && text.length > 0;
  const hasBlocks = Array.isArray(blocks) && blocks.length > 0;
  const hasAttachments = Array.isArray(attachments) && attachments.length > 0;
  if (!hasText && !hasBlocks && !hasAttachments) problems.push('no_text');
  return problems;
}
