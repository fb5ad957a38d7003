"""Turn the user's PATH arguments (files, folders, globs, sqlite:/// URLs) into sources."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from industry_expert.ingest.formats import is_supported


@dataclass
class Source:
    path: Path  # as given (may be relative)
    abs_path: str
    root: str | None = None  # the folder it was found in (for removals), None if named directly
    table: str | None = None
    query: str | None = None

    @property
    def display(self) -> str:
        return str(self.path)

    @property
    def selector(self) -> str:
        """'' for a whole file; 'table:NAME' / 'query:SQL' when only part of a database is asked."""
        if self.query:
            return f"query:{self.query}"
        return f"table:{self.table}" if self.table else ""


@dataclass
class Discovery:
    sources: list[Source]
    roots: list[str]  # absolute folders that were walked
    missing: list[tuple[str, str]]  # (argument, reason)
    skipped: list[tuple[str, str]]  # (path, reason): unsupported files inside folders


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def discover(
    args: list[str], table: str | None = None, query: str | None = None, exclude: list[str] | None = None
) -> Discovery:
    """Folders are walked recursively (hidden entries skipped); ``exclude`` holds absolute paths."""
    found = Discovery([], [], [], [])
    excluded = [os.path.abspath(e) for e in exclude or []]
    seen: set[str] = set()

    def add(src: Source) -> None:
        key = src.abs_path + "#" + src.selector
        if key not in seen and not any(src.abs_path.startswith(e + os.sep) for e in excluded):
            seen.add(key)
            found.sources.append(src)

    for arg in args:
        if arg.startswith("sqlite:///"):
            path = Path(arg[len("sqlite:///") :])
            add(Source(path, os.path.abspath(path), table=table, query=query))
            continue
        matches = sorted(glob.glob(arg, recursive=True)) if glob.has_magic(arg) else [arg]
        if not matches:
            found.missing.append((arg, "no file matches this pattern"))
        for match in matches:
            _add_path(Path(match), found, add, table, query)
    return found


def _add_path(path: Path, found: Discovery, add, table: str | None, query: str | None) -> None:  # type: ignore[no-untyped-def]
    if path.is_dir():
        root = os.path.abspath(path)
        found.roots.append(root)
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if _hidden(file.relative_to(path)):
                    continue
                if is_supported(file):
                    add(Source(file, os.path.abspath(file), root=root))
                else:
                    found.skipped.append((str(file), f"unsupported format '{file.suffix or name}'"))
    elif path.exists() or path.is_symlink():
        add(Source(path, os.path.abspath(path), table=table, query=query))
    else:
        found.missing.append((str(path), "no such file or folder"))
