// Choose: the advisor's recommendation for a KB (reasons in plain words and measured numbers, with
// a chart) and the evaluation runs found in the KB's configured folder, each opened as its report.

import { api, describe, getJSON } from './api.js';
import { $, append, clear, dateEl, el, fileName, pct, svg } from './dom.js';

const METRICS = [
  ['correct', 'Correct answers', true],
  ['abstention', 'Says "not covered" when the documents have no answer', true],
  ['false_abstention', 'Wrongly says "not covered"', true],
  ['citation_precision', 'Sources that really support the answer', true],
  ['faithfulness', 'Sentences backed by a source', true],
  ['latency_s', 'Seconds per answer', false],
];
const ANSWER = { true: 'yes', false: 'no', null: 'unknown' };

export function initChoose(report) {
  $('#choose-kb').addEventListener('change', () => loadChoose(report));
}

const base = () => `/web/api/kbs/${encodeURIComponent($('#choose-kb').value)}`;

export async function loadChoose(report) {
  const runs = clear($('#runs'));
  clear($('#advice'));
  $('#report').hidden = true;
  if (!$('#choose-kb').value) {
    runs.append(el('li', { text: 'Your key gives access to no knowledge base.' }));
    return;
  }
  try {
    const list = (await getJSON(`${base()}/evals`)).runs;
    if (!list.length) runs.append(el('li', { class: 'hint', text: NO_RUNS }));
    for (const r of list) runs.append(runItem(r, report));
    await showAdvice(list.length ? list[0].name : null);
    if (list.length) await openRun(list[0].name, report);
  } catch (e) {
    report(describe(e));
  }
}

const NO_RUNS = 'No evaluation of this knowledge base yet. Whoever runs the server can measure how well '
  + 'each way of answering does on your own questions; the result will show here.';

function runItem(r, report) {
  const when = dateEl(r.created);
  return el('li', {}, el('button', { type: 'button', class: 'link', onclick: () => openRun(r.name, report) },
    `${r.name}: ${r.questions} questions, ${r.systems.join(', ')}`), when ? ' · ' : null, when);
}

async function showAdvice(run) {
  const box = clear($('#advice'));
  box.append(el('p', { class: 'status', text: 'Working out the recommendation…' }));
  const a = await getJSON(`${base()}/advice${run ? `?run=${encodeURIComponent(run)}` : ''}`);
  append(clear(box), [
    el('h3', {}, 'Recommendation: ', el('span', { class: 'recommendation', text: a.recommendation })),
    el('p', { text: a.scenario }),
    el('h4', { text: 'Why' }),
    el('ul', {}, (a.plain_reasons || a.reasons).map((r) => el('li', { text: r }))),
    el('h4', { text: 'The four questions' }),
    el('table', { class: 'findings' },
      el('tbody', {}, a.findings.map((f) => el('tr', {},
        el('th', { scope: 'row', text: f.question }),
        el('td', { class: `answer-${ANSWER[f.answer]}`, text: ANSWER[f.answer] }),
        el('td', { class: 'hint', text: f.plain || f.evidence }))))),
  ]);
  if (a.measured) {
    const acc = a.measured.accuracy;
    box.append(el('h4', { text: `Measured: correct answers on ${a.measured.questions} questions` }),
      barChart(Object.keys(acc), Object.values(acc), true, null, a.measured.recommended_system, 'measured'));
  } else {
    box.append(el('p', { class: 'hint', text: 'No evaluation run to measure against: this is the rule of thumb only.' }));
  }
}

async function openRun(name, report) {
  const box = $('#report');
  try {
    const r = await getJSON(`${base()}/evals/${encodeURIComponent(name)}`);
    const s = r.summary;
    append(clear(box), [
      el('h3', { text: `Evaluation ${name}: ${s.questions} questions` }),
      el('p', { class: 'hint', text: `Model: ${s.model}${s.adapter ? ` · adapter: ${fileName(s.adapter)}` : ''}` }),
      el('button', { type: 'button', class: 'secondary', onclick: () => download(name, report) }, 'Download the full report (HTML)'),
      summaryTable(s),
      el('div', { class: 'charts' }, METRICS.map(([m, title, rate]) => el('figure', {},
        el('figcaption', { text: title }),
        barChart(s.systems, s.systems.map((x) => s.summary[x][m]), rate, s.systems.map((x) => (s.ci[x] || {})[m] || null), null, m)))),
      comparisons(s),
      wrongAnswers(r.wrong || {}),
    ]);
    box.hidden = false;
  } catch (e) {
    report(describe(e));
  }
}

