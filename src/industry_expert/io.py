"""File I/O every stage shares: atomic JSON writes, JSON reads whose errors name the file, and
opening a checked path without following links (at any length)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from industry_expert.errors import ExpertError


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON; a crash leaves the old file or the new, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json_object(path: str | os.PathLike[str], error: type[ExpertError] = ExpertError) -> dict[str, Any]:
    """The JSON object in ``path``; ``error`` with one line naming the file when it is missing,
    unreadable, not JSON or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except RecursionError:
        raise error(f"{path}: nested too deeply to read") from None
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def no_nan(x: Any) -> Any:
    """NaN (a metric that does not apply) becomes null, recursively, so the JSON is standard."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [no_nan(v) for v in x]
    return x


_DIR_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_ONLY = getattr(os, "O_PATH", os.O_RDONLY)  # a handle to walk through: needs no read permission


def open_parent_no_links(path: str) -> tuple[int, str]:
    """A handle (``O_PATH``, usable as ``dir_fd``) of the folder holding ``path``, and its last
    name, reached from ``/`` one name at a time, never through a link. ``path`` is absolute and
    already resolved (``realpath``): a component that is a link now was swapped in since
    (``OSError`` ELOOP or ENOTDIR). Each step is one name, so a path longer than PATH_MAX
    (4,096 bytes) works. The caller closes the descriptor."""
    parts = [p for p in path.split("/") if p]
    fd = os.open("/", _PATH_ONLY | _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            step = os.open(part, _PATH_ONLY | _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1] if parts else "."


def open_dir_no_links(path: str) -> int:
    """A readable descriptor (for ``os.scandir``) of the folder ``path`` (absolute, resolved),
    reached as in :func:`open_parent_no_links`."""
    parent, name = open_parent_no_links(path)
    try:
        return os.open(name, os.O_RDONLY | _DIR_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)
