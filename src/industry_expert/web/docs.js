// Documents: the KB's documents and stats; with write scope, upload (drag-and-drop or file picker)
// with per-file progress and the job's per-file errors, cancel, delete.

import { api, ApiError, describe, getJSON, kbPath, session, upload } from './api.js';
import { $, clear, el, fileName, plural, when } from './dom.js';

const POLL_MS = 700;

export function initDocs(report) {
  $('#docs-kb').addEventListener('change', () => loadDocs(report));
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
  const body = clear($('#docs-table tbody'));
  clear($('#kb-stats'));
  if (!name) {
    body.append(el('tr', {}, el('td', { colspan: 5, text: 'Your key gives access to no knowledge base.' })));
    return;
  }
  try {
    const [stats, docs] = await Promise.all([getJSON(kbPath(name)), getJSON(`${kbPath(name)}/documents`)]);
    showStats(stats);
    const list = Array.isArray(docs) ? docs : docs.data || docs.documents || [];
    for (const d of list) body.append(row(d, writable, report));
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: 5, text: 'No documents yet.' })));
  } catch (e) {
    report(describe(e));
  }
}

function showStats(s) {
  const dl = clear($('#kb-stats'));
  const types = s.types ? Object.entries(s.types).map(([t, n]) => `${t} ${n}`).join(', ') : '';
  const items = [
    ['Documents', `${s.documents ?? '?'}${types ? ` (${types})` : ''}`],
    ['Passages', s.chunks],
    ['Size on disk', s.size_bytes !== undefined ? `${(s.size_bytes / 1e6).toFixed(1)} MB` : null],
    ['Last update', s.last_ingest || (s.ingest_runs && s.ingest_runs.last) || null],
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
    el('td', { text: when(d.ingested_at) }),
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
    for (const f of failed) errors.append(el('li', { text: `${f.name}: ${f.reason || f.status}` }));
    if (last.state === 'done' && !failed.length) {
      bar.value = 1;
      finish('ok', `searchable (${plural(last.chunks_added ?? 0, 'passage')} added)`);
    } else if (last.state === 'done') {
      finish('failed', 'not added');
    } else {
      finish('failed', {
        cancelled: 'cancelled', failed: 'failed', interrupted: 'interrupted (the server restarted); upload it again',
      }[last.state] || last.state);
      if (last.error) errors.append(el('li', { text: last.error }));
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
