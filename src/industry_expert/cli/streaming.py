"""Terminal output of a streamed answer: checked sentences as they pass, then the sources."""

from __future__ import annotations

from collections.abc import Iterable

import click

from industry_expert.cli.output import escape_controls as esc
from industry_expert.types import Answer

CLOSEST = 3


def show_stream(events: Iterable[object], sources: bool = True) -> Answer:
    """Print each checked sentence as it arrives (the screen ends up showing exactly
    ``answer.answer``, control characters as visible escapes: a sentence may quote a document),
    then (``sources``) the sources; returns the final answer."""
    from industry_expert.generate.stream import Done, Sentence

    answer = None
    for event in events:
        if isinstance(event, Sentence):
            click.echo(esc(event.text), nl=False)
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None, "the answer stream ended without its final event"
    click.echo()
    if sources:
        print_sources(answer)
    return answer


def print_sources(answer: Answer) -> None:
    """Citations with their quotes; for an abstention, the closest passages instead."""
    if answer.unsupported:
        note = f"({len(answer.unsupported)} sentence(s) of the model's answer that no passage supports were not shown)"
        click.echo(click.style(f"\n{note}", fg="yellow"))
    if answer.stopped == "loop":
        click.echo(click.style("(generation stopped: the model was repeating itself)", fg="yellow"))
    elif answer.stopped == "length":
        click.echo(click.style("(the token limit cut the last sentence; raise --max-tokens)", fg="yellow"))
    if answer.abstained and answer.passages:
        click.echo("\nClosest passages:")
        for n, hit in enumerate(answer.passages[:CLOSEST], start=1):
            where = esc(hit.source) + (f", page {hit.page}" if hit.page else "")
            click.echo(f"  [{n}] {where} - {esc(hit.section)}")
            click.echo(click.style(f'      "{esc(" ".join(hit.text.split())[:300])}"', dim=True))
        return
    if answer.citations:
        click.echo("\nSources:")
    for c in answer.citations:
        where = esc(c.source) + (f", page {c.page}" if c.page else "")
        click.echo(f"  [{c.n}] {where} - {esc(c.section)}")
        click.echo(click.style(f'      "{esc(c.quote[:300])}"', dim=True))
