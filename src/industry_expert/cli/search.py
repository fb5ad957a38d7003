"""``expert search QUERY --kb DIR``."""

from __future__ import annotations

import textwrap
from typing import Any

import click

from industry_expert.cli.config import config_option, load_settings, setting_options
from industry_expert.cli.output import escape_controls, parse_filters, print_json


@click.command("search")
@click.argument("query")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@setting_options(
    "retrieve",
    [
        "k",
        "candidates",
        "fusion",
        "normalization",
        "adaptive",
        "rrf_k",
        "weight_dense",
        "weight_bm25",
        "weight_summary",
        "dedup_cosine",
        "rerank",
        "rerank_depth",
        "rerank_weight",
    ],
    {"k": ["-k"]},
)
@config_option
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Metadata filter (source, type, any ingested field); repeatable; globs allowed.",
)
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--explain", is_flag=True, help="Per hit: rank, score and fusion contribution of each retriever."
)
def search_cmd(
    query: str,
    kb_path: str,
    config_file: str | None,
    filters: tuple[str, ...],
    mode: str,
    as_json: bool,
    explain: bool,
    **flags: object,
) -> None:
    """Hybrid search (BM25 + dense + document summaries) with sources."""
    from industry_expert.retrieve.hybrid import search

    r = load_settings(config_file, flags).retrieve
    hits = search(query, kb_path, k=r.k, filters=parse_filters(filters), mode=mode, settings=r)  # type: ignore[arg-type]
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no results")
    for n, h in enumerate(hits, start=1):
        where = escape_controls(h.source) + (f", page {h.page}" if h.page else "")  # document text:
        click.echo(click.style(f"[{n}] {where}", bold=True) + f"  (score {h.score:.4f})")  # no raw ESC
        click.echo(f"    {escape_controls(h.section)}")
        if explain:
            click.echo(f"    {explain_line(h.explain)}")
        body = escape_controls(h.text if len(h.text) < 400 else h.text[:400] + " ...")
        click.echo(textwrap.indent(textwrap.fill(" ".join(body.split()), 96), "    ") + "\n")


def explain_line(explain: dict[str, Any]) -> str:
    """``dense #3 0.6120 -> +0.0231 | bm25 - | summary #1 ...``: rank, raw score, contribution."""
    parts = []
    for name, e in explain.items():
        if name in ("fusion", "rerank"):
            continue
        if e["rank"] is None:
            parts.append(f"{name} -" + (f" -> +{e['contribution']:.4f}" if e["contribution"] else ""))
            continue
        part = f"{name} #{e['rank']} {e['score']:.4f}"
        parts.append(part + (f" -> +{e['contribution']:.4f}" if e["contribution"] is not None else ""))
    fusion = explain.get("fusion")
    if fusion:
        weights = ", ".join(f"{k} {v:g}" for k, v in fusion["weights"].items())
        share = f", identifiers {fusion['identifier_share']:.2f}" if "identifier_share" in fusion else ""
        share += f", names {fusion['name_share']:.2f}" if "name_share" in fusion else ""
        parts.append(f"fusion {fusion['method']} ({weights}{share})")
    rr = explain.get("rerank")
    if rr:
        parts.append(f"rerank maxsim {rr['maxsim']:.4f} x{rr['weight']:g} (fused #{rr['fused_rank']})")
    return " | ".join(parts)
