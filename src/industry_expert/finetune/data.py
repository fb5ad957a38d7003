"""Training data: chat / instruction / ShareGPT JSONL in, validated conversations out; statistics,
duplicates and a reproducible train/eval split."""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from industry_expert.errors import ExpertError
from industry_expert.jsonl import read_objects
from industry_expert.schema import Record, validate

Messages = list[dict[str, str]]
ROLES = {"system", "user", "assistant"}
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
}


class DataError(ExpertError):
    """Training data that cannot be used; the message names the file, line and field."""


@dataclass
class Example:
    messages: Messages
    line: int
    meta: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps(self.messages, sort_keys=True, ensure_ascii=False)


class _Message(Record):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str


class _Chat(Record):
    model_config = ConfigDict(strict=True, extra="allow")
    messages: list[_Message] = Field(min_length=1)


class _Instruction(Record):
    model_config = ConfigDict(strict=True, extra="allow")
    instruction: str
    input: str = ""
    output: str


class _Turn(Record):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)
    speaker: str = Field(alias="from")
    value: str

    @field_validator("speaker")
    @classmethod
    def _known(cls, value: str) -> str:
        if value.lower() not in SHAREGPT_ROLES:
            raise ValueError(f"must be one of {', '.join(SHAREGPT_ROLES)}")
        return value


class _ShareGPT(Record):
    model_config = ConfigDict(strict=True, extra="allow")
    conversations: list[_Turn] = Field(min_length=1)


def _chat(obj: dict[str, Any], where: str) -> Messages:
    r = validate(_Chat, obj, where, DataError)
    return [{"role": m.role, "content": m.content} for m in r.messages]


def _instruction(obj: dict[str, Any], where: str) -> Messages:
    r = validate(_Instruction, obj, where, DataError)
    prompt = r.instruction + (f"\n\n{r.input}" if r.input else "")
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": r.output}]


def _sharegpt(obj: dict[str, Any], where: str) -> Messages:
    r = validate(_ShareGPT, obj, where, DataError)
    return [{"role": SHAREGPT_ROLES[t.speaker.lower()], "content": t.value} for t in r.conversations]


FORMATS: dict[str, Callable[[dict[str, Any], str], Messages]] = {
    "messages": _chat,
    "instruction": _instruction,
    "conversations": _sharegpt,
}


def _check_turns(msgs: Messages, where: str) -> None:
    body = [m for m in msgs if m["role"] != "system"]
    if not body or body[-1]["role"] != "assistant":
        raise DataError(f"{where}: a conversation must end with an assistant message")
    for i, m in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            raise DataError(
                f"{where}: turn {i + 1} is '{m['role']}', expected '{want}' "
                f"(user and assistant must alternate)"
            )


def load_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file in any of the three formats (detected per line)."""
    out = []
    for where, obj in read_objects(path, DataError):
        fmt = next((f for f in FORMATS if f in obj), None)
        if fmt is None:
            raise DataError(
                f"{where}: expected a 'messages', 'instruction'/'output' or 'conversations' field"
            )
        msgs = FORMATS[fmt](obj, where)
        _check_turns(msgs, where)
        meta = {
            k: v
            for k, v in obj.items()
            if k not in ("messages", "conversations", "instruction", "input", "output")
        }
        out.append(Example(msgs, int(where.rsplit(":", 1)[1]), meta))
    if not out:
        raise DataError(f"{path}: the dataset is empty")
    return out


_TERMINAL = re.compile(r"[.!?)\]\"'`:;]\s*$|\d\s*$|[A-Z0-9-]{3,}\s*$")


def _norm_question(msgs: Messages) -> str:
    user = " ".join(m["content"] for m in msgs if m["role"] == "user").lower()
    return " ".join(re.findall(r"[a-z0-9]+", user))


@dataclass
class DataReport:
    path: str
    examples: int
    tokens: dict[str, float]
    exact_duplicates: list[int]  # line numbers repeating an earlier line's conversation
    near_duplicates: list[list[int]]  # groups of lines whose questions normalise to the same text
    empty_answers: list[int]
    truncated_answers: list[int]  # answers that stop mid-sentence
    over_length: list[int]  # longer than max_seq_len tokens
    max_seq_len: int

    @property
    def ok(self) -> bool:
        return not (self.empty_answers or self.over_length)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check(
    examples: list[Example], count_tokens: Callable[[str], int], max_seq_len: int, path: str = ""
) -> DataReport:
    lengths = [count_tokens(" ".join(m["content"] for m in e.messages)) for e in examples]
    seen: dict[str, int] = {}
    exact = []
    groups: dict[str, list[int]] = {}
    for e in examples:
        if e.key() in seen:
            exact.append(e.line)
        seen.setdefault(e.key(), e.line)
        groups.setdefault(_norm_question(e.messages), []).append(e.line)
    answers = [(e.line, [m["content"] for m in e.messages if m["role"] == "assistant"]) for e in examples]
    q = statistics.quantiles(lengths, n=20, method="inclusive") if len(lengths) > 1 else lengths * 19
    return DataReport(
        path=path,
        examples=len(examples),
        tokens={
            "total": float(sum(lengths)),
            "min": float(min(lengths)),
            "mean": statistics.mean(lengths),
            "median": float(statistics.median(lengths)),
            "p95": float(q[-1]),
            "max": float(max(lengths)),
        },
        exact_duplicates=exact,
        near_duplicates=[g for g in groups.values() if len(g) > 1 and not set(g) <= set(exact)],
        empty_answers=[ln for ln, a in answers if any(not x.strip() for x in a)],
        truncated_answers=[ln for ln, a in answers if a and a[-1].strip() and not _TERMINAL.search(a[-1])],
        over_length=[e.line for e, n in zip(examples, lengths) if n > max_seq_len],
        max_seq_len=max_seq_len,
    )


def split(
    examples: list[Example], eval_fraction: float, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """Deterministic split by a seeded hash of each conversation (stable when lines are added)."""
    if not 0 <= eval_fraction < 1:
        raise DataError(f"eval fraction must be in [0, 1), got {eval_fraction}")

    def bucket(e: Example) -> float:
        h = hashlib.sha256(f"{seed}:{e.key()}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    train = [e for e in examples if bucket(e) >= eval_fraction]
    evals = [e for e in examples if bucket(e) < eval_fraction]
    if eval_fraction and not evals and len(train) > 1:
        evals, train = train[-1:], train[:-1]
    return train, evals


def dataset_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
