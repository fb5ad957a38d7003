"""``expert search QUERY --kb DIR``."""

from __future__ import annotations

import textwrap

import click

from industry_expert.cli.output import parse_filters, print_json


@click.command("search")
@click.argument("query")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Metadata filter (source, type, any ingested field); repeatable; globs allowed.",
)
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search_cmd(query: str, kb_path: str, k: int, filters: tuple[str, ...], mode: str, as_json: bool) -> None:
    """Hybrid search (BM25 + dense + document summaries) with sources."""
    from industry_expert.retrieve.hybrid import search

    hits = search(query, kb_path, k=k, filters=parse_filters(filters), mode=mode)  # type: ignore[arg-type]
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no results")
    for n, h in enumerate(hits, start=1):
        where = h.source + (f", page {h.page}" if h.page else "")
        click.echo(click.style(f"[{n}] {where}", bold=True) + f"  (score {h.score:.4f})")
        click.echo(f"    {h.section}")
        body = h.text if len(h.text) < 400 else h.text[:400] + " ..."
        click.echo(textwrap.indent(textwrap.fill(" ".join(body.split()), 96), "    ") + "\n")
