// The sandbox page: a channel list, a message view that renders the bot's Block Kit, a composer, modals and
// the side panel. It talks only to the sandbox server's /sandbox/api; the server signs what reaches the bot.

const $ = (id) => document.getElementById(id);

const state = {
  users: [],
  channels: [],
  jobs: [],
  incidents: [],
  clock: { now: Date.now(), offsetMs: 0, timezone: 'UTC' },
  clockFetchedAt: Date.now(),
  service: { healthy: true },
  channel: 'C0ALERTS',
  user: 'U0OLIVIA',
  lastRender: '',
  expanded: new Set(),
  unread: new Set(),
  modal: null,
  scrollToEnd: true,
  openMenu: null,
};

// ---- server calls ----

async function api(path, body) {
  const res = await fetch(`/sandbox/api/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error || `${res.status}`);
  return json;
}

function notice(text) {
  $('notice').textContent = text;
}

// ---- text: Slack mrkdwn, escaped for HTML ----

function escapeHtml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Slack escapes &, < and > in message text; undo that before escaping for HTML. */
function unslack(text) {
  return String(text).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function userName(id) {
  if (id === 'U0WAYGATE') return 'Waygate';
  return state.users.find((u) => u.id === id)?.name ?? id;
}

function channelName(id) {
  const c = state.channels.find((x) => x.id === id);
  return c ? (c.kind === 'dm' ? c.name : c.name) : id;
}

function formatDate(ms, format) {
  const date = new Date(ms);
  const opts = { timeZone: state.clock.timezone };
  if (format && !format.includes('{time}')) return date.toLocaleDateString(undefined, { ...opts, dateStyle: 'medium' });
  if (format && !format.includes('{date')) return date.toLocaleTimeString(undefined, { ...opts, timeStyle: 'short' });
  return date.toLocaleString(undefined, { ...opts, dateStyle: 'medium', timeStyle: 'short' });
}

function token(inner) {
  const [target, label] = inner.split('|');
  if (target.startsWith('@')) return `<span class="mention">@${escapeHtml(userName(target.slice(1)))}</span>`;
  if (target.startsWith('#')) return `<span class="mention">#${escapeHtml(label ? unslack(label) : channelName(target.slice(1)))}</span>`;
  if (target.startsWith('!date^')) {
    const [, seconds, format] = target.split('^');
    return `<time>${escapeHtml(formatDate(Number(seconds) * 1000, format))}</time>`;
  }
  if (target.startsWith('!subteam^')) return `<span class="mention">${escapeHtml(label ? unslack(label) : '@group')}</span>`;
  if (target === '!channel' || target === '!here' || target === '!everyone') return `<span class="mention">@${target.slice(1)}</span>`;
  if (/^(https?:|mailto:)/.test(target)) {
    return `<a href="${escapeHtml(unslack(target))}" target="_blank" rel="noopener noreferrer">${escapeHtml(unslack(label ?? target))}</a>`;
  }
  return escapeHtml(unslack(`<${inner}>`));
}

function inline(text) {
  // Inline code first, so nothing inside it is formatted.
  return text
    .split('`')
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(unslack(part))}</code>`;
      return part
        .split(/(<[^<>]+>)/)
        .map((piece) => {
          if (piece.startsWith('<') && piece.endsWith('>') && piece.length > 2) return token(piece.slice(1, -1));
          return escapeHtml(unslack(piece))
            .replace(/\*([^*\n]+)\*/g, '<strong>$1</strong>')
            .replace(/(^|[\s(])_([^_\n]+)_/g, '$1<em>$2</em>')
            .replace(/~([^~\n]+)~/g, '<del>$1</del>');
        })
        .join('');
    })
    .join('')
    .replace(/\n/g, '<br>');
}

function mrkdwn(text) {
  return String(text ?? '')
    .split('```')
    .map((part, i) => (i % 2 === 1 ? `<pre>${escapeHtml(unslack(part.replace(/^\n/, '')))}</pre>` : inline(part)))
    .join('');
}

