"""Command tree: ``expert ingest | search | kb | ask | chat | data | finetune | eval | advise | models | config``."""

from __future__ import annotations

import click

from industry_expert import __version__, logs
from industry_expert.cli.config import config_option
from industry_expert.cli.output import ExpertGroup


@click.group(cls=ExpertGroup)
@click.version_option(__version__, prog_name="expert")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors (implies --verbose).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also show the libraries' log lines and warnings on stderr (they always go to the log file).",
)
@config_option
def main(debug: bool, verbose: bool, config_file: str | None) -> None:
    """Turn a small language model into an expert on your company's data.

    Third-party warnings and log lines go to the log file ($IE_LOG_FILE, default
    ~/.cache/industry-expert/logs/expert.log), not to the terminal; -v shows them.
    """
    logs.configure(verbose=verbose or debug)


def _register() -> None:
    from industry_expert.cli import ask, evaluate, finetune, ingest, kb, models, search
    from industry_expert.cli.config import config_group

    main.add_command(ingest.ingest_cmd)
    main.add_command(search.search_cmd)
    main.add_command(kb.kb_group)
    main.add_command(ask.ask_cmd)
    main.add_command(ask.chat_cmd)
    main.add_command(finetune.data_group)
    main.add_command(finetune.finetune_group)
    main.add_command(evaluate.eval_group)
    main.add_command(evaluate.advise_cmd)
    main.add_command(models.models_group)
    main.add_command(config_group)
    from industry_expert.cli import keys, serve

    main.add_command(serve.serve_cmd)
    main.add_command(keys.keys_group)


_register()
