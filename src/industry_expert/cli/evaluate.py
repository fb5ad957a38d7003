"""``expert eval`` and ``expert advise``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.output import DefaultCommandGroup, print_json


class _RunByDefault(DefaultCommandGroup):
    default_command = "run"


@click.group("eval", cls=_RunByDefault)
def eval_group() -> None:
    """Evaluate base / RAG / fine-tuned / both on a question set: 'expert eval QUESTIONS --out DIR'."""


def print_summary(report) -> None:  # type: ignore[no-untyped-def]
    def pct(v: float | None) -> str:
        return "   n/a" if v is None or v != v else f"{100 * v:5.1f}%"

    cols = [
        ("abstention", "abstain(unans)"),
        ("false_abstention", "false abst."),
        ("citation_precision", "cite prec."),
        ("faithfulness", "faithful"),
    ]
    head = f"{'system':<16}{'correct':>8}{'95% CI':>15}" + "".join(f"{t:>16}" for _, t in cols)
    click.echo(head + f"{'s/answer':>10}")
    for s in report.systems:
        row = report.summary[s]
        lo, hi = report.ci[s]["correct"]
        interval = f"{pct(lo).strip()}-{pct(hi).strip()}"
        click.echo(
            f"{s:<16}{pct(row['correct']):>8}{interval:>15}"
            + "".join(f"{pct(row[k]):>16}" for k, _ in cols)
            + f"{row['latency_s']:>10.1f}"
        )
    for s, why in report.skipped.items():
        click.echo(f"skipped {s}: {why}")
    if report.retrieval:
        click.echo("retrieval: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in report.retrieval.items()))
    for c in report.comparisons:
        verdict = "significant" if c["significant"] else "not significant"
        click.echo(
            f"{c['better']} - {c['than']}: {100 * c['difference']:+.1f} points correct "
            f"(95% CI {100 * c['ci'][0]:+.1f} .. {100 * c['ci'][1]:+.1f}, {verdict})"
        )
    click.echo(f"report: {report.out}/report.html")


@eval_group.command("run")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False))
@click.option("--kb", "kb_path", type=click.Path(file_okay=False))
@click.option("--adapter", type=click.Path(exists=True, file_okay=False))
@click.option("--model", help="Base model spec (default: the bundled SmolLM2).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report directory.")
@click.option("-k", "k", default=4, show_default=True, type=int)
@click.option("--max-tokens", default=80, show_default=True, type=int)
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(
    questions: str,
    kb_path: str | None,
    adapter: str | None,
    model: str | None,
    out: str,
    k: int,
    max_tokens: int,
    limit: int | None,
    as_json: bool,
) -> None:
    """Run up to four systems; per-question JSONL, summary.json and report.html in --out."""
    from industry_expert.evaluate.run import evaluate
    from industry_expert.generate.grounded import AskSettings

    report = evaluate(
        questions,
        out,
        kb_path,
        adapter,
        model,
        AskSettings(k=k, max_tokens=max_tokens),
        progress=sys.stderr.isatty(),
        limit=limit,
    )
    if as_json:
        from industry_expert.evaluate.run import no_nan

        print_json(no_nan(report.to_dict()))
    else:
        print_summary(report)


@eval_group.command("generate")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--limit", type=int)
@click.option("--data-root", help="Make gold sources relative to this folder (as ingested).")
@click.option("--json", "as_json", is_flag=True)
def generate_cmd(kb_path: str, out: str, limit: int | None, data_root: str | None, as_json: bool) -> None:
    """A question set with gold sources from the KB's evaluation chunks (never used for training data)."""
    from industry_expert.evaluate.generate import questions_from_kb

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
