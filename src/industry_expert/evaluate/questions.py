"""Labelled question sets (JSONL): load and validate with errors naming the line and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from industry_expert.errors import ConfigError
from industry_expert.jsonl import read_objects


@dataclass
class Question:
    id: str
    question: str
    answer: str
    key_facts: list[str] = field(default_factory=list)
    regex: str | None = None
    gold_sources: list[str] = field(default_factory=list)
    type: str = "doc"
    answerable: bool = True


def load_questions(path: str | Path) -> list[Question]:
    out: list[Question] = []
    for where, obj in read_objects(path, ConfigError):
        for name in ("id", "question"):
            if not isinstance(obj.get(name), str) or not obj[name].strip():
                raise ConfigError(f"{where}: field '{name}' must be a non-empty string")
        if not isinstance(obj.get("gold_sources", []), list):
            raise ConfigError(f"{where}: field 'gold_sources' must be a list")
        answerable = bool(obj.get("answerable", True))
        if answerable and not obj.get("gold_sources"):
            raise ConfigError(f"{where}: an answerable question needs 'gold_sources'")
        out.append(
            Question(
                obj["id"],
                obj["question"],
                obj.get("answer", ""),
                list(obj.get("key_facts") or []),
                obj.get("regex"),
                list(obj.get("gold_sources") or []),
                obj.get("type", "doc"),
                answerable,
            )
        )
    if not out:
        raise ConfigError(f"{path}: no questions")
    return out
