// Small DOM helpers. Text from the server (documents, passages, answers, errors) only ever goes
// into the page as text nodes or attribute values: never through innerHTML.

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

export function append(parent, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function pct(v, digits = 0) {
  return v === null || v === undefined ? 'n/a' : `${(100 * v).toFixed(digits)}%`;
}

// One date format everywhere, in the reader's own locale: "7 Dec 2026, 14:05" or "Dec 7, 2026, 2:05 PM".
const DATES = new Intl.DateTimeFormat(navigator.languages, { dateStyle: 'medium', timeStyle: 'short' });

// A date from the server (seconds since 1970, or an ISO 8601 string) as a Date, or null.
export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  const d = new Date(typeof value === 'number' ? value * 1000 : value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDate(value) {
  const d = toDate(value);
  return d ? DATES.format(d) : '';
}

// <time datetime="2026-12-07T14:05:00.000Z">7 Dec 2026, 14:05</time>, or null without a date.
export function dateEl(value) {
  const d = toDate(value);
  return d ? el('time', { datetime: d.toISOString(), text: DATES.format(d) }) : null;
}

export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// The file's name: the folder it sits in on the server says nothing to the reader.
export const fileName = (source) => String(source || '').split(/[\\/]/).pop();

export function where(p) {
  // "file · section · page N" for a passage or citation
  const parts = [fileName(p.source)];
  if (p.section) parts.push(p.section);
  if (p.page) parts.push(`page ${p.page}`);
  return parts.join(' · ');
}

// The quote inside the passage, as [before, quote, after], or null when it cannot be found.
export function locate(text, quote) {
  if (!quote) return null;
  let i = text.indexOf(quote);
  if (i >= 0) return [text.slice(0, i), quote, text.slice(i + quote.length)];
  const words = quote.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return null;
  const m = new RegExp(words.join('\\s+'), 'i').exec(text);
  if (!m) return null;
  i = m.index;
  return [text.slice(0, i), m[0], text.slice(i + m[0].length)];
}
