// The page: sign in with an API key, then Ask, Documents and Choose. Views are switched by the URL
// fragment (#ask, #documents, #choose); the key is never part of a URL.

import { describe, getJSON, onUnauthorized, session, setKey } from './api.js';
import { initAsk, newConversation, showExperts } from './ask.js';
import { initChoose, loadChoose } from './choose.js';
import { $, clear, el } from './dom.js';
import { initDocs, loadDocs } from './docs.js';

const VIEWS = ['signin', 'ask', 'documents', 'choose'];

function report(message, kind = 'error') {
  const banner = $('#banner');
  banner.className = `banner ${kind}`;
  $('#banner-text').textContent = message;
  banner.hidden = false;
}

function show(view) {
  if (!session.info) view = 'signin';
  else if (!VIEWS.includes(view) || view === 'signin') view = 'ask';
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  $('#nav').hidden = !session.info;
  if (view === 'documents') loadDocs(report);
  if (view === 'choose') loadChoose(report);
  const focus = { signin: '#key', ask: '#question' }[view];
  if (focus) $(focus).focus();
}

function fillKbs(select, kbs) {
  clear(select);
  for (const k of kbs) select.append(el('option', { value: k.name, text: `${k.name} (${k.scope})` }));
}

async function signIn(key) {
  const me = await getJSON('/v1/me', { key });
  setKey(key);
  const [kbs, models] = await Promise.all([getJSON('/v1/kbs'), getJSON('/v1/models')]);
  const info = { name: me.name, admin: me.admin, kbs: kbs.data };
  session.info = info;
  session.models = models.data;
  $('#nav .who') && $('#nav .who').remove();
  $('#signout').before(el('span', { class: 'who', text: `signed in as ${info.name}` }));
  showExperts();
  fillKbs($('#docs-kb'), info.kbs);
  fillKbs($('#choose-kb'), info.kbs);
}

function signOut(message) {
  setKey(null);
  session.info = null;
  session.models = [];
  newConversation();
  $('#key').value = '';
  if (location.hash !== '#signin') history.replaceState(null, '', '#signin');
  show('signin');
  if (message) report(message);
}

async function start() {
  initAsk();
  initDocs(report);
  initChoose(report);
  $('#banner-close').addEventListener('click', () => { $('#banner').hidden = true; });
  $('#signout').addEventListener('click', () => signOut());
  onUnauthorized((err) => session.info && signOut(err.message));
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const status = $('#signin-status');
    status.textContent = 'Checking the key…';
    try {
      await signIn($('#key').value.trim());
      status.textContent = '';
      $('#banner').hidden = true;
      $('#key').value = '';
      if (location.hash.slice(1) === 'ask') show('ask');
      else location.hash = '#ask';
    } catch (err) {
      status.textContent = describe(err);
    }
  });
  if (session.key) {
    try {
      await signIn(session.key);
    } catch (err) {
      if (err.status === 401) setKey(null); // a server that is down keeps the key for a reload
      report(describe(err));
    }
  }
  show(location.hash.slice(1));
}

start();
