"""A self-contained HTML report: the settings every system answered with, a summary table (each
rate with its n and 95% interval), one bar chart per metric (the systems side by side, 95%
intervals as whiskers: Wilson for rates, bootstrap for continuous metrics), retrieval metrics,
pairwise comparisons (exact McNemar), and the questions each system got wrong. Charts are SVG drawn by inline JavaScript from embedded JSON;
nothing is fetched from the network."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

CHARTS = [
    ("correct", "Answer correctness"),
    ("abstention", "Abstains on unanswerable"),
    ("false_abstention", "False abstention (answerable)"),
    ("citation_precision", "Citation precision"),
    ("citation_recall", "Citation recall"),
    ("faithfulness", "Faithfulness (model sentences supported)"),
    ("latency_s", "Latency per answer (s)"),
]

SCRIPT = """
const D = JSON.parse(document.getElementById('data').textContent);
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
function chart(metric, title) {
  const w = 360, h = 220, pad = 40, systems = D.systems;
  const vals = systems.map(s => D.summary[s][metric]);
  const cis = systems.map(s => (D.ci[s] || {})[metric] || null);
  const isRate = metric !== 'latency_s';
  const top = isRate ? 1 : Math.max(0.001, ...vals.filter(v => v !== null)) * 1.2;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', w); svg.setAttribute('height', h); svg.setAttribute('class', 'chart');
  svg.setAttribute('data-metric', metric);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text;
    svg.appendChild(e); return e; };
  add('text', {x: w / 2, y: 16, 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold'}, title);
  add('line', {x1: pad, y1: h - pad, x2: w - 10, y2: h - pad, stroke: '#333'});
  const bw = (w - pad - 20) / systems.length;
  systems.forEach((s, i) => {
    const v = vals[i], x = pad + i * bw + bw * 0.15, y = v === null ? h - pad : h - pad - (v / top) * (h - 2 * pad);
    add('rect', {x: x, y: y, width: bw * 0.7, height: h - pad - y, fill: COLORS[i % 4], class: 'bar',
                 'data-system': s, 'data-value': v === null ? '' : v});
    add('text', {x: x + bw * 0.35, y: y - 4, 'text-anchor': 'middle', 'font-size': 11},
        v === null ? 'n/a' : (isRate ? (100 * v).toFixed(0) + '%' : v.toFixed(2)));
    add('text', {x: x + bw * 0.35, y: h - pad + 14, 'text-anchor': 'middle', 'font-size': 11}, s);
    const ci = cis[i];
    if (ci && ci[0] !== null && ci[1] !== null) {
      const y1 = h - pad - (ci[0] / top) * (h - 2 * pad), y2 = h - pad - (ci[1] / top) * (h - 2 * pad);
      add('line', {x1: x + bw * 0.35, x2: x + bw * 0.35, y1: y1, y2: y2, stroke: '#000', class: 'ci'});
    }
  });
  document.getElementById('charts').appendChild(svg);
}
for (const [m, t] of D.charts) chart(m, t);
"""

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}#charts{display:flex;flex-wrap:wrap;gap:12px}
details{margin:.5em 0}.q{font-size:90%}"""


def _fmt(v: Any, rate: bool = True) -> str:
    if v is None or v != v:
        return "n/a"
    return f"{100 * v:.1f}%" if rate else f"{v:.2f}"


def _cell(report: Any, system: str, metric: str) -> str:
    rate = metric != "latency_s"
    n = report.counts.get(system, {}).get(metric, "?")
    lo, hi = report.ci.get(system, {}).get(metric, [None, None])
    interval = f" [{_fmt(lo, rate)}, {_fmt(hi, rate)}]" if lo is not None and lo == lo else ""
    return f"<td>{_fmt(report.summary[system][metric], rate)}<br><small>n={n}{interval}</small></td>"


def _settings(report: Any) -> str:
    """The effective settings, one row per field (the table a reader needs to reproduce the run)."""
    rows = "".join(
        f"<tr><td>{html.escape(section)}.{html.escape(k)}</td><td>{html.escape(json.dumps(v))}</td></tr>"
        for section, values in report.settings.items()
        for k, v in values.items()
    )
    return f"<table class='settings'><tr><th>setting</th><th>value</th></tr>{rows}</table>"


def write_html(path: Path, report: Any, per_question: list[dict[str, Any]]) -> None:
    from industry_expert.io import no_nan

    data = no_nan({"systems": report.systems, "summary": report.summary, "ci": report.ci, "charts": CHARTS})
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in CHARTS)
    rows = "".join(
        f"<tr><td>{html.escape(s)}</td>" + "".join(_cell(report, s, k) for k, _ in CHARTS) + "</tr>"
        for s in report.systems
    )
    retrieval = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)} (n={report.retrieval_n})</td></tr>"
        for k, v in report.retrieval.items()
    )
    comps = "".join(
        f"<tr><td>{html.escape(c['better'])} vs {html.escape(c['than'])}</td><td>{_fmt(c['difference'])}</td>"
        f"<td>[{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]</td><td>{c['only_better']} / {c['only_than']}</td>"
        f"<td>{c['p_value']:.3g}</td><td>{c['n']}</td><td>{'yes' if c['significant'] else 'no'}</td></tr>"
        for c in report.comparisons
    )
    wrong = ""
    for s in report.systems:
        items = [r for r in per_question if r["system"] == s and not r.get("correct")]
        lis = "".join(
            f"<li class='q'><b>{html.escape(r['id'])}</b> {html.escape(r['question'])}<br>"
            f"<i>{html.escape(str(r['answer'])[:300])}</i></li>"
            for r in items
        )
        wrong += f"<details><summary>{html.escape(s)}: {len(items)} wrong</summary><ul>{lis}</ul></details>"
    skipped = "".join(f"<li>{html.escape(s)}: {html.escape(r)}</li>" for s, r in report.skipped.items())
    payload = json.dumps(data).replace("</", "<\\/")  # cannot end the script element early
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>industry-expert evaluation</title>
<style>{CSS}</style></head><body>
<h1>Evaluation: {report.questions} questions</h1>
<p>Model: {html.escape(report.model)}{" &middot; adapter: " + html.escape(report.adapter) if report.adapter else ""}</p>
{"<p>Skipped systems:</p><ul>" + skipped + "</ul>" if skipped else ""}
<h2>Settings</h2>{_settings(report)}
<h2>Summary</h2><p>Each cell: the mean, n (questions the metric applies to) and the 95% interval
(Wilson for rates, bootstrap for citation, faithfulness and latency).</p>
<table><tr><th>system</th>{head}</tr>{rows}</table>
<div id="charts"></div>
<h2>Retrieval (RAG systems)</h2><table><tr><th>metric</th><th>value</th></tr>{retrieval or "<tr><td>no KB</td><td></td></tr>"}</table>
<h2>Are the differences real? (correctness on the same questions)</h2>
<p>Exact McNemar test on the questions only one of the two systems answers correctly; the interval
is Newcombe's paired score interval (95%). Significant: p &lt; 0.05 (interval and test can differ
at the margin; the verdict follows the exact test).</p>
<table><tr><th>comparison</th><th>difference</th><th>95% interval</th><th>only first / only second right</th>
<th>p (exact McNemar)</th><th>n</th><th>significant</th></tr>{comps}</table>
<h2>Questions each system gets wrong</h2>{wrong}
<script type="application/json" id="data">{payload}</script>
<script>{SCRIPT}</script></body></html>"""
    path.write_text(page, encoding="utf-8")