function summaryTable(s) {
  return el('div', { class: 'table-wrap' }, el('table', { class: 'summary' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'system' }), METRICS.map(([, t]) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, s.systems.map((x) => el('tr', {}, el('th', { scope: 'row', text: x }),
      METRICS.map(([m, , rate]) => el('td', { class: 'num', text: rate ? pct(s.summary[x][m], 1) : fmt(s.summary[x][m]) })))))));
}

const fmt = (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(2));

function comparisons(s) {
  if (!s.comparisons || !s.comparisons.length) return null;
  return el('div', {}, el('h4', { text: 'Are the differences real? (correct answers, 95% interval)' }),
    el('ul', {}, s.comparisons.map((c) => el('li', {
      text: `${c.better} vs ${c.than}: ${c.difference >= 0 ? '+' : ''}${pct(c.difference, 1)} `
        + `(${pct(c.ci[0], 1)} to ${pct(c.ci[1], 1)}) — ${c.significant ? 'a real difference' : 'could be chance'}`,
    }))));
}

function wrongAnswers(wrong) {
  const systems = Object.keys(wrong);
  if (!systems.length) return null;
  return el('div', {}, el('h4', { text: 'Questions each system got wrong' }), systems.map((x) => el('details', {},
    el('summary', { text: `${x}: ${wrong[x].length} wrong` }),
    el('ul', {}, wrong[x].map((q) => el('li', {}, el('strong', { text: q.question }), el('br'), el('small', { text: q.answer })))))));
}

// A bar per system; 95% intervals as whiskers; the recommended system outlined.
function barChart(labels, values, rate, cis, highlight, name) {
  const w = 400, h = 210, pad = 40, bw = (w - pad - 10) / Math.max(1, labels.length);
  const top = rate ? 1 : Math.max(0.001, ...values.filter((v) => v !== null && v !== undefined)) * 1.2;
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  const chart = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: 'chart', role: 'img', 'data-chart': name,
    'aria-label': labels.map((l, i) => `${l}: ${rate ? pct(values[i]) : fmt(values[i])}`).join(', ') });
  chart.append(svg('line', { x1: pad, y1: h - pad, x2: w - 6, y2: h - pad, class: 'axis' }));
  labels.forEach((label, i) => {
    const v = values[i], x = pad + i * bw + bw * 0.15, top_ = v === null || v === undefined ? h - pad : y(v);
    chart.append(svg('rect', { x, y: top_, width: bw * 0.7, height: h - pad - top_,
      class: `bar bar-${i % 4}${label === highlight ? ' chosen' : ''}`, 'data-system': label, 'data-value': v ?? '' }));
    chart.append(svg('text', { x: x + bw * 0.35, y: top_ - 4, 'text-anchor': 'middle', class: 'value' }, rate ? pct(v) : fmt(v)));
    chart.append(axisLabel(label, x + bw * 0.35, h - pad + 15));
    const ci = cis && cis[i];
    if (ci && ci[0] !== null && ci[1] !== null) {
      chart.append(svg('line', { x1: x + bw * 0.35, x2: x + bw * 0.35, y1: y(ci[0]), y2: y(ci[1]), class: 'ci' }));
    }
  });
  return chart;
}

// The report file, fetched with the key in the header and handed to the browser as a download.
async function download(name, report) {
  try {
    const blob = await (await api(`${base()}/evals/${encodeURIComponent(name)}/report`)).blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `${name}-report.html`, class: 'visually-hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    report(describe(e));
  }
}

// "rag+fine-tuned" on two lines, so that four labels fit side by side
function axisLabel(label, x, y) {
  const text = svg('text', { x, y, 'text-anchor': 'middle', class: 'label' });
  label.split(/(?<=\+)/).forEach((part, i) => text.append(svg('tspan', { x, dy: i ? '1.1em' : 0 }, part)));
  return text;
}
