"""``expert eval`` and ``expert advise``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.ask import ANSWER_FLAGS
from industry_expert.cli.config import config_option, load_settings, setting_options
from industry_expert.cli.output import DefaultCommandGroup, print_json


class _RunByDefault(DefaultCommandGroup):
    default_command = "run"


@click.group("eval", cls=_RunByDefault)
def eval_group() -> None:
    """Evaluate base / RAG / fine-tuned / both on a question set: 'expert eval QUESTIONS --out DIR'."""


def _rate(v: float | None, n: int | None = None) -> str:
    text = "n/a" if v is None or v != v else f"{100 * v:.1f}%"
    return text + (f" n={n}" if n is not None else "")


def print_summary(report) -> None:  # type: ignore[no-untyped-def]
    """The table: each rate with its n; correctness with its Wilson interval; McNemar tests."""
    cols = [
        ("abstention", "abstain(unans)"),
        ("false_abstention", "false abst."),
        ("citation_precision", "cite prec."),
        ("faithfulness", "faithful"),
    ]
    head = f"{'system':<16}{'correct':>14}{'95% CI':>15}" + "".join(f"{t:>18}" for _, t in cols)
    click.echo(head + f"{'s/answer':>10}")
    for s in report.systems:
        row, n = report.summary[s], report.counts[s]
        lo, hi = report.ci[s]["correct"]
        interval = f"{_rate(lo)}-{_rate(hi)}"
        click.echo(
            f"{s:<16}{_rate(row['correct'], n['correct']):>14}{interval:>15}"
            + "".join(f"{_rate(row[k], n[k]):>18}" for k, _ in cols)
            + f"{row['latency_s']:>10.1f}"
        )
    for s, why in report.skipped.items():
        click.echo(f"skipped {s}: {why}")
    if report.retrieval:
        click.echo(
            f"retrieval (n={report.retrieval_n}): "
            + ", ".join(f"{k} {100 * v:.1f}%" for k, v in report.retrieval.items())
        )
    for c in report.comparisons:
        verdict = "significant" if c["significant"] else "not significant"
        click.echo(
            f"{c['better']} - {c['than']}: {100 * c['difference']:+.1f} points correct on {c['n']} questions "
            f"(95% CI {100 * c['ci'][0]:+.1f} .. {100 * c['ci'][1]:+.1f}; right only by one: "
            f"{c['only_better']} vs {c['only_than']}, exact McNemar p={c['p_value']:.3g}, {verdict})"
        )
    a = report.settings.get("answer", {})
    click.echo(
        f"settings: answer k={a.get('k')}, max_tokens={a.get('max_tokens')}, "
        f"context_tokens={a.get('context_tokens')} (all in summary.json)"
    )
    click.echo(f"report: {report.out}/report.html")


@eval_group.command("run")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False))
@click.option("--kb", "kb_path", type=click.Path(file_okay=False))
@click.option(
    "--adapter",
    type=click.Path(exists=True),
    help="A PEFT adapter directory or its GGUF (expert finetune export).",
)
@setting_options("answer", ["model", *ANSWER_FLAGS], {"k": ["-k"]})
@config_option
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report directory.")
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out that is not an evaluation.")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(
    questions: str,
    kb_path: str | None,
    adapter: str | None,
    config_file: str | None,
    out: str,
    limit: int | None,
    overwrite: bool,
    as_json: bool,
    **flags: object,
) -> None:
    """Run up to four systems with the settings 'expert ask' uses (same --config and flags);
    per-question JSONL, summary.json and report.html in --out."""
    from industry_expert.evaluate.run import evaluate
    from industry_expert.outputs import check_out_dir

    s = load_settings(config_file, flags)
    check_out_dir(out, "evaluation", overwrite)
    report = evaluate(
        questions,
        out,
        kb_path,
        adapter,
        None,
        s,
        progress=sys.stderr.isatty(),
        limit=limit,
    )
    if as_json:
        from industry_expert.io import no_nan

        print_json(no_nan(report.to_dict()))
    else:
        print_summary(report)


@eval_group.command("generate")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--limit", type=int)
@click.option("--data-root", help="Make gold sources relative to this folder (as ingested).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out that is not JSON Lines.")
@click.option("--json", "as_json", is_flag=True)
def generate_cmd(
    kb_path: str, out: str, limit: int | None, data_root: str | None, overwrite: bool, as_json: bool
) -> None:
    """A question set with gold sources from the KB's evaluation chunks (never used for training data)."""
    from industry_expert.evaluate.generate import questions_from_kb
    from industry_expert.outputs import check_out_file

    check_out_file(out, overwrite)
    r = questions_from_kb(kb_path, out, limit=limit, data_root=data_root)
    print_json(r) if as_json else click.echo(
        f"{r['questions']} questions from {r['sources']} sources -> {r['out']}"
    )


def _tri(name: str, help_text: str):  # type: ignore[no-untyped-def]
    return click.option(f"--{name}/--no-{name}", default=None, help=help_text)


@click.command("advise")
@click.option("--kb", "kb_path", type=click.Path(file_okay=False))
@click.option(
    "--data", "data_path", type=click.Path(exists=True, dir_okay=False), help="Training set (JSONL)."
)
@click.option(
    "--eval", "eval_dir", type=click.Path(exists=True, file_okay=False), help="An 'expert eval' report."
)
@_tri("fresh-data", "Answers need external or frequently changing data.")
@_tri("terminology", "Precise, stable industry terminology matters.")
@_tri("enough-data", "There is enough high-quality training data.")
@_tri("traceability", "Answers must be traceable to sources (default: yes).")
@click.option("--business-flow", is_flag=True, help="The model drives an automated business flow.")
@click.option("--json", "as_json", is_flag=True)
def advise_cmd(
    kb_path: str | None,
    data_path: str | None,
    eval_dir: str | None,
    fresh_data: bool | None,
    terminology: bool | None,
    enough_data: bool | None,
    traceability: bool | None,
    business_flow: bool,
    as_json: bool,
) -> None:
    """Recommend RAG, fine-tuning or both, with the evidence (and measurements, with --eval)."""
    from industry_expert.advise.profile import Profile, profile_data, profile_kb
    from industry_expert.advise.rules import advise

    profile = Profile(
        profile_kb(kb_path) if kb_path else None, profile_data(data_path) if data_path else None
    )
    a = advise(profile, fresh_data, terminology, enough_data, traceability, business_flow, eval_dir)
    if as_json:
        print_json(a.to_dict())
        return
    click.echo(click.style(f"Recommendation: {a.recommendation}", bold=True) + f" ({a.scenario})")
    click.echo("\nThe guide's questions:")
    for f in a.findings:
        ans = {True: "yes", False: "no", None: "unknown"}[f.answer]
        click.echo(f"  - {f.question} {ans}  [{f.source}: {f.evidence}]")
    click.echo("\nWhy:")
    for r in a.reasons:
        click.echo(f"  - {r}")
    if a.rule_recommendation != a.recommendation:
        click.echo(f"\n(rule of thumb alone: {a.rule_recommendation})")
