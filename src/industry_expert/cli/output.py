"""Shared CLI plumbing: JSON printing and one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from industry_expert.errors import ExpertError


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class ExpertGroup(click.Group):
    """Prints ExpertError as one line (exit 2) unless --debug asks for the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ExpertError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


def parse_filters(values: tuple[str, ...]) -> dict[str, str]:
    filters = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got '{item}'", param_hint="--filter")
        filters[key.strip()] = value.strip()
    return filters


class DefaultCommandGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to ``default_command``
    (``expert finetune DATA`` trains; ``expert finetune merge ...`` merges)."""

    default_command = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
