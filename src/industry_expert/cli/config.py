"""``--config FILE`` for every command, flags derived one to one from settings fields, and
``expert config show``."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

import click

from industry_expert.cli.output import print_json
from industry_expert.config import Settings

F = Callable[..., Any]
SEP = "__"  # click parameter name of a settings flag: "<section>__<field>"

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="IE_CONFIG",
    help="Settings file (YAML/TOML/JSON; default $IE_CONFIG); flags override it.",
)


def _click_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _click_type(args[0])
    return {int: int, float: float, str: str}.get(annotation, str)


def setting_options(
    section: str, names: list[str], aliases: dict[str, list[str]] | None = None
) -> Callable[[F], F]:
    """Click options for fields of one settings section: ``--max-tokens`` sets ``answer.max_tokens``.
    The help text is the field's docstring; an absent flag leaves the file's (or default) value."""
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type)

    def decorate(f: F) -> F:
        for name in reversed(names):
            info = model.model_fields[name]  # type: ignore[attr-defined]
            decls = (aliases or {}).get(name, []) + (
                [] if len(name) == 1 else [f"--{name.replace('_', '-')}"]
            )
            doc = " ".join((info.description or "").split())
            default = info.get_default(call_default_factory=True)
            f = click.option(
                *decls,
                f"{section}{SEP}{name}",
                type=_click_type(info.annotation),
                default=None,
                help=f"{doc} [{section}.{name}; default {default}]",
            )(f)
        return f

    return decorate


def load_settings(config_file: str | None, flags: dict[str, Any]) -> Settings:
    """The effective settings: defaults < ``--config`` file (or the one given to ``expert``) <
    the settings flags in ``flags`` (popped from it: the ``section__field`` keys)."""
    if config_file is None:
        ctx = click.get_current_context(silent=True)
        root = ctx.find_root() if ctx else None
        config_file = root.params.get("config_file") if root else None
    overrides: dict[str, dict[str, Any]] = {}
    for key in [k for k in flags if SEP in k]:
        section, name = key.split(SEP, 1)
        overrides.setdefault(section, {})[name] = flags.pop(key)
    return Settings.load(config_file).merged(overrides, "command line")


def _yaml_lines(settings: Settings) -> list[str]:
    """The settings as YAML that ``--config`` reads back, each field under its docstring."""
    import json
    import textwrap

    docs = Settings.field_docs()
    lines: list[str] = []

    def add(key: str, value: Any, indent: str) -> None:
        for line in textwrap.wrap(docs.get(key, ""), 96 - len(indent)):
            lines.append(f"{indent}# {line}")
        lines.append(f"{indent}{key.rsplit('.', 1)[-1]}: {json.dumps(value)}")

    for key, value in settings.to_dict().items():
        if isinstance(value, dict) and key != "embedder" and f"{key}." in "".join(docs):
            lines.append(f"{key}:")
            for name, v in value.items():
                add(f"{key}.{name}", v, "  ")
        else:
            add(key, value, "")
    return lines


@click.group("config")
def config_group() -> None:
    """Inspect settings: 'expert config show [--config FILE]'."""


@config_group.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
def show_cmd(config_file: str | None, as_json: bool) -> None:
    """Print the effective settings (defaults, overridden by the config file), with each field's doc."""
    s = load_settings(config_file, {})
    if as_json:
        print_json(s.to_dict())
        return
    click.echo("\n".join(_yaml_lines(s)))