function textObject(t) {
  if (!t) return '';
  return t.type === 'mrkdwn' ? mrkdwn(t.text) : escapeHtml(t.text);
}

// ---- Block Kit ----

function el(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

/** Where an element's action goes: the message it is on (channel + ts) or an ephemeral reply. */
function sendAction(where, element, blockId, extra) {
  const body = { user: state.user, channel: state.channel, actionId: element.action_id, blockId, type: element.type, ...where, ...extra };
  api('action', body).catch((err) => notice(`The click did not reach the bot: ${err.message}`));
}

function button(element, blockId, where) {
  const b = el('button', `bk-button${element.style ? ` ${element.style}` : ''}`, escapeHtml(element.text?.text ?? ''));
  b.type = 'button';
  if (element.url) {
    b.addEventListener('click', () => window.open(element.url, '_blank', 'noopener'));
  } else if (where) {
    b.addEventListener('click', () => sendAction(where, element, blockId, element.value !== undefined ? { value: element.value } : {}));
  }
  return b;
}

function overflow(element, blockId, where) {
  const wrap = el('span', 'bk-overflow');
  const toggle = el('button', 'bk-button overflow-toggle', '⋯');
  toggle.type = 'button';
  toggle.setAttribute('aria-label', 'More actions');
  const menu = el('ul', 'overflow-menu');
  // A live update redraws the message; a menu someone opened stays open.
  const key = `${where?.ts ?? where?.ephemeralId ?? ''}:${blockId ?? ''}:${element.action_id}`;
  menu.hidden = state.openMenu !== key;
  for (const option of element.options ?? []) {
    const item = el('li');
    const choose = el('button', 'menu-item', escapeHtml(option.text?.text ?? option.value));
    choose.type = 'button';
    choose.addEventListener('click', () => {
      menu.hidden = true;
      state.openMenu = null;
      if (option.url) window.open(option.url, '_blank', 'noopener');
      else if (where) sendAction(where, element, blockId, { selectedOption: option.value });
    });
    item.append(choose);
    menu.append(item);
  }
  toggle.addEventListener('click', () => {
    menu.hidden = !menu.hidden;
    state.openMenu = menu.hidden ? null : key;
  });
  wrap.append(toggle, menu);
  return wrap;
}

function checkboxes(element, blockId, where, modal) {
  const wrap = el('div', 'bk-checkboxes');
  const initial = new Set((element.initial_options ?? []).map((o) => o.value));
  for (const option of element.options ?? []) {
    const label = el('label', 'checkbox');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.value = option.value;
    input.checked = initial.has(option.value);
    if (!modal && where) {
      input.addEventListener('change', () => {
        const selected = [...wrap.querySelectorAll('input:checked')].map((i) => i.value);
        sendAction(where, element, blockId, { selectedOptions: selected });
      });
    }
    const text = el('span', '', textObject(option.text));
    if (option.description) text.append(el('span', 'hint', ` ${textObject(option.description)}`));
    label.append(input, text);
    wrap.append(label);
  }
  return wrap;
}

function select(element, blockId, where, modal) {
  const s = document.createElement('select');
  s.className = 'bk-select';
  const options = element.type === 'users_select' ? state.users.map((u) => ({ text: { text: `${u.name} (${u.role})` }, value: u.id })) : (element.options ?? []);
  s.append(new Option(element.placeholder?.text ?? 'Choose…', ''));
  for (const option of options) s.append(new Option(option.text?.text ?? option.value, option.value));
  const initial = element.initial_option?.value ?? element.initial_user;
  if (initial) s.value = initial;
  if (!modal && where) s.addEventListener('change', () => sendAction(where, element, blockId, { selectedOption: s.value }));
  return s;
}

function elementNode(element, blockId, where, modal) {
  switch (element.type) {
    case 'button':
      return button(element, blockId, where);
    case 'overflow':
      return overflow(element, blockId, where);
    case 'checkboxes':
      return checkboxes(element, blockId, where, modal);
    case 'static_select':
    case 'users_select':
      return select(element, blockId, where, modal);
    case 'image':
      return imageNode(element, 'bk-accessory-image');
    case 'plain_text_input': {
      const input = document.createElement(element.multiline ? 'textarea' : 'input');
      input.className = 'bk-input';
      if (element.placeholder) input.placeholder = element.placeholder.text;
      if (element.initial_value) input.value = element.initial_value;
      return input;
    }
    default:
      return el('span', 'hint', `[${escapeHtml(element.type)}]`);
  }
}

function imageNode(block, className) {
  const img = document.createElement('img');
  img.className = className;
  img.src = block.image_url ?? '';
  img.alt = block.alt_text ?? '';
  return img;
}

function richText(block) {
  const out = el('div', 'bk-rich');
  for (const part of block.elements ?? []) {
    const text = (part.elements ?? []).map((e) => e.text ?? (e.user_id ? `@${userName(e.user_id)}` : '')).join('');
    out.append(part.type === 'rich_text_preformatted' ? el('pre', '', escapeHtml(text)) : el('p', '', escapeHtml(text)));
  }
  return out;
}

function renderBlocks(blocks, where, modal = false) {
  const wrap = el('div', 'blocks');
  for (const block of blocks ?? []) {
    let node;
    switch (block.type) {
      case 'section': {
        node = el('div', 'bk-section');
        const body = el('div', 'bk-section-body');
        if (block.text) body.append(el('div', 'bk-text', textObject(block.text)));
        if (block.fields) {
          const fields = el('div', 'bk-fields');
          for (const f of block.fields) fields.append(el('div', 'bk-field', textObject(f)));
          body.append(fields);
        }
        node.append(body);
        if (block.accessory) node.append(elementNode(block.accessory, block.block_id, where, modal));
        break;
      }
      case 'header':
        node = el('h3', 'bk-header', escapeHtml(block.text?.text ?? ''));
        break;
      case 'context':
        node = el('div', 'bk-context');
        for (const e of block.elements ?? []) node.append(e.type === 'image' ? imageNode(e, 'bk-context-image') : el('span', '', textObject(e)));
        break;
      case 'divider':
        node = el('hr', 'bk-divider');
        break;
      case 'image':
        node = el('figure', 'bk-image');
        if (block.title) node.append(el('figcaption', '', escapeHtml(block.title.text)));
        node.append(imageNode(block, ''));
        break;
      case 'actions':
        node = el('div', 'bk-actions');
        for (const e of block.elements ?? []) node.append(elementNode(e, block.block_id, where, modal));
        break;
      case 'input': {
        node = el('div', 'bk-input-block');
        node.dataset.blockId = block.block_id ?? '';
        node.append(el('label', 'bk-label', escapeHtml(block.label?.text ?? '')));
        const input = elementNode(block.element, block.block_id, where, true);
        input.dataset.actionId = block.element?.action_id ?? '';
        input.dataset.type = block.element?.type ?? '';
        node.append(input);
        if (block.hint) node.append(el('div', 'hint', textObject(block.hint)));
        node.append(el('div', 'error field-error'));
        break;
      }
      case 'rich_text':
        node = richText(block);
        break;
      default:
        node = el('div', 'hint', `[${escapeHtml(block.type)} block]`);
    }
    wrap.append(node);
  }
  return wrap;
}

// ---- messages ----

function messageNode(item) {
  const isEphemeral = item.kind === 'ephemeral';
  const node = el('article', `message${isEphemeral ? ' ephemeral' : ''}${item.broadcast ? ' broadcast' : ''}`);
  node.dataset.id = item.id;
  const head = el('div', 'message-head');
  const author = item.user ? userName(item.user) : 'Waygate';
  head.append(el('strong', 'author', escapeHtml(author)));
  if (!item.user) head.append(el('span', 'app-badge', 'APP'));
  if (item.at) head.append(el('span', 'time', escapeHtml(formatDate(item.at))));
  if (isEphemeral) head.append(el('span', 'only-you', 'Only visible to you'));
  if (item.broadcast) head.append(el('span', 'hint', 'replied to a thread'));
  node.append(head);
  const where = isEphemeral ? { ephemeralId: item.id } : item.ts ? { ts: item.ts } : null;
  if (item.blocks && item.blocks.length > 0) node.append(renderBlocks(item.blocks, where));
  else if (item.text) node.append(el('div', 'bk-text', mrkdwn(item.text)));
  if (item.edited) node.append(el('span', 'edited', '(edited)'));
  for (const f of item.files ?? []) node.append(fileNode(f));
  const replies = item.replies ?? [];
  if (replies.length > 0 || (item.files ?? []).length > 0) {
    const open = state.expanded.has(item.id);
    if (replies.length > 0) {
      const toggle = el('button', 'thread-toggle', `${replies.length} ${replies.length === 1 ? 'reply' : 'replies'} ${open ? '▾' : '▸'}`);
      toggle.type = 'button';
      toggle.addEventListener('click', () => {
        if (state.expanded.has(item.id)) state.expanded.delete(item.id);
        else state.expanded.add(item.id);
        state.lastRender = '';
        void refreshMessages();
      });
      node.append(toggle);
    }
    if (open) {
      const thread = el('div', 'thread');
      for (const r of replies) thread.append(messageNode(r));
      node.append(thread);
    }
  }
  return node;
}

function fileNode(file) {
  const node = el('div', 'file');
  if (file.filename.toLowerCase().endsWith('.png')) {
    const img = document.createElement('img');
    img.src = `${file.url}?inline=1`;
    img.alt = file.title ?? file.filename;
    node.append(img, el('br'));
  }
  const link = el('a', '', `📎 ${escapeHtml(file.title ?? file.filename)}`);
  link.href = file.url;
  link.setAttribute('download', file.filename);
  node.append(link, el('span', 'hint', ` ${Math.max(1, Math.round(file.size / 1024))} KB`));
  return node;
}

async function refreshMessages() {
  const { messages, modals } = await api(`messages?channel=${encodeURIComponent(state.channel)}&user=${encodeURIComponent(state.user)}`);
  const key = JSON.stringify([state.channel, state.user, messages, [...state.expanded]]);
  if (key !== state.lastRender) {
    state.lastRender = key;
    const box = $('messages');
    const atBottom = state.scrollToEnd || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    state.scrollToEnd = false;
    box.replaceChildren(...(messages.length === 0 ? [el('p', 'hint empty', 'Nothing here yet.')] : messages.map(messageNode)));
    if (atBottom) box.scrollTop = box.scrollHeight;
  }
  const waiting = modals.at(-1);
  if (waiting && state.modal?.id !== waiting.id) showModal(waiting);
  if (!waiting && state.modal) closeModal();
}

// ---- modals ----

function closeModal() {
  state.modal = null;
  $('modal-root').replaceChildren();
}

function modalValues(root) {
  const values = {};
  for (const block of root.querySelectorAll('.bk-input-block')) {
    const input = block.querySelector('[data-action-id]');
    const actionId = input.dataset.actionId;
    const type = input.dataset.type;
    let state;
    if (type === 'plain_text_input') state = { type, value: input.value };
    else if (type === 'static_select') state = { type, selected_option: input.value ? { text: { type: 'plain_text', text: input.selectedOptions[0].text }, value: input.value } : null };
    else if (type === 'users_select') state = { type, selected_user: input.value || null };
    else if (type === 'checkboxes') state = { type, selected_options: [...input.querySelectorAll('input:checked')].map((i) => ({ value: i.value })) };
    else continue;
    values[block.dataset.blockId] = { [actionId]: state };
  }
  return values;
}

function showModal(view) {
  state.modal = view;
  const overlay = el('div', 'modal-overlay');
  const dialog = el('form', 'modal');
  dialog.setAttribute('role', 'dialog');
  dialog.setAttribute('aria-label', view.title);
  dialog.append(el('h2', '', escapeHtml(view.title)));
  dialog.append(renderBlocks(view.blocks, null, true));
  const row = el('div', 'row modal-buttons');
  const cancel = el('button', 'bk-button', 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', () => {
    api('view', { user: state.user, viewId: view.id, cancel: true }).catch(() => undefined);
    closeModal();
  });
  const submit = el('button', 'bk-button primary', 'Submit');
  submit.type = 'submit';
  row.append(cancel, submit);
  dialog.append(row);
  dialog.addEventListener('submit', (event) => {
    event.preventDefault();
    for (const e of dialog.querySelectorAll('.field-error')) e.textContent = '';
    api('view', { user: state.user, viewId: view.id, values: modalValues(dialog) })
      .then((answer) => {
        if (answer.ok) return closeModal();
        for (const [blockId, message] of Object.entries(answer.errors ?? {})) {
          const block = [...dialog.querySelectorAll('.bk-input-block')].find((b) => b.dataset.blockId === blockId);
          const slot = block?.querySelector('.field-error');
          if (slot) slot.textContent = message;
        }
      })
      .catch((err) => notice(`The modal could not be submitted: ${err.message}`));
  });
  overlay.append(dialog);
  $('modal-root').replaceChildren(overlay);
}

