"""Degenerate repetition in generated text, detected as it starts (any backend: it reads text).

Small models fall into verbatim loops ("idx_customers_id_customers_id_customers_id...", "which is
set to 1.0, which is set to 1.0, ..."). A loop is the end of the text repeating one unit back to
back: at least ``repeats`` copies of a short unit, or two copies of a unit of ``sentence_chars``
or more (a whole sentence said twice in a row), spanning at least ``min_span`` characters.
Counting loops ("5. Pump pump\n6. Pump pump\n7. ...") are the same with every number read as
one symbol, but need ``numbered_repeats`` copies over ``numbered_span`` characters (a few
parallel sentences that differ only in their numbers are normal answers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class LoopRule:
    """When the end of a text counts as a loop."""

    min_span: int = 40
    """Characters the repeated run must cover (short repeats such as '1, 1' are normal text)."""
    repeats: int = 3
    """Back-to-back copies of a short unit that make a loop."""
    sentence_chars: int = 40
    """Units at least this long (a sentence) loop after two copies."""
    max_period: int = 200
    """Longest unit looked for, in characters."""
    numbered_span: int = 120
    numbered_repeats: int = 4
    """Span and copies for a loop that only repeats once numbers are ignored."""


def loop_start(text: str, rule: LoopRule = LoopRule()) -> int | None:
    """Index in ``text`` where a loop ending the text starts (its first copy), else None."""
    n = len(text)
    for period in range(1, min(rule.max_period, n // 2) + 1):
        copies = max(2 if period >= rule.sentence_chars else rule.repeats, -(-rule.min_span // period))
        span = period * copies
        if span > n:
            continue
        unit = text[n - period :]
        if not unit.strip():
            continue  # runs of whitespace are layout, not a loop
        if text[n - span :] == unit * copies:
            start = n - span
            while start >= period and text[start - period : start] == unit:
                start -= period
            return start
    return None


def is_loop(text: str, rule: LoopRule = LoopRule()) -> bool:
    """The text ends in a verbatim loop, or in a counting loop (numbers ignored)."""
    if loop_start(text, rule) is not None:
        return True
    counting = replace(
        rule,
        min_span=rule.numbered_span,
        repeats=rule.numbered_repeats,
        sentence_chars=rule.max_period + 1,  # whole sentences too need numbered_repeats copies
    )
    return loop_start(_DIGITS.sub("0", text), counting) is not None


@dataclass
class LoopGuard:
    """Feeds on streamed pieces; ``looped`` turns True once the text ends in a loop."""

    rule: LoopRule = LoopRule()
    text: str = ""
    looped: bool = False

    def feed(self, piece: str) -> bool:
        self.text += piece
        self.looped = self.looped or is_loop(self.text[-4 * self.rule.max_period :], self.rule)
        return self.looped


def stop_loops(pieces: Iterator[str], guard: LoopGuard | None = None) -> Iterator[str]:
    """Pass pieces through until the text loops, then close the source (which stops generation in
    every backend: llama.cpp's iterator, the transformers thread, the HTTP stream)."""
    guard = guard or LoopGuard()
    try:
        for piece in pieces:
            yield piece
            if guard.feed(piece):
                return
    finally:
        close = getattr(pieces, "close", None)
        if close:
            close()
