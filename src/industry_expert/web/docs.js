// Documents: the KB's stats and its documents, found by name, sorted by name or date, a page at a
// time (all in the browser: the server sends the whole list); with write scope, upload (drag-and-drop
// or file picker) with per-file progress and the job's per-file errors in plain words, cancel, delete.

import { api, ApiError, describe, getJSON, kbPath, reasonText, session, upload } from './api.js';
import { $, clear, dateEl, el, fileName, formatDate, plural, toDate } from './dom.js';

const POLL_MS = 700;

export function initDocs(report) {
  initList();
  $('#docs-kb').addEventListener('change', () => {
    resetList();
    loadDocs(report);
  });
  $('#docs-refresh').addEventListener('click', () => loadDocs(report));
  $('#file-input').addEventListener('change', (e) => {
    send([...e.target.files], report);
    e.target.value = '';
  });
  const zone = $('#dropzone');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    send([...e.dataTransfer.files], report);
  });
}

const kb = () => $('#docs-kb').value;
const scopeOf = (name) => (session.info.kbs.find((k) => k.name === name) || {}).scope || 'read';
const canWrite = (name) => session.info.admin || ['write', 'admin'].includes(scopeOf(name));

export async function loadDocs(report) {
  const name = kb();
  const writable = Boolean(name) && canWrite(name);
  $('#upload').hidden = !writable;
  $('#readonly-note').hidden = !name || writable;
  clear($('#kb-stats'));
  if (!name) {
    showMessage('Your key gives access to no knowledge base.');
    return;
  }
  try {
    const [stats, docs] = await Promise.all([getJSON(kbPath(name)), getJSON(`${kbPath(name)}/documents`)]);
    showStats(stats);
    const list = Array.isArray(docs) ? docs : docs.data || docs.documents || [];
    showList(list, (d) => row(d, writable, report));
  } catch (e) {
    report(describe(e));
  }
}

function showStats(s) {
  const dl = clear($('#kb-stats'));
  const types = s.types ? Object.entries(s.types).map(([t, n]) => `${t} ${n}`).join(', ') : '';
  const items = [
    ['Documents', `${s.documents === undefined ? '?' : count.format(s.documents)}${types ? ` (${types})` : ''}`],
    ['Passages', s.chunks === undefined ? null : count.format(s.chunks)],
    ['Size on disk', s.size_bytes !== undefined ? `${(s.size_bytes / 1e6).toFixed(1)} MB` : null],
    ['Last update', formatDate(s.last_ingest) || null],
  ];
  for (const [k, v] of items) {
    if (v !== null && v !== undefined) dl.append(el('div', {}, el('dt', { text: k }), el('dd', { text: String(v) })));
  }
}

function row(d, writable, report) {
  const del = writable
    ? el('button', { type: 'button', class: 'secondary danger', 'aria-label': `Delete ${d.source}`, onclick: () => remove(d, report) }, 'Delete')
    : null;
  return el('tr', { 'data-doc': d.doc_id },
    el('td', {}, el('span', { class: 'doc-title', text: d.title || d.source }), el('br'), el('small', { class: 'hint', title: d.source, text: fileName(d.source) })),
    el('td', { text: d.type }),
    el('td', { class: 'num', text: String(d.n_chunks ?? d.chunks ?? '') }),
    el('td', {}, dateEl(d.ingested_at)),
    el('td', {}, del));
}

async function remove(d, report) {
  if (!window.confirm(`Delete “${d.title || d.source}” from the knowledge base? Answers will no longer use it.`)) return;
  try {
    await api(`${kbPath(kb())}/documents/${encodeURIComponent(d.doc_id)}`, { method: 'DELETE' });
    report(`Deleted “${d.title || d.source}”.`, 'info');
  } catch (e) {
    report(describe(e));
  }
  loadDocs(report);
}

function send(files, report) {
  const name = kb();
  for (const f of files) track(name, f, report);
}