// ---- channels, users, side panel ----

function renderChannels() {
  const item = (c) => {
    const li = el('li');
    const b = el('button', `channel${c.id === state.channel ? ' active' : ''}${state.unread.has(c.id) ? ' unread' : ''}`, escapeHtml(c.kind === 'dm' ? c.name : `# ${c.name}`));
    b.type = 'button';
    b.dataset.channel = c.id;
    b.addEventListener('click', () => selectChannel(c.id));
    li.append(b);
    return li;
  };
  $('channels').replaceChildren(...state.channels.filter((c) => c.kind === 'channel').map(item));
  $('dms').replaceChildren(...state.channels.filter((c) => c.kind === 'dm').map(item));
  const current = state.channels.find((c) => c.id === state.channel);
  $('channel-name').textContent = current ? (current.kind === 'dm' ? `Waygate → ${current.name}` : `#${current.name}`) : state.channel;
  $('channel-hint').textContent = current?.kind === 'dm' ? 'direct messages the bot sent them' : '';
}

function selectChannel(id) {
  state.channel = id;
  state.scrollToEnd = true;
  state.unread.delete(id);
  state.lastRender = '';
  renderChannels();
  void refreshMessages();
}

function renderUsers() {
  const s = $('user');
  if (s.options.length === 0) {
    for (const u of state.users) s.append(new Option(`${u.name} (${u.role})`, u.id));
  }
  s.value = state.user;
}

