"""``expert kb stats|check|remove|copy``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.output import escape_controls, print_json


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
    if s.get("pdfs"):
        click.echo("PDFs:")
        for p in s["pdfs"]:
            click.echo(f"  {escape_controls(p['source'])}: {pdf_line(p)}")


def pdf_line(p: dict) -> str:
    """``40 pages, 3 without text, outline used`` (what an older KB did not record: left out)."""
    if p.get("pages") is None:
        return "page details not recorded (ingested by an older version)"
    parts = [f"{p['pages']} pages"]
    if p.get("pages_without_text") is not None:
        parts.append(f"{p['pages_without_text']} without text")
    if p.get("outline") is not None:
        parts.append("outline used" if p["outline"] else "no outline (headings from typography)")
    return ", ".join(parts)


@kb_group.command("check")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option(
    "--repair", is_flag=True, help="Rebuild the full-text and vector indexes from the stored chunks."
)
@click.option("--json", "as_json", is_flag=True)
def check_cmd(kb_path: str, repair: bool, as_json: bool) -> None:
    """Check the database, its full-text indexes and the vector index against the stored chunks;
    exit 0 when healthy, 2 with one line per problem otherwise."""
    from industry_expert.kb import check_kb

    r = check_kb(kb_path, repair=repair)
    if as_json:
        print_json(r.to_dict())
    else:
        for line in r.repaired:
            click.echo(f"repaired: {line}")
        for line in r.problems:
            click.echo(f"problem: {escape_controls(line)}", err=True)
        if r.ok:
            click.echo(f"ok: {', '.join(r.checked)}")
    if not r.ok:
        sys.exit(2)


@kb_group.command("remove")
@click.argument("source")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--all", "allow_all", is_flag=True, help="Allow a source that matches every document.")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option("--json", "as_json", is_flag=True)
def remove_cmd(source: str, kb_path: str, yes: bool, allow_all: bool, dry_run: bool, as_json: bool) -> None:
    """Remove a source's documents (path as ingested, or a folder); asks first unless --yes."""
    from industry_expert.api import kb_remove
    from industry_expert.errors import KBError

    plan = kb_remove(source, kb_path, dry_run=True)
    if plan["everything"] and not allow_all and (yes or dry_run):
        kb_remove(source, kb_path, allow_all=False)  # raises the one-line refusal
    if dry_run:
        print_json(plan) if as_json else click.echo(_summary("would remove", plan))
        return
    if not yes:
        if not sys.stdin.isatty():
            raise KBError(f"{_summary('would remove', plan)}; pass --yes to confirm (no terminal to ask)")
        click.echo(_summary("would remove", plan), err=True)
        warn = " (EVERY document in this KB)" if plan["everything"] else ""
        click.confirm(f"Remove {plan['removed_documents']} document(s){warn}?", abort=True, err=True)
        allow_all = True  # confirmed by a person, knowing it is everything
    r = kb_remove(source, kb_path, allow_all=allow_all)
    print_json(r) if as_json else click.echo(_summary("removed", r))


def _summary(verb: str, r: dict) -> str:
    shown = r["sources"][:10]
    more = f" and {len(r['sources']) - 10} more" if len(r["sources"]) > 10 else ""
    return (
        f"{verb} {r['removed_documents']} document(s), {r['removed_chunks']} chunk(s): "
        + ", ".join(shown)
        + more
    )


@kb_group.command("copy")
@click.argument("src", type=click.Path(file_okay=False))
@click.argument("dst", type=click.Path(file_okay=False))
@click.option(
    "--store",
    help="Store of the copy: sqlite-faiss (default) | postgresql://USER@HOST:PORT/DB "
    "(password from PGPASSWORD or ~/.pgpass).",
)
@click.option("--json", "as_json", is_flag=True)
def copy_cmd(src: str, dst: str, store: str | None, as_json: bool) -> None:
    """Copy a KB into a new directory and store (vectors copied, not re-embedded; verified)."""
    from industry_expert.kb_copy import copy_kb

    r = copy_kb(src, dst, store)
    if as_json:
        print_json(r.to_dict())
    else:
        click.echo(
            f"copied {r.documents} document(s), {r.chunks} chunk(s), {r.runs} ingest run(s) "
            f"from {r.src_store} to {r.dst_store} in {r.seconds:.1f} s; counts and vectors verified"
        )
