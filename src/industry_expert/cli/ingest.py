"""``expert ingest PATH... --kb DIR``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.config import config_option, load_settings, setting_options
from industry_expert.cli.output import escape_controls, print_json


def _file_sections(config_file: str | None) -> set[str]:
    """The top-level keys the config file sets (those settings were chosen on purpose)."""
    from pathlib import Path

    from industry_expert.datafile import read_config_file

    if config_file is None:
        root = click.get_current_context().find_root()
        config_file = root.params.get("config_file")
    return set(read_config_file(Path(config_file))) if config_file else set()


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--kb",
    "kb_path",
    required=True,
    type=click.Path(file_okay=False),
    help="Knowledge base directory (created if new).",
)
@click.option("--table", help="SQLite: ingest only this table.")
@click.option("--query", help="SQLite: ingest the rows of this read-only SQL query.")
@click.option("--embedder", help="minilm (bundled, default) | st:PATH | openai:MODEL@URL")
@click.option(
    "--store",
    help="Store of a new KB: sqlite-faiss (default) | postgresql://USER@HOST:PORT/DB "
    "(password from PGPASSWORD or ~/.pgpass, never recorded).",
)
@setting_options(
    "chunking", ["max_tokens", "overlap_tokens", "table_rows_max"], {"overlap_tokens": ["--overlap"]}
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def ingest_cmd(
    paths: tuple[str, ...],
    kb_path: str,
    table: str | None,
    query: str | None,
    embedder: str | None,
    store: str | None,
    config_file: str | None,
    as_json: bool,
    no_progress: bool,
    **flags: object,
) -> None:
    """Ingest files, folders, globs and SQLite databases into a knowledge base. Chunking and the
    embedder are fixed when a KB is created; given again (flag or config file), they must match."""
    from industry_expert.ingest.pipeline import ingest

    chunk_flags = any(v is not None for v in flags.values())
    settings = load_settings(config_file, flags)
    if embedder:
        settings = settings.merged({"embedder": embedder})
    given = _file_sections(config_file)
    explicit: set[str] = {name for name in ("embedder", "chunking") if name in given}
    if embedder:
        explicit.add("embedder")
    if store:
        url = store if store.startswith(("postgresql://", "postgres://")) else None
        settings = settings.merged({"store": {"backend": "postgresql" if url else store, "url": url}})
        explicit.add("store")
    if chunk_flags:
        explicit.add("chunking")
    if (table or query) and not all(
        p.startswith("sqlite:///") or p.endswith((".db", ".sqlite", ".sqlite3")) for p in paths
    ):
        raise click.UsageError("--table/--query need SQLite database paths")
    report = ingest(
        list(paths),
        kb_path,
        settings,
        explicit,
        table=table,
        query=query,
        progress=not no_progress and sys.stderr.isatty(),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        for f in report.files:
            for warning in f.warnings:
                click.echo(f"warning  {escape_controls(f.source)}: {escape_controls(warning)}")
            if f.status in ("failed", "skipped", "removed"):
                reason = f": {escape_controls(f.reason)}" if f.reason else ""  # may quote a file's bytes
                click.echo(f"{f.status:>8}  {escape_controls(f.source)}{reason}")
        click.echo(
            f"files: {report.count('ingested')} ingested, {report.count('unchanged')} unchanged, "
            f"{report.count('removed')} removed, {report.count('failed')} failed, "
            f"{report.count('skipped')} skipped\n"
            f"chunks: {report.chunks_added} added, {report.chunks_removed} removed in "
            f"{report.seconds:.1f} s ({report.chunks_per_second:.1f} chunks/s)"
        )
    if not report.ok:
        sys.exit(1)
