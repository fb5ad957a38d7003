"""``expert serve``: the OpenAI-compatible HTTP API."""

from __future__ import annotations

import click


@click.command("serve")
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False), help="Settings file (its 'serve:' section)."
)
@click.option(
    "--kb", "kbs", multiple=True, metavar="NAME=DIR", help="Serve a knowledge base under NAME (repeatable)."
)
@click.option("--model", help="smollm2 (bundled) | PATH.gguf | hf:ID_OR_PATH | openai:NAME@URL")
@click.option(
    "--adapter",
    "adapters",
    multiple=True,
    metavar="NAME=PATH",
    help="A fine-tuned adapter: a PEFT folder or its GGUF from 'expert finetune export' (repeatable).",
)
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8000).")
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Keys, jobs and logs (default .expert-serve)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (default 1; more need every KB in PostgreSQL).",
)
@click.option(
    "--insecure-no-auth", is_flag=True, default=None, help="Allow a non-loopback bind with no keys."
)
def serve_cmd(
    config: str | None,
    kbs: tuple[str, ...],
    model: str | None,
    adapters: tuple[str, ...],
    host: str | None,
    port: int | None,
    state_dir: str | None,
    workers: int | None,
    insecure_no_auth: bool | None,
) -> None:
    """Serve the experts over HTTP (OpenAI-compatible, keys per knowledge base)."""
    from industry_expert.cli.config import load_settings
    from industry_expert.serve.launch import run, serve_settings

    settings = serve_settings(
        load_settings(config, {}),  # --config, else `expert --config FILE` / IE_CONFIG
        kbs,
        adapters,
        model=model,
        host=host,
        port=port,
        state_dir=state_dir,
        workers=workers,
        insecure_no_auth=insecure_no_auth,
    )
    s = settings.serve
    names = ", ".join(s.kbs) or "none"
    where = f"KBs: {names}; state: {s.state_dir}" + (f"; {s.workers} workers" if s.workers > 1 else "")
    click.echo(f"serving on http://{s.host}:{s.port}  ({where})", err=True)
    run(settings)
