"""``expert ask`` and ``expert chat``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.output import parse_filters, print_json
from industry_expert.types import Answer


def _settings(k: int | None, max_tokens: int | None):  # type: ignore[no-untyped-def]
    from industry_expert.generate.grounded import AskSettings

    given = {"k": k, "max_tokens": max_tokens}
    return AskSettings(**{name: v for name, v in given.items() if v is not None})


def print_sources(answer: Answer) -> None:
    if answer.abstained and answer.raw_answer and answer.answer != answer.raw_answer:
        click.echo(
            click.style(
                f"\n-> {answer.answer} (the model's answer was not supported by the retrieved passages)",
                fg="yellow",
            )
        )
        return
    if answer.unsupported:
        click.echo(
            click.style(
                f"\n(dropped {len(answer.unsupported)} sentence(s) that no passage supports)", fg="yellow"
            )
        )
    if answer.citations:
        click.echo("\nSources:")
    for c in answer.citations:
        where = c.source + (f", page {c.page}" if c.page else "")
        click.echo(f"  [{c.n}] {where} - {c.section}")
        click.echo(click.style(f'      "{c.quote[:300]}"', dim=True))


model_options = [
    click.option("--model", help="smollm2 (bundled) | PATH.gguf | hf:ID_OR_PATH | openai:NAME@URL"),
    click.option(
        "--adapter",
        type=click.Path(exists=True, file_okay=False),
        help="A PEFT adapter directory (fine-tuned with 'expert finetune').",
    ),
]


def with_model_options(f):  # type: ignore[no-untyped-def]
    for opt in reversed(model_options):
        f = opt(f)
    return f


@click.command("ask")
@click.argument("question")
@click.option(
    "--kb",
    "kb_path",
    type=click.Path(file_okay=False),
    help="Knowledge base to answer from; without it the model answers alone.",
)
@with_model_options
@click.option("-k", "k", type=click.IntRange(1, 50), help="Passages to retrieve (default 5).")
@click.option("--max-tokens", type=click.IntRange(8, 4096))
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True)
def ask_cmd(
    question: str,
    kb_path: str | None,
    model: str | None,
    adapter: str | None,
    k: int | None,
    max_tokens: int | None,
    filters: tuple[str, ...],
    as_json: bool,
) -> None:
    """Answer a question with cited sources (or from the model alone without --kb)."""
    from industry_expert.generate.grounded import ask

    stream = None if as_json else (lambda t: click.echo(t, nl=False))
    answer = ask(
        question, kb_path, model, adapter, _settings(k, max_tokens), parse_filters(filters), on_token=stream
    )
    if as_json:
        print_json(answer.to_dict())
        return
    if not answer.raw_answer:
        click.echo(answer.answer, nl=False)
    click.echo()
    print_sources(answer)


@click.command("chat")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@with_model_options
@click.option("-k", "k", type=click.IntRange(1, 50))
def chat_cmd(kb_path: str, model: str | None, adapter: str | None, k: int | None) -> None:
    """Multi-turn questions; follow-ups are rewritten into standalone queries. /sources, /quit."""
    from industry_expert.generate.conversation import ChatSession
    from industry_expert.generate.grounded import ask
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator

    gen = load_generator(model, adapter)
    session, last = ChatSession(), None
    interactive = sys.stdin.isatty()
    with KnowledgeBase.open(kb_path) as kb:
        while True:
            try:
                line = input("you> " if interactive else "").strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line == "/sources":
                if last is None:
                    click.echo("no answer yet")
                else:
                    click.echo(f"query: {last.query}")
                    print_sources(last) if last.citations else click.echo("no sources")
                continue
            query = session.query_for(line)
            click.echo("expert> ", nl=False)
            last = ask(
                line,
                kb,
                gen,
                settings=_settings(k, None),
                query=query,
                on_token=lambda t: click.echo(t, nl=False),
            )
            if not last.raw_answer:
                click.echo(last.answer, nl=False)
            click.echo()
            if last.abstained and last.raw_answer:
                print_sources(last)