function sandboxNow() {
  return state.clock.now + (Date.now() - state.clockFetchedAt);
}

function renderClock() {
  $('clock').textContent = new Date(sandboxNow()).toLocaleString(undefined, { timeZone: state.clock.timezone, dateStyle: 'medium', timeStyle: 'medium' });
  const minutes = Math.round(state.clock.offsetMs / 60000);
  $('clock-offset').textContent = minutes > 0 ? `${minutes} min ahead of real time (${state.clock.timezone})` : `real time (${state.clock.timezone})`;
}

function renderPanel() {
  $('service-status').textContent = state.service.healthy ? 'healthy' : 'unhealthy';
  $('service-toggle').textContent = state.service.healthy ? 'Make it unhealthy' : 'Make it healthy';
  const incident = $('incident');
  const chosen = incident.value;
  incident.replaceChildren(...state.incidents.map((i) => new Option(`#${i.number} ${i.priority ?? ''} ${i.status} — ${i.title}`, i.id)));
  if (state.incidents.some((i) => i.id === chosen)) incident.value = chosen;
  $('jobs').replaceChildren(
    ...state.jobs.map((j) => {
      const li = el('li', 'job');
      const next = j.nextRunAt ? `next ${formatDate(j.nextRunAt)}` : 'not scheduled';
      li.append(el('span', '', `<strong>${escapeHtml(j.name)}</strong> <span class="hint">${escapeHtml(next)}${j.running ? ' · running' : ''}</span>`));
      const run = el('button', '', 'Run now');
      run.type = 'button';
      run.dataset.job = j.name;
      run.addEventListener('click', () =>
        api('jobs/run', { name: j.name })
          .then((r) => notice(r.started ? `Started ${j.name}.` : `Not started: ${r.reason}`))
          .catch((err) => notice(err.message)),
      );
      li.append(run);
      return li;
    }),
  );
  renderClock();
}

