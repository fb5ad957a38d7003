// The page talks to `expert serve` only through its HTTP API. The key lives in sessionStorage (this
// tab only) and travels in the Authorization header, never in a URL.

const STORE = 'industry-expert-key';
const listeners = { unauthorized: [] };

export const session = { key: sessionStorage.getItem(STORE), info: null, models: [] };

export function setKey(key) {
  session.key = key;
  if (key) sessionStorage.setItem(STORE, key);
  else sessionStorage.removeItem(STORE);
}

export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

export class ApiError extends Error {
  constructor(message, status = 0, detail = '') {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

export const SERVER_DOWN =
  'The server cannot be reached. It may be stopped or restarting: check that it is running, then try again.';

// Why the server refused a request or a file, in plain words. Its reasons name the setting to raise
// ("budget ingest.max_unpacked_mb"): that helps whoever runs it, and means nothing to the reader.
const RULES = [
  [/expands to more than ([\d.]+) MB when decompressed/, (mb) => `the file unpacks to more than ${mb} MB`],
  [/file is ([\d.]+) MB, over the ([\d.]+) MB limit/,
    (size, mb) => `the file is ${size} MB, and this server takes files of up to ${mb} MB`],
  [/upload is larger than [\w.]+ \(([\d.]+) MB\)/,
    (mb) => `the file is too large: this server takes files of up to ${mb} MB`],
  [/request body over (\d+) bytes/, () => 'the request is too large for this server'],
  [/nested deeper than (\d+) levels/, (n) => `the file is nested more than ${n} levels deep, too deep to read safely`],
  [/nested too deeply/, () => 'the file is nested too deeply to read safely'],
  [/took longer than ([\d.]+) s to parse/, (s) => `reading the file took longer than ${s} seconds`],
  [/needs? more (?:memory )?than ([\d.]+) MB/, (mb) => `reading the file needs more than ${mb} MB of memory`],
  [/not an ingestable format|send the files as multipart/, () => 'this type of file is not accepted'],
  [/PDF is encrypted/, () => 'the PDF is protected by a password'],
  [/^empty file/, () => 'the file is empty'],
  [/no extractable text/, () => 'the file has no text that can be read (a scan without text?)'],
];

const BUDGET = /\s*\(budget [^)]*\)|;?\s*budget [\w.]+(?:=\S+)?/g;
const SETTING = /\b(?:serve|ingest)\.[a-z_]+\b/g;

// The plain reason where one is known, else null.
function plainReason(text) {
  const s = String(text || '');
  for (const [re, say] of RULES) {
    const m = re.exec(s);
    if (m) return say(...m.slice(1));
  }
  return null;
}

// The reason in plain words where known, else the server's text without any setting's name.
export function reasonText(text) {
  return plainReason(text) || String(text || '').replace(BUDGET, '').replace(SETTING, 'the server\'s settings').trim();
}

// "the file is empty" -> "The file is empty."
const sentence = (text) => `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

function retryText(r) {
  const s = Number(r.headers.get('Retry-After'));
  return s > 0 ? `in ${s} second${s === 1 ? '' : 's'}` : 'in a moment';
}

// A plain-words message for a refused request; the server's own one-line reason (without the names
// of its settings) is kept as detail.
export async function errorFrom(r) {
  let detail = '';
  try {
    const body = await r.json();
    detail = (body && body.error && body.error.message) || (body && body.detail) || '';
    if (typeof detail !== 'string') detail = JSON.stringify(detail);
  } catch (_) {
    detail = '';
  }
  const plain = {
    400: 'The server could not use this request.',
    401: 'Your key was not accepted: it may have been revoked or have expired. Please sign in again.',
    403: 'Your key is not allowed to do this.',
    404: 'Not found: it may have been deleted, or your key cannot see it.',
    409: 'This conflicts with something already running.',
    413: 'The file is too large for this server.',
    415: 'This type of file is not accepted.',
    422: 'The server could not use this request.',
    429: `Too many requests. Please try again ${retryText(r)}.`,
    503: `The expert is busy right now. Please try again ${retryText(r)}.`,
  }[r.status] || (r.status >= 500
    ? `The server had a problem (error ${r.status}). Please try again; if it keeps happening, tell whoever runs it.`
    : `The request was refused (error ${r.status}).`);
  // a refusal the page can say in plain words replaces the generic message and the server's text
  const known = plainReason(detail);
  const err = known ? new ApiError(sentence(known), r.status) : new ApiError(plain, r.status, reasonText(detail));
  if (r.status === 401) listeners.unauthorized.forEach((fn) => fn(err));
  return err;
}

export function describe(err) {
  if (!(err instanceof ApiError)) return err && err.name === 'AbortError' ? 'Stopped.' : SERVER_DOWN;
  return err.detail && err.status !== 401 ? `${err.message} (${err.detail})` : err.message;
}

export async function api(path, { method = 'GET', json, body, signal, key } = {}) {
  const headers = { Authorization: `Bearer ${key || session.key}` };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body, signal, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(SERVER_DOWN, 0);
  }
  if (!r.ok) throw await errorFrom(r);
  return r;
}

export async function getJSON(path, opts) {
  return (await api(path, opts)).json();
}

export const kbPath = (kb) => `/v1/kbs/${encodeURIComponent(kb)}`;

// A short-lived link to one original file or report, so that a plain <a href> can open it (a link
// cannot carry the Authorization header). The link names the file, not the key.
export async function fileLink(kb, docId) {
  const r = await getJSON('/web/api/links', { method: 'POST', json: { kb, doc_id: docId } });
  return r.url;
}

// Upload one file with progress (fetch has no upload progress; XMLHttpRequest does).
export function upload(kb, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', `${kbPath(kb)}/documents`);
    xhr.setRequestHeader('Authorization', `Bearer ${session.key}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(SERVER_DOWN, 0));
    xhr.onabort = () => reject(new DOMException('cancelled', 'AbortError'));
    xhr.onload = async () => {
      const r = new Response(xhr.responseText, {
        status: xhr.status,
        headers: { 'Retry-After': xhr.getResponseHeader('Retry-After') || '' },
      });
      if (xhr.status >= 200 && xhr.status < 300) resolve(await r.json());
      else reject(await errorFrom(r));
    };
    const form = new FormData();
    form.append('files', file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

// POST /v1/chat/completions with stream: true, read as Server-Sent Events through a ReadableStream.
// onText gets the content so far; resolves with { content, final } where final is the chunk that
// carries the citations (or null if the server sent none).
export async function chatStream(body, onText, signal) {
  const r = await api('/v1/chat/completions', { method: 'POST', json: { ...body, stream: true }, signal });
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let content = '';
  let final = null;
  const handle = (event) => {
    const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    if (!data || data === '[DONE]') return;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new ApiError(`The answer failed: ${reasonText(chunk.error.message) || 'unknown error'}`, 500);
    const choice = (chunk.choices && chunk.choices[0]) || {};
    const piece = choice.delta && choice.delta.content;
    if (piece) {
      content += piece;
      onText(content);
    }
    if (chunk.citations !== undefined || chunk.abstained !== undefined) final = chunk;
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf = (buf + value).replace(/\r\n/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        handle(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    if (e instanceof ApiError || e.name === 'AbortError') throw e;
    throw new ApiError('The connection to the server was lost while the answer was coming in.', 0);
  }
  if (buf.trim()) handle(buf);
  return { content, final };
}
