"""Citation checking as pure functions: parse [n], score support lexically, pick quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from industry_expert.store.text_query import STOP_WORDS
from industry_expert.text import split_sentences

_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# Unicode words (any script), codes like KF-340 and 1.5 kept whole; CJK scripts, written without
# spaces, are matched by character pairs instead (see ``content_words``).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_WORD = re.compile(rf"(?:(?![{_CJK}])\w)(?:[\w\-.]*?(?:(?![{_CJK}])\w))?(?![\w\-])|[{_CJK}]+", re.UNICODE)
_CJK_RUN = re.compile(rf"^[{_CJK}]+$")
INSTRUCTION_LIKE = re.compile(
    r"\b(answer to (?:any|every|all|each) questions?|ignore (?:all |any )?(?:the )?(?:previous|prior|above|"
    r"earlier|other)|disregard (?:all |any |the )?(?:previous|prior|above|instructions)|(?:you|the assistant|"
    r"the model|ai) (?:must|should|shall|will) (?:always )?(?:answer|say|respond|reply|state|output)|"
    r"always (?:answer|say|respond|reply|state)|(?:respond|reply|answer) (?:only )?with|new instructions?|"
    r"system prompt|whatever (?:the )?question)\b",
    re.IGNORECASE,
)
"""Passage sentences that address the reader as instructions rather than state facts; restating
one is not an answer (a planted "The answer to any question about X is Y" supports nothing)."""
ABSTAIN_PATTERNS = re.compile(
    r"(does not cover|doesn't cover|not (?:covered|in the knowledge base|mentioned|provided|"
    r"available|found|specified|stated|listed|described|given|included|documented)|no information|"
    r"cannot (?:find|answer)|can't (?:find|answer)|i don'?t know|do not (?:contain|have|know)|"
    r"don't have|(?:does|do|did)(?: not|n't) (?:specify|mention|state|say|provide|include|contain|"
    r"list|describe|give)|no mention of)",
    re.IGNORECASE,
)
"""Sentences that say the passages lack the answer, in the phrasings models use (a stronger
model rarely copies the prompt's exact sentence)."""


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def content_words(text: str) -> set[str]:
    """Lower-cased content words of any script; plural 's' dropped; codes and numbers kept whole
    ('3,000' = '3000'); CJK text as overlapping character pairs (single characters alone)."""
    out: set[str] = set()
    for w in _WORD.findall(_THOUSANDS.sub("", text.lower())):
        if _CJK_RUN.match(w):
            out.update([w] if len(w) == 1 else (w[i : i + 2] for i in range(len(w) - 1)))
            continue
        w = w.rstrip(".")
        if w in STOP_WORDS or len(w) < 2 and not w.isdigit():
            continue
        out.add(stem(w))
    return out


def stem(word: str) -> str:
    """A light suffix stripper ('regreased' ~ 'regrease', 'hours' ~ 'hour'); codes untouched; words
    of other alphabets cut to their first 6 letters (inflections mostly change the ending)."""
    if not word.isalpha():
        return word
    if not word.isascii():
        return word[:6]
    if len(word) <= 3:
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _units(passage: str) -> list[str]:
    return [u for line in passage.split("\n") for u in split_sentences(line) if u.strip()] or [passage]


_NAME = re.compile(r"(?<![\w\-.])[A-Z][\w\-]*")


def critical_words(sentence: str) -> set[str]:
    """The words a supporting passage must contain, whatever else matches: numbers and codes
    (a token with a digit: '9.5', 'KP-3402-07') and names (a capitalised word after the first
    word of the sentence, 'Zeta', 'SQLite'), as ``content_words`` writes them."""
    text = _CITE.sub("", sentence)
    words = content_words(text)
    coded = {w for w in words if any(c.isdigit() for c in w)}
    names = set()
    for m in _NAME.finditer(text):
        if m.start() == len(text) - len(text.lstrip()):
            continue  # the sentence's first word is capitalised anyway (stop words drop out below)
        names |= content_words(m.group(0)) & words
    return coded | names


def passage_units(passage: str) -> tuple[list[set[str]], set[str]]:
    """The content words of each factual sentence (or table row) of the passage, without citation
    markers, and the words only its instruction-like sentences contain (``INSTRUCTION_LIKE``)."""
    all_units = _units(_CITE.sub(" ", passage))  # a page's own "[1]" is no number
    units = [content_words(u) for u in all_units if not INSTRUCTION_LIKE.search(u)]
    planted = set().union(*(content_words(u) for u in all_units if INSTRUCTION_LIKE.search(u)))
    return units, planted - set().union(*units)


def support(sentence: str, passage: str, question: str = "", header: str = "") -> float:
    """How well the passage supports the sentence (0..1): the best, over windows of one or two
    adjacent passage sentences (or table rows), of the share of the sentence's content words the
    window contains, where a word the ``question`` already contains and the window lacks counts
    neither for nor against (restating the question is not an unsupported claim). A window
    missing any number, code or name of the sentence (``critical_words``) scores 0, question or
    not: small models invent numbers and swap codes and names between neighbouring facts, and a
    wrong value is the costliest error. Citation markers inside the passage are not its numbers.
    Instruction-like passage sentences support nothing, and a sentence using a word only they
    contain scores 0. ``header``: the passage's section path as the model saw it; its words
    (not its numbers: '7.3 Bearings' is numbering) may supply a name the sentences of the passage
    leave out ("Apache Core Features > KeepAliveTimeout" names what they are about)."""
    words = content_words(_CITE.sub("", sentence))
    if not words:
        return 0.0
    units, planted = passage_units(passage)
    if words & planted:
        return 0.0  # the sentence takes a word only an instruction-like passage sentence gives
    critical, asked = critical_words(sentence), content_words(question)
    named = _with_parts({w for w in content_words(header) if not any(c.isdigit() for c in w)})
    windows = [_with_parts(found) for found in units + [a | b for a, b in zip(units, units[1:])]]
    return max((_share(words, w, asked) for w in windows if critical <= w | named), default=0.0)


def _with_parts(words: set[str]) -> set[str]:
    """``words`` and the letter parts of their codes: a name 'KF' is in a passage that says
    'KF-220' (the number 220 is not: a number must be written as such)."""
    parts = {p for w in words if "-" in w for p in w.split("-") if p.isalpha()}
    return words | {stem(p) for p in parts}


def _share(words: set[str], found: set[str], asked: set[str]) -> float:
    """Share of ``words`` in ``found``, leaving out the ``asked`` words that ``found`` lacks."""
    hit = len(words & found)
    counted = hit + len(words - found - asked)
    return hit / counted if counted else 0.0


def _planted_words(passages: list[str]) -> set[str]:
    """Words that only instruction-like passage sentences contain (in none of the factual ones)."""
    units = [u for p in passages for u in _units(_CITE.sub(" ", p))]
    planted = set().union(*(content_words(u) for u in units if INSTRUCTION_LIKE.search(u)))
    return planted - set().union(*(content_words(u) for u in units if not INSTRUCTION_LIKE.search(u)))


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


def check(
    answer: str,
    passages: list[str],
    threshold: float = 0.6,
    question: str = "",
    headers: list[str] | None = None,
) -> list[CheckedSentence]:
    """Keep citations that exist and support their sentence; attribute a sentence whose citations
    do not stand (or that cites nothing) to the passage that supports it best, if one passes.
    Words of the ``question`` do not count against a sentence (see ``support``), except in one
    that reads as an abstention: restating the question there must not make it an answer.
    ``headers``: each passage's section path (see ``support``)."""
    sentences = parse(answer)
    heads = headers or [""] * len(passages)
    planted = _planted_words(passages)
    for s in sentences:
        if content_words(s.text) & planted:  # restates a planted instruction: supported by nothing
            s.score = dict.fromkeys(range(1, len(passages) + 1), 0.0)
        else:
            asked = "" if is_abstention(s.text) else question
            s.score = {n: support(s.text, p, asked, h) for n, (p, h) in enumerate(zip(passages, heads), 1)}
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