async function refreshState() {
  const s = await api('state');
  Object.assign(state, { users: s.users, channels: s.channels, jobs: s.jobs, incidents: s.incidents, clock: s.clock, service: s.service, clockFetchedAt: Date.now() });
  renderUsers();
  renderChannels();
  renderPanel();
}

// ---- live updates ----

let messagesTimer = null;
let stateTimer = null;
function soon(kind) {
  if (kind === 'messages' && !messagesTimer) {
    messagesTimer = setTimeout(() => {
      messagesTimer = null;
      refreshMessages().catch(() => undefined);
    }, 30);
  }
  if (kind === 'state' && !stateTimer) {
    stateTimer = setTimeout(() => {
      stateTimer = null;
      refreshState().catch(() => undefined);
    }, 200);
  }
}

function listen() {
  const events = new EventSource('/sandbox/api/events');
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === 'channel' || event.type === 'ephemeral') {
      if (event.type === 'ephemeral' && event.user !== state.user) return;
      if (event.channel === state.channel) soon('messages');
      else {
        state.unread.add(event.channel);
        renderChannels();
      }
      soon('state');
    } else if (event.type === 'modal') {
      if (event.user === state.user) soon('messages');
    } else if (event.type === 'notice') {
      notice(event.text);
      soon('state');
    } else {
      soon('state');
      soon('messages');
    }
  };
  // Reconnected after a gap: anything may have changed.
  events.onopen = () => {
    soon('state');
    soon('messages');
  };
}

