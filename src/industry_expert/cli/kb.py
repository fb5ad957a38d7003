"""``expert kb stats|remove``."""

from __future__ import annotations

import click

from industry_expert.cli.output import print_json


@click.group("kb")
def kb_group() -> None:
    """Inspect and edit a knowledge base."""


@kb_group.command("stats")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def stats_cmd(kb_path: str, as_json: bool) -> None:
    """Documents, chunks, embedder, size on disk."""
    from industry_expert.api import kb_stats

    s = kb_stats(kb_path)
    if as_json:
        print_json(s)
        return
    types = ", ".join(f"{t} {n}" for t, n in sorted(s["types"].items()))
    click.echo(
        f"knowledge base: {s['kb']}\ndocuments: {s['documents']} ({types})\n"
        f"chunks: {s['chunks']}\nembedder: {s['embedder']} ({s['embedder_dim']}-d)\n"
        f"store: {s['store']} (ANN: {s['ann_index']})\n"
        f"size on disk: {s['size_bytes'] / 1048576:.1f} MB\n"
        f"ingest runs: {s['ingest_runs']}, last {s['last_ingest']}"
    )


@kb_group.command("remove")
@click.argument("source")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def remove_cmd(source: str, kb_path: str, as_json: bool) -> None:
    """Remove a source's documents (path as ingested, or a folder)."""
    from industry_expert.api import kb_remove

    r = kb_remove(source, kb_path)
    if as_json:
        print_json(r)
    else:
        click.echo(
            f"removed {r['removed_documents']} document(s), {r['removed_chunks']} chunk(s): "
            + ", ".join(r["sources"])
        )
