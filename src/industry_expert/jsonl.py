"""Reading JSON Lines with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from industry_expert.errors import ExpertError


def read_objects(
    path: str | Path, error: type[ExpertError] = ExpertError
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("FILE:LINE", object)`` for each non-blank line; raise ``error`` naming the line when
    a line is not a JSON object, or when the file cannot be read as UTF-8 text."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a UTF-8 BOM is accepted
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read as UTF-8 text: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError:
            raise error(f"{where}: nested too deeply to read") from None
        if not isinstance(obj, dict):
            raise error(f"{where}: each line must be a JSON object")
        yield where, obj