// ---- wiring ----

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('command');
  const text = input.value.trim();
  if (!text) return;
  $('composer-error').hidden = true;
  api('command', { user: state.user, channel: state.channel, text })
    .then((r) => {
      if (r.status !== 200) throw new Error(`the bot answered ${r.status}`);
      input.value = '/waygate ';
    })
    .catch((err) => {
      $('composer-error').textContent = err.message;
      $('composer-error').hidden = false;
    });
});

$('user').addEventListener('change', () => {
  state.user = $('user').value;
  state.lastRender = '';
  closeModal();
  void refreshMessages();
});

for (const b of document.querySelectorAll('[data-trigger]')) {
  b.addEventListener('click', () =>
    api('pagerduty', { action: 'trigger', priority: b.dataset.trigger })
      .then((r) => notice(`PagerDuty opened incident #${r.number} (${b.dataset.trigger}).`))
      .catch((err) => notice(err.message)),
  );
}
$('storm').addEventListener('click', () =>
  api('pagerduty', { action: 'storm' })
    .then((r) => notice(`PagerDuty opened incidents #${r.first}–#${r.last}.`))
    .catch((err) => notice(err.message)),
);
for (const b of document.querySelectorAll('[data-pd-status]')) {
  b.addEventListener('click', () => {
    const incident = $('incident').value;
    if (!incident) return notice('No open incident to change.');
    api('pagerduty', { action: b.dataset.pdStatus, incident })
      .then(() => notice(`Done in PagerDuty: ${b.dataset.pdStatus}.`))
      .catch((err) => notice(err.message));
  });
}
$('service-toggle').addEventListener('click', () =>
  api('service', { healthy: !state.service.healthy })
    .then((r) => {
      state.service.healthy = r.healthy;
      renderPanel();
    })
    .catch((err) => notice(err.message)),
);
for (const b of document.querySelectorAll('[data-advance]')) {
  b.addEventListener('click', () => {
    b.disabled = true;
    api('clock', { advanceMs: Number(b.dataset.advance) })
      .then((r) => {
        Object.assign(state.clock, r);
        state.clockFetchedAt = Date.now();
        renderClock();
        notice(`Moved time forward by ${b.textContent.slice(1)}.`);
      })
      .catch((err) => notice(err.message))
      .finally(() => (b.disabled = false));
  });
}

setInterval(renderClock, 1000);
await refreshState();
await refreshMessages();
listen();
