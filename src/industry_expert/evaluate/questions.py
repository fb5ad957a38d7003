"""Labelled question sets (JSONL): every line validated against a schema (pydantic, strict types),
with errors naming the file, line and field; regexes compiled at load, before any model loads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from industry_expert.errors import ConfigError
from industry_expert.jsonl import read_objects
from industry_expert.schema import Record, validate

MAX_QUESTION_CHARS = 4000
"""Longer questions are refused here as in ``ask`` ("question too long")."""


class QuestionRecord(Record):
    """One line of a question set."""

    id: str = Field(min_length=1)
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str = ""
    key_facts: list[str] = Field(default_factory=list)
    regex: str | None = None
    gold_sources: list[str] = Field(default_factory=list)
    gold_pages: list[int] = Field(default_factory=list)  # pages of a gold PDF that hold the answer
    type: str = "doc"
    answerable: bool = True
    chunk_id: int | None = None  # provenance of generated questions (the reserved-fifth chunk)

    @field_validator("id", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("key_facts")
    @classmethod
    def _facts_not_blank(cls, value: list[str]) -> list[str]:
        if any(not f.strip() for f in value):
            raise ValueError("key facts must not be blank (a blank fact matches every answer)")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _answerable_needs_sources(self) -> QuestionRecord:
        if self.answerable and not self.gold_sources:
            raise ValueError("an answerable question needs 'gold_sources'")
        return self


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
    ids: dict[str, str] = {}
    for where, obj in read_objects(path, ConfigError):
        r = validate(QuestionRecord, obj, where, ConfigError)
        if r.id in ids:
            raise ConfigError(f"{where}: field 'id': '{r.id}' is already used at {ids[r.id]}")
        ids[r.id] = where
        out.append(
            Question(r.id, r.question, r.answer, r.key_facts, r.regex, r.gold_sources, r.type, r.answerable)
        )
    if not out:
        raise ConfigError(f"{path}: no questions")
    return out
