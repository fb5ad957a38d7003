"""Command tree: ``expert ingest | search | kb stats | kb remove``."""

from __future__ import annotations

import logging

import click

from industry_expert import __version__
from industry_expert.cli.output import ExpertGroup


@click.group(cls=ExpertGroup)
@click.version_option(__version__, prog_name="expert")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Turn a small language model into an expert on your company's data."""
    # bitsandbytes warns on import that an optional CPU kernel package is missing: noise here
    logging.getLogger("bitsandbytes").setLevel(logging.DEBUG if debug else logging.ERROR)


def _register() -> None:
    from industry_expert.cli import ask, evaluate, finetune, ingest, kb, search

    main.add_command(ingest.ingest_cmd)
    main.add_command(search.search_cmd)
    main.add_command(kb.kb_group)
    main.add_command(ask.ask_cmd)
    main.add_command(ask.chat_cmd)
    main.add_command(finetune.data_group)
    main.add_command(finetune.finetune_group)
    main.add_command(evaluate.eval_group)
    main.add_command(evaluate.advise_cmd)


_register()
