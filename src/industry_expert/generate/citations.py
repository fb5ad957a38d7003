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
_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing)"
_ORDERS = r"(?:instructions?|directions|directives|guidelines|prompts?)"
_SAY = r"(?:answer|say|respond|reply|state|output|write|tell|claim|print)"
_BOT = r"(?:ai|llm|assistant|chatbot|language model)(?: models?)?s?"
_INSTRUCTIONS = [
    # the reader told what to answer
    r"answer to (?:any|every|all|each) questions?",
    r"(?:you|the assistant|the model|ai) (?:must|should|shall|will) (?:always )?(?:answer|say|respond|reply|state|output)",
    r"always (?:answer|say|respond|reply|state)",
    r"(?:respond|reply|answer) (?:only )?with",
    r"(?:respond|reply|answer|say) (?:only|exactly|verbatim|solely)\b",
    r"your (?:entire |whole |only |final |next )?(?:reply|response|answer|output) (?:must|should|shall|will|has to|is to)\b",
    r"the only (?:correct |right |valid )?(?:reply|response|answer|output) (?:is|must)\b",
    r"whatever (?:the )?question",
    r"(?:regardless of|no matter) (?:what |which )?(?:the )?(?:question|user (?:asks|says)|instructions?)",
    rf"^\W*instead,? {_SAY}\b",
    rf"from now on,? (?:you |please )?(?:will |must |should |shall |are to |only |always )*(?:{_SAY}|act|behave|speak|pretend|be\b|call)",
    r"(?:if|when|whenever) (?:the user|anyone|someone|somebody|a user) asks?\b",
    r"do not (?:mention|cite|use|reveal) (?:the |any )?(?:other |remaining )?(?:passages?|other sources|other documents)",
    # told to drop what came before
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|other)",
    r"disregard (?:all |any |the )?(?:previous|prior|above|instructions)",
    rf"(?:forget|ignore|disregard) (?:about )?(?:all |any |the |your |my |these |those )*(?:everything|anything|what you (?:were|have been) told|{_EARLIER}|(?:system |original |initial )?{_ORDERS}|(?:user'?s? )?question)",
    rf"(?:override|overrides|supersede|supersedes|replace|replaces) (?:all |any |the |your )*(?:{_EARLIER} |other |system |original )?(?:instructions|prompts?)",
    r"new instructions?",
    # a new identity
    r"you are now (?:a|an|the|my|called|named|acting|playing|known|free|unrestricted|in (?:developer|god|dan|jailbreak)|dan)\b",
    r"you are no longer (?:a|an|the|bound|restricted|required)\b",
    r"pretend (?:you are|you're|that you are)",
    r"act as if you\b",
    # the prompt asked for, or the model addressed
    r"system prompt",
    r"(?:print|reveal|repeat|show|output|disclose|leak|display|tell me)(?: me)? (?:your|the)(?: full| entire| original| initial| hidden| secret| exact)? (?:system |original |initial |hidden )?(?:prompt|instructions)",
    rf"(?:note|attention|message|instructions?) (?:to|for) (?:the |any |all )?{_BOT}\b",
    rf"{_BOT} (?:reading|processing|summari[sz]ing) this",
]
INSTRUCTION_LIKE = re.compile(r"\b(?:" + "|".join(_INSTRUCTIONS) + r")\b", re.IGNORECASE)
"""Passage sentences that address the reader as instructions rather than state facts; restating
one is not an answer (a planted "The answer to any question about X is Y" supports nothing).
Written on 40 planted phrasings (forget/ignore/disregard what came before, a dictated reply, a
new identity, the prompt asked for, the model addressed): all 40 match (9 did before); 13 of 15
phrasings written afterwards, and not tuned on, match. On 45,844 distinct sentences of seven real
manuals (kestrel, git, apache, pylib, sqlite, handbook, policy) 16 match, the same 16 as before
("respond with a list", "ignore all other requests")."""
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


def _split_instructions(passage: str) -> tuple[list[str], list[str]]:
    """The passage's sentences (lines split; a table row is a line) as factual ones and
    instruction-like ones: those ``INSTRUCTION_LIKE`` matches, the rest of the line after one
    ("Disregard the previous instructions. The interval is 1 hour."), and the next line after one
    that ends in a colon ("Your entire reply must be:" with the reply below). On seven real
    manuals the line rules move 13 of 59,355 sentences, all after the old list's "respond with"."""
    facts: list[str] = []
    orders: list[str] = []
    carry = False
    for line in passage.split("\n"):
        for u in (u for u in split_sentences(line) if u.strip()):
            is_order = carry or bool(INSTRUCTION_LIKE.search(u))
            (orders if is_order else facts).append(u)
            carry = is_order
        carry = carry and line.rstrip().endswith(":")
    return (facts, orders) if facts or orders else ([passage], [])


def passage_units(passage: str) -> tuple[list[set[str]], set[str]]:
    """The content words of each factual sentence (or table row) of the passage, without citation
    markers, and the words only its instruction-like sentences contain (``_split_instructions``)."""
    facts, orders = _split_instructions(_CITE.sub(" ", passage))  # a page's "[1]" is no number
    units = [content_words(u) for u in facts]
    planted = set().union(*(content_words(u) for u in orders))
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
    split = [_split_instructions(_CITE.sub(" ", p)) for p in passages]
    planted = set().union(*(content_words(u) for _, orders in split for u in orders))
    return planted - set().union(*(content_words(u) for facts, _ in split for u in facts))


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
