"""Citation checking as pure functions: parse [n], score support lexically, pick quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from industry_expert.ingest.chunking import split_sentences
from industry_expert.store.text_query import STOP_WORDS

_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")
ABSTAIN_PATTERNS = re.compile(
    r"(does not cover|doesn't cover|not (?:covered|in the knowledge base|mentioned|provided|"
    r"available|found)|no information|cannot (?:find|answer)|can't (?:find|answer)|i don'?t know|"
    r"do not (?:contain|have|know)|don't have)",
    re.IGNORECASE,
)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def content_words(text: str) -> set[str]:
    """Lower-cased content words; plural 's' dropped; codes and numbers kept whole ('3,000' = '3000')."""
    out = set()
    for w in _WORD.findall(_THOUSANDS.sub("", text.lower())):
        w = w.rstrip(".")
        if w in STOP_WORDS or len(w) < 2 and not w.isdigit():
            continue
        out.add(stem(w))
    return out


def stem(word: str) -> str:
    """A light suffix stripper ('regreased' ~ 'regrease', 'hours' ~ 'hour'); codes untouched."""
    if not word.isalpha() or len(word) <= 3:
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _units(passage: str) -> list[str]:
    return [u for line in passage.split("\n") for u in split_sentences(line) if u.strip()] or [passage]


def support(sentence: str, passage: str) -> float:
    """How well the passage supports the sentence (0..1): the best, over windows of one or two
    adjacent passage sentences (or table rows), of the share of the sentence's content words the
    window contains; 0 for a window missing any number or code of the sentence (a token with a
    digit). Small models invent numbers and swap codes between neighbouring facts, and a wrong
    number is the costliest error."""
    words = content_words(_CITE.sub("", sentence))
    if not words:
        return 0.0
    coded = {w for w in words if any(c.isdigit() for c in w)}
    units = [content_words(u) for u in _units(passage)]
    windows = units + [a | b for a, b in zip(units, units[1:])]
    best = 0.0
    for found in windows:
        if coded <= found:
            best = max(best, len(words & found) / len(words))
    return best


def is_abstention(text: str) -> bool:
    return bool(ABSTAIN_PATTERNS.search(text)) and len(text.split()) < 40


@dataclass
class CheckedSentence:
    text: str  # without [n] markers
    cited: list[int]  # as the model wrote them
    kept: list[int] = field(default_factory=list)  # cited, in range and supported
    inferred: list[int] = field(default_factory=list)  # supported passages the model did not cite
    score: dict[int, float] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        return bool(self.kept or self.inferred)


def parse(answer: str) -> list[CheckedSentence]:
    out = []
    for sentence in split_sentences(" ".join(answer.split())):
        cited = [int(n) for group in _CITE.findall(sentence) for n in group.split(",")]
        text = _CITE.sub("", sentence).replace(" .", ".").strip()
        if text:
            out.append(CheckedSentence(text, list(dict.fromkeys(cited))))
    return out


def check(answer: str, passages: list[str], threshold: float = 0.6) -> list[CheckedSentence]:
    """Keep citations that exist and support their sentence; find support where none was cited."""
    sentences = parse(answer)
    for s in sentences:
        s.score = {n: support(s.text, p) for n, p in enumerate(passages, start=1)}
        s.kept = [n for n in s.cited if 1 <= n <= len(passages) and s.score[n] >= threshold]
        if not s.kept and s.score:
            best = max(s.score, key=s.score.__getitem__)
            if s.score[best] >= threshold:
                s.inferred = [best]
    return sentences


def best_quote(passage: str, sentences: list[str]) -> str:
    """The passage sentence (or table row) that best matches the answer sentences citing it."""
    target = content_words(" ".join(sentences))
    units = [u for line in passage.split("\n") for u in split_sentences(line)] or [passage]
    return max(units, key=lambda u: (len(content_words(u) & target), -len(u))).strip()
