"""Turn the user's PATH arguments (files, folders, globs, sqlite:/// URLs) into sources.

- A file is identified by its real path: one file is one document however it is reached
  (through a symlink, a second argument, a folder link).
- Links inside walked folders are followed only when they point inside the folders given (and
  ``link_roots``); others are reported as skipped. Named files are followed wherever they point.
- Knowledge bases and other folders the tool wrote, inside an ingested tree, are skipped and
  reported; an unreadable folder is reported (and the pipeline keeps its documents).
- Any byte sequence the OS allows in a name works: ids and shown names use a lossless escaped
  form (``\\xff``) of bytes that are not UTF-8.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from industry_expert.ingest.formats import is_supported
from industry_expert.outputs import artifact_kind


def safe_name(path: str | os.PathLike[str]) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 appear as ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass
class Source:
    path: Path  # as given (may be relative)
    abs_path: str  # identity: the real path (links resolved), as safe text
    root: str | None = None  # the folder it was found in (for removals), None if named directly
    table: str | None = None
    query: str | None = None

    @property
    def display(self) -> str:
        return safe_name(self.path)

    @property
    def selector(self) -> str:
        """'' for a whole file; 'table:NAME' / 'query:SQL' when only part of a database is asked."""
        if self.query:
            return f"query:{self.query}"
        return f"table:{self.table}" if self.table else ""


@dataclass
class Discovery:
    sources: list[Source]
    roots: list[str]  # real folders that were walked (safe text)
    missing: list[tuple[str, str]]  # (argument, reason)
    skipped: list[tuple[str, str]]  # (path, reason): unsupported files, links, tool artifacts
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason)
    unreadable_paths: list[str] = field(default_factory=list)  # the same folders, as OS paths


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


class _Walker:
    def __init__(
        self,
        exclude: list[str],
        follow_links: str,
        link_roots: list[str],
        table: str | None,
        query: str | None,
    ) -> None:
        self.found = Discovery([], [], [], [])
        self.excluded = [_real(e) for e in exclude]
        self.follow_links, self.link_roots = follow_links, [_real(r) for r in link_roots]
        self.allowed: list[str] = []
        self.table, self.query = table, query
        self.seen: set[str] = set()
        self.inodes: dict[str, str] = {}  # device:inode -> the name it was first found under
        self.walked: set[str] = set()
        self.deferred: list[tuple[Path, str]] = []  # linked folders, walked after the real ones

    def add(
        self, path: Path, real: str, root: str | None, table: str | None = None, query: str | None = None
    ) -> None:
        src = Source(path, safe_name(real), root=root, table=table, query=query)
        key = src.abs_path + "#" + src.selector
        if _inside(real, self.excluded):
            self.found.skipped.append((src.display, "inside the knowledge base being written"))
        elif key not in self.seen:
            self.seen.add(key)
            try:
                st = os.stat(real)
                inode = f"{st.st_dev}:{st.st_ino}#{src.selector}"
            except OSError:
                inode = key  # unreadable: the pipeline reports it
            if inode in self.inodes:  # a hard link: the same file under another name
                self.found.skipped.append(
                    (src.display, f"the same file as '{self.inodes[inode]}' (a hard link)")
                )
                return
            self.inodes[inode] = src.display
            self.found.sources.append(src)

    def link_refused(self, path: Path, real: str) -> str | None:
        if self.follow_links == "all":
            return None
        if self.follow_links == "never":
            return "a symbolic link (ingest.follow_links is 'never')"
        if _inside(real, self.allowed + self.link_roots):
            return None
        return (
            f"a link to '{safe_name(real)}', outside the folders given "
            "(ingest.follow_links / ingest.link_roots allow it)"
        )

    @staticmethod
    def expand(arg: str) -> list[str]:
        """Glob matches; a name that exists as written (``report[2024].md``) is taken literally."""
        if arg.startswith("sqlite:///") or not glob.has_magic(arg) or os.path.lexists(arg):
            return [arg]
        return sorted(glob.glob(arg, recursive=True))

    def arg(self, arg: str, matches: list[str]) -> None:
        if arg.startswith("sqlite:///"):
            path = Path(arg[len("sqlite:///") :])
            self.add(path, _real(path), None, self.table, self.query)
            return
        if not matches:
            self.found.missing.append((safe_name(arg), "no file matches this pattern"))
        for match in matches:
            self.path(Path(match))

    def path(self, path: Path) -> None:
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as exc:  # a folder on the way cannot be searched
            self.found.missing.append((safe_name(path), f"cannot read: {exc.strerror or exc}"))
            return
        if is_dir:
            self.folder(path, _real(path))
        elif exists:
            self.add(path, _real(path), None, self.table, self.query)
        elif path.is_symlink():
            self.found.missing.append((safe_name(path), "a broken symbolic link"))
        else:
            self.found.missing.append((safe_name(path), "no such file or folder"))

    def folder(self, path: Path, real: str) -> None:
        kind = artifact_kind(path)
        if kind is not None:
            self.found.skipped.append((safe_name(path), f"a {kind} made by this tool (not ingested)"))
            return
        self.found.roots.append(safe_name(real))
        self.walk(path, real)
        while self.deferred:  # a file reached both ways keeps the name of its real folder
            link, target = self.deferred.pop(0)
            self.walk(link, target)

    def walk(self, top: Path, real_top: str) -> None:
        if real_top in self.walked:
            return  # the same folder reached twice (a link, or two arguments)
        self.walked.add(real_top)

        def unreadable(exc: OSError) -> None:
            where = safe_name(exc.filename or top)
            self.found.unreadable_paths.append(os.fsdecode(exc.filename or top))
            self.found.unreadable.append((where, f"cannot read this folder: {exc.strerror or exc}"))

        for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
            here = Path(dirpath)
            self.walked.add(_real(here))
            kept = []
            for d in sorted(dirnames):
                if not d.startswith(".") and self._subfolder(here / d):
                    kept.append(d)
            dirnames[:] = kept
            for name in sorted(filenames):
                if not name.startswith("."):
                    self._file(here / name, real_top)

    def _subfolder(self, path: Path) -> bool:
        """True when os.walk should descend into ``path`` itself."""
        kind = artifact_kind(path)
        if kind is not None:
            self.found.skipped.append((safe_name(path), f"a {kind} made by this tool (not ingested)"))
            return False
        if not path.is_symlink():
            return True
        real = _real(path)
        reason = self.link_refused(path, real)
        if reason:
            self.found.skipped.append((safe_name(path), reason))
        elif os.path.isdir(real) and not _inside(real, self.excluded):
            self.deferred.append((path, real))  # walked under its link name, files identified by real path
        return False

    def _file(self, file: Path, root: str) -> None:
        if not is_supported(file):
            self.found.skipped.append(
                (safe_name(file), f"unsupported format '{safe_name(file.suffix or file.name)}'")
            )
            return
        real = _real(file)
        if file.is_symlink():
            reason = self.link_refused(file, real)
            if reason:
                self.found.skipped.append((safe_name(file), reason))
                return
        self.add(file, real, safe_name(root))


def discover(
    args: list[str],
    table: str | None = None,
    query: str | None = None,
    exclude: list[str] | None = None,
    follow_links: str = "inside",
    link_roots: list[str] | None = None,
) -> Discovery:
    """Folders are walked recursively (hidden entries skipped); ``exclude`` holds folders whose
    files are never sources (the KB being written)."""
    walker = _Walker(exclude or [], follow_links, link_roots or [], table, query)
    expanded = [(a, walker.expand(a)) for a in args]
    walker.allowed = [_real(m) for _, ms in expanded for m in ms if os.path.isdir(m)]
    for arg, matches in expanded:
        walker.arg(arg, matches)
    return walker.found
