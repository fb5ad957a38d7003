// Ask: pick an expert, the answer streams in, [n] markers link to their citations, a citation opens
// its passage with the quote highlighted, follow-ups stay in the same conversation.

import { ApiError, chatStream, describe, fileLink, session } from './api.js';
import { $, append, clear, el, fileName, locate, where } from './dom.js';

const state = { messages: [], controller: null, turns: 0 };

export function initAsk() {
  $('#ask-form').addEventListener('submit', (e) => {
    e.preventDefault();
    ask();
  });
  $('#question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ask();
    }
  });
  $('#stop-button').addEventListener('click', () => state.controller && state.controller.abort());
  $('#new-conversation').addEventListener('click', newConversation);
  $('#expert').addEventListener('change', () => {
    newConversation();
    hint();
  });
  $('#passage-close').addEventListener('click', () => $('#passage-dialog').close());
}

export function showExperts() {
  const select = clear($('#expert'));
  // experts with a knowledge base (answers with sources) first
  const models = [...session.models].sort((a, b) => Number(!a.kb) - Number(!b.kb));
  for (const m of models) {
    select.append(el('option', { value: m.id, text: label(m) }));
  }
  hint();
}

function label(m) {
  const tuned = m.adapter ? ', fine-tuned model' : '';
  if (m.kb) return `${m.id}: answers from the ${m.kb} documents, with sources${tuned}`;
  return `${m.id}: the model alone, no documents, no sources${tuned}`;
}

function current() {
  return session.models.find((m) => m.id === $('#expert').value) || null;
}

function hint() {
  const m = current();
  $('#expert-hint').textContent = !m
    ? 'Your key gives access to no expert.'
    : m.kb
      ? 'Answers come with the sources they are based on.'
      : 'This expert answers from the model alone: it cannot show sources.';
}

export function newConversation() {
  if (state.controller) state.controller.abort();
  state.messages = [];
  clear($('#conversation'));
  $('#question').focus();
}

async function ask() {
  const q = $('#question').value.trim();
  const model = current();
  if (!q || !model || state.controller) return;
  const turn = ++state.turns;
  const answer = el('div', { class: 'answer', 'aria-busy': 'true' }, el('p', { class: 'status', text: 'Searching the documents and writing the answer…' }));
  const item = el('li', { class: 'turn', id: `turn-${turn}` }, el('p', { class: 'question', text: q }), answer);
  $('#conversation').append(item);
  $('#question').value = '';
  busy(true);
  const messages = [...state.messages, { role: 'user', content: q }];
  let text = null;
  try {
    const { content, final } = await chatStream({ model: model.id, messages }, (sofar) => {
      if (!text) text = clear(answer).appendChild(el('p', { class: 'text' }));
      text.textContent = sofar;
    }, state.controller.signal);
    const shown = final && typeof final.answer === 'string' ? final.answer : content;
    renderAnswer(answer, shown, final, model, turn);
    state.messages = [...messages, { role: 'assistant', content: shown }];
  } catch (e) {
    clear(answer).append(el('p', { class: 'error', role: 'alert', text: describe(e) }));
    if (e instanceof ApiError && e.status === 401) return;
  } finally {
    answer.removeAttribute('aria-busy');
    busy(false);
  }
}

function busy(on) {
  state.controller = on ? new AbortController() : null;
  $('#ask-button').disabled = on;
  $('#stop-button').hidden = !on;
  if (!on) $('#question').focus();
}

function renderAnswer(box, content, final, model, turn) {
  clear(box);
  const citations = (final && final.citations) || [];
  const passages = (final && final.passages) || [];
  const abstained = Boolean(final && final.abstained);
  const ctx = { passages, citations, model, turn };
  if (abstained) {
    box.classList.add('abstained');
    append(box, [
      el('p', { class: 'abstain', text: 'Nothing in the knowledge base supports an answer to this question.' }),
      passages.length ? el('p', { class: 'hint', text: 'These passages came closest:' }) : null,
      passages.length ? passageList(passages, ctx) : null,
    ]);
    return;
  }
  box.append(el('p', { class: 'text' }, linkMarkers(content, ctx)));
  if (citations.length) {
    box.append(el('h4', { text: 'Sources' }), citationList(ctx));
  } else if (model.kb) {
    box.append(el('p', { class: 'hint', text: 'No sources were given for this answer.' }));
  }
  box.append(el('div', { class: 'row' }, el('button', {
    type: 'button', class: 'secondary copy', onclick: (e) => copy(e.currentTarget, content, citations),
  }, 'Copy answer with sources')));
}