// One request per file: its own upload progress, its own job, its own cancel button.
async function track(name, file, report) {
  const bar = el('progress', { max: 1, value: 0 });
  const status = el('span', { class: 'status', text: 'uploading…' });
  const errors = el('ul', { class: 'errors' });
  let cancel = null;
  const cancelButton = el('button', { type: 'button', class: 'secondary', onclick: () => cancel && cancel() }, `Cancel ${file.name}`);
  const item = el('li', { class: 'upload' }, el('span', { class: 'name', text: file.name }), bar, status, cancelButton, errors);
  $('#uploads').prepend(item);
  const finish = (cls, text) => {
    item.classList.add(cls);
    status.textContent = text;
    cancelButton.remove();
  };
  try {
    const up = upload(name, file, (f) => { bar.value = f * 0.5; });
    cancel = up.abort;
    const job = await up.done;
    status.textContent = 'queued';
    cancel = () => api(`/v1/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' }).catch((e) => report(describe(e)));
    const last = await poll(job.id, (j) => {
      bar.value = 0.5 + 0.5 * (j.files_total ? j.files_done / j.files_total : 0);
      status.textContent = j.state === 'running' ? 'making it searchable…' : j.state;
    });
    const failed = (last.files || []).filter((f) => f.status === 'failed' || f.status === 'skipped');
    for (const f of failed) errors.append(el('li', { text: `${f.name}: ${reasonText(f.reason || f.status)}` }));
    if (last.state === 'done' && !failed.length) {
      bar.value = 1;
      finish('ok', `searchable (${plural(last.chunks_added ?? 0, 'passage')} added)`);
    } else if (failed.length && ['done', 'failed'].includes(last.state)) {
      finish('failed', 'not added'); // the file's own reason says why
    } else {
      finish('failed', {
        cancelled: 'cancelled', failed: 'failed', interrupted: 'interrupted (the server restarted); upload it again',
      }[last.state] || last.state);
      if (last.error) errors.append(el('li', { text: reasonText(last.error) }));
    }
  } catch (e) {
    finish('failed', e.name === 'AbortError' ? 'cancelled' : describe(e));
    if (!(e instanceof ApiError) && e.name !== 'AbortError') report(describe(e));
  }
  loadDocs(report);
}

async function poll(id, onUpdate) {
  for (;;) {
    const j = await getJSON(`/v1/jobs/${encodeURIComponent(id)}`);
    onUpdate(j);
    if (!['queued', 'running', 'pending'].includes(j.state)) return j;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// --- the list: find, sort, page ---------------------------------------------------------------

const PAGE_SIZE = 50;
const COLUMNS = 5;
const state = { docs: [], row: null, page: 0 };
const names = new Intl.Collator(navigator.languages, { numeric: true, sensitivity: 'base' });
const count = new Intl.NumberFormat(navigator.languages);

const docName = (d) => d.title || fileName(d.source);
const time = (d) => (toDate(d.ingested_at) || new Date(0)).getTime();

const SORTS = {
  'name': (a, b) => names.compare(docName(a), docName(b)),
  'name-desc': (a, b) => names.compare(docName(b), docName(a)),
  'newest': (a, b) => time(b) - time(a) || names.compare(docName(a), docName(b)),
  'oldest': (a, b) => time(a) - time(b) || names.compare(docName(a), docName(b)),
};

function initList() {
  $('#docs-search').addEventListener('input', () => render(0));
  $('#docs-sort').addEventListener('change', () => render(0));
  $('#docs-prev').addEventListener('click', () => turn(-1));
  $('#docs-next').addEventListener('click', () => turn(1));
}

// A new knowledge base: start again from the first page, with nothing searched.
function resetList() {
  $('#docs-search').value = '';
  state.page = 0;
}

// Show these documents, each made a table row by `row`; the reader's page is kept where it can be.
function showList(docs, row) {
  state.docs = docs;
  state.row = row;
  render(state.page);
}

// A message in place of the rows ("No documents yet.").
function showMessage(text) {
  state.docs = [];
  clear($('#docs-table tbody')).append(messageRow(text));
  clear($('#docs-count'));
  $('#docs-pager').hidden = true;
}

function matching() {
  const words = $('#docs-search').value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const hit = (d) => {
    const text = `${docName(d)} ${fileName(d.source)} ${d.type || ''}`.toLocaleLowerCase();
    return words.every((w) => text.includes(w));
  };
  return (words.length ? state.docs.filter(hit) : [...state.docs]).sort(SORTS[$('#docs-sort').value] || SORTS.name);
}

function render(page) {
  const found = matching();
  const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
  state.page = Math.min(Math.max(page, 0), pages - 1);
  const first = state.page * PAGE_SIZE;
  const shown = found.slice(first, first + PAGE_SIZE);
  const body = clear($('#docs-table tbody'));
  for (const d of shown) body.append(state.row(d));
  if (!shown.length) body.append(messageRow(emptyText()));
  $('#docs-count').textContent = countText(first, shown.length, found.length);
  $('#docs-pager').hidden = pages < 2;
  $('#docs-page').textContent = `Page ${state.page + 1} of ${pages}`;
  $('#docs-prev').disabled = state.page === 0;
  $('#docs-next').disabled = state.page === pages - 1;
}

function turn(step) {
  const [pressed, other] = step < 0 ? ['#docs-prev', '#docs-next'] : ['#docs-next', '#docs-prev'];
  render(state.page + step);
  // at the first or last page the button pressed is disabled, which would drop the keyboard focus
  if ($(pressed).disabled) $(other).focus();
}

function emptyText() {
  const q = $('#docs-search').value.trim();
  if (!state.docs.length) return 'No documents yet.';
  return `No document matches “${q}”.`;
}

const documents = (n) => (n === 1 ? 'document' : 'documents');

// "Showing 51–100 of 1,000 documents." (the empty table says itself when nothing matches)
function countText(first, shown, total) {
  const all = state.docs.length;
  if (!shown) return '';
  const range = `${count.format(first + 1)}–${count.format(first + shown)}`;
  return total === all
    ? `Showing ${range} of ${count.format(all)} ${documents(all)}.`
    : `Showing ${range} of ${count.format(total)} matching ${documents(total)} (${count.format(all)} in all).`;
}

const messageRow = (text) => el('tr', {}, el('td', { colspan: COLUMNS, text }));
