"""``expert ingest PATH... --kb DIR``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.output import print_json


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
@click.option("--max-tokens", type=int, help="Chunk token budget (new KBs only).")
@click.option("--overlap", type=int, help="Chunk overlap in tokens (new KBs only).")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (YAML/TOML/JSON)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def ingest_cmd(
    paths: tuple[str, ...],
    kb_path: str,
    table: str | None,
    query: str | None,
    embedder: str | None,
    max_tokens: int | None,
    overlap: int | None,
    config_file: str | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Ingest files, folders, globs and SQLite databases into a knowledge base."""
    from industry_expert.config import ChunkSettings, Settings
    from industry_expert.ingest.pipeline import ingest

    settings = Settings.load(config_file)
    explicit = set()
    if embedder:
        settings.embedder, explicit = embedder, {"embedder"}
    if max_tokens is not None or overlap is not None:
        c = settings.chunking
        settings.chunking = ChunkSettings(
            max_tokens if max_tokens is not None else c.max_tokens,
            overlap if overlap is not None else c.overlap_tokens,
            c.table_rows_max,
        )
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
            if f.status in ("failed", "skipped", "removed"):
                click.echo(f"{f.status:>8}  {f.source}" + (f": {f.reason}" if f.reason else ""))
        click.echo(
            f"files: {report.count('ingested')} ingested, {report.count('unchanged')} unchanged, "
            f"{report.count('removed')} removed, {report.count('failed')} failed, "
            f"{report.count('skipped')} skipped\n"
            f"chunks: {report.chunks_added} added, {report.chunks_removed} removed in "
            f"{report.seconds:.1f} s ({report.chunks_per_second:.1f} chunks/s)"
        )
    if not report.ok:
        sys.exit(1)