// "text [1] more [2]" -> text nodes and links to the citations.
function linkMarkers(content, ctx) {
  const out = [];
  let last = 0;
  for (const m of content.matchAll(/\[(\d+)\]/g)) {
    out.push(content.slice(last, m.index));
    const n = Number(m[1]);
    const cited = ctx.citations.some((c) => c.n === n);
    out.push(cited
      ? el('a', { href: `#cite-${ctx.turn}-${n}`, class: 'marker', 'aria-label': `source ${n}`, onclick: (e) => {
        e.preventDefault();
        openCitation(n, ctx);
      } }, `[${n}]`)
      : `[${n}]`);
    last = m.index + m[0].length;
  }
  out.push(content.slice(last));
  return out;
}

function citationList(ctx) {
  return el('ol', { class: 'citations' }, ctx.citations.map((c) => el('li', { id: `cite-${ctx.turn}-${c.n}`, value: c.n },
    el('span', { class: 'where' }, el('strong', { title: c.source, text: fileName(c.source) }), c.section ? ` · ${c.section}` : '', c.page ? ` · page ${c.page}` : ''),
    c.quote ? el('q', { class: 'quote', text: c.quote }) : null,
    el('button', { type: 'button', class: 'link', onclick: () => openCitation(c.n, ctx) }, `Open passage ${c.n}`),
  )));
}

function passageList(passages, ctx) {
  return el('ol', { class: 'citations closest' }, passages.map((p, i) => el('li', {},
    el('span', { class: 'where' }, where(p)),
    el('span', { class: 'snippet', text: snippet(p.text) }),
    el('button', { type: 'button', class: 'link', onclick: () => openPassage(p, null, ctx) }, `Open passage ${p.n || i + 1}`),
  )));
}

function snippet(text) {
  const t = (text || '').replace(/\s+/g, ' ').trim();
  return t.length > 220 ? `${t.slice(0, 220)}…` : t;
}

function openCitation(n, ctx) {
  const c = ctx.citations.find((x) => x.n === n);
  const p = ctx.passages.find((x) => x.n === n) || ctx.passages[n - 1];
  openPassage(p || { ...c, text: c.quote }, c ? c.quote : null, ctx);
}

async function openPassage(p, quote, ctx) {
  const dialog = $('#passage-dialog');
  $('#passage-title').textContent = p.title || fileName(p.source);
  $('#passage-where').textContent = where(p);
  const box = clear($('#passage-text'));
  const parts = locate(p.text || '', quote);
  if (parts) append(box, [parts[0], el('mark', { text: parts[1] }), parts[2]]);
  else box.textContent = p.text || '';
  $('#passage-note').textContent = quote && !parts ? `Supporting sentence: “${quote}”` : '';
  const link = $('#passage-file');
  link.hidden = true;
  dialog.showModal();
  if (!p.doc_id || !ctx.model.kb) return;
  try {
    const url = await fileLink(ctx.model.kb, p.doc_id);
    link.href = p.page && /pdf/i.test(p.type || p.source) ? `${url}#page=${p.page}` : url;
    link.textContent = p.page ? `Open the original file at page ${p.page}` : 'Open the original file';
    link.hidden = false;
  } catch (e) {
    $('#passage-note').textContent = `The original file cannot be opened: ${describe(e)}`;
  }
}

async function copy(button, content, citations) {
  const lines = [content.trim()];
  if (citations.length) {
    lines.push('', 'Sources:');
    for (const c of citations) {
      lines.push(`[${c.n}] ${where(c)}${c.quote ? `: "${c.quote}"` : ''}`);
    }
  }
  const text = lines.join('\n');
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const area = el('textarea', { class: 'visually-hidden', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy answer with sources'; }, 2000);
}
