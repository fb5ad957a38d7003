"""``expert ask`` and ``expert chat``."""

from __future__ import annotations

import itertools
import sys

import click

from industry_expert.cli.config import config_option, load_settings, setting_options
from industry_expert.cli.output import parse_filters, print_json
from industry_expert.cli.streaming import print_sources, show_stream
from industry_expert.config import Settings

ANSWER_FLAGS = ["k", "max_tokens", "sentences", "temperature", "min_relevance", "context_tokens"]


def effective(s: Settings, model_id: str) -> dict[str, object]:
    """The settings an answer depends on, as recorded in ``ask --json``: the model's profile
    (``models/profiles.py``) filled in where the user left a value unset."""
    from industry_expert.models.profiles import apply_profile

    return {"retrieve": s.retrieve.to_dict(), "answer": apply_profile(s.answer, model_id).to_dict()}


model_options = [
    setting_options("answer", ["model"]),
    click.option(
        "--adapter",
        type=click.Path(exists=True),
        help="A PEFT adapter directory ('expert finetune'), or its GGUF ('expert finetune export'), "
        "which llama.cpp applies to the bundled model or the --model GGUF.",
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
@setting_options("answer", ANSWER_FLAGS, {"k": ["-k"]})
@config_option
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True)
def ask_cmd(
    question: str,
    kb_path: str | None,
    adapter: str | None,
    config_file: str | None,
    filters: tuple[str, ...],
    as_json: bool,
    **flags: object,
) -> None:
    """Answer a question with cited sources (or from the model alone without --kb)."""
    from industry_expert.generate.grounded import ask
    from industry_expert.generate.stream import stream_answer
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator

    s = load_settings(config_file, flags)
    kb = KnowledgeBase.open(kb_path, settings=s) if kb_path else None  # a wrong --kb fails first
    try:
        gen = load_generator(s.answer.model, adapter, s.remote)  # remote: the settings' timeouts/retries
        args = (question, kb, gen, None, s.answer, parse_filters(filters))
        if as_json:
            answer = ask(*args, retrieval=s.retrieve)
            print_json({**answer.to_dict(), "settings": effective(s, gen.id)})
            return
        show_stream(stream_answer(*args, retrieval=s.retrieve))  # only checked sentences reach the screen
    finally:
        if kb is not None:
            kb.close()


@click.command("chat")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@with_model_options
@setting_options("answer", ANSWER_FLAGS, {"k": ["-k"]})
@config_option
def chat_cmd(kb_path: str, adapter: str | None, config_file: str | None, **flags: object) -> None:
    """Multi-turn questions; follow-ups are rewritten into standalone queries. /sources, /quit."""
    from industry_expert.generate.conversation import ChatSession
    from industry_expert.generate.stream import QuestionTooLong, stream_answer
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator

    s = load_settings(config_file, flags)
    gen = load_generator(s.answer.model, adapter, s.remote)
    session, last = ChatSession(), None
    interactive = sys.stdin.isatty()
    with KnowledgeBase.open(kb_path, settings=s) as kb:
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
            events = stream_answer(line, kb, gen, settings=s.answer, query=query, retrieval=s.retrieve)
            try:
                first = next(events)  # a question refused (too long) is refused before any output
            except QuestionTooLong as exc:
                click.echo(f"error: {exc}", err=True)  # the session goes on
                continue
            click.echo("expert> ", nl=False)
            last = show_stream(itertools.chain([first], events), sources=False)
            if last.abstained:
                print_sources(last)  # the closest passages
