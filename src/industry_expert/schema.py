"""Validating one record of an input file with a pydantic model, errors naming file, line and field.

Every file format the tool reads (question sets, training data, adapter manifests) declares a
pydantic model; :func:`validate` turns pydantic's multi-line report into the one line the CLI
prints: ``FILE:LINE: field 'key_facts': must be a list of strings (got '24 months')``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from industry_expert.errors import ExpertError

M = TypeVar("M", bound=BaseModel)


class Record(BaseModel):
    """Base of file schemas: strict types (``"false"`` is not a boolean, a string is not a list)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=False)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(exc: ValidationError, limit: int = 60) -> str:
    """The first problem of a validation error as ``field 'a.b[0]': message (got VALUE)``."""
    err = exc.errors(include_url=False)[0]
    field = _where(tuple(err["loc"])) or "record"
    got = repr(err.get("input"))
    got = got if len(got) <= limit else got[: limit - 3] + "..."
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    msg = msg[0].lower() + msg[1:]
    return f"field '{field}': {msg} (got {got}){more}"


def validate(model: type[M], obj: Any, where: str, error: type[ExpertError] = ExpertError) -> M:
    """``model`` built from ``obj``; ``error`` naming ``where`` (file:line) and the field if invalid."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise error(f"{where}: {describe(exc)}") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply") from None
