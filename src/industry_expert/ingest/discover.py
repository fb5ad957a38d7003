"""Turn the user's PATH arguments (files, folders, globs, sqlite:/// URLs) into sources.

- A file is identified by its real path: one file is one document however it is reached
  (through a symlink, a second argument, a folder link).
- Links inside walked folders are followed only when they point inside the folders given (and
  ``link_roots``); others are reported as skipped. Named files are followed wherever they point.
- Knowledge bases and other folders the tool wrote, inside an ingested tree, are skipped and
  reported; an unreadable folder is reported (and the pipeline keeps its documents).
- Any byte sequence the OS allows in a name works: ids and shown names use a lossless escaped
  form (``\\xff``) of bytes that are not UTF-8, with a backslash escaped too in such names, so
  distinct files never share a document id.
- Folders are walked with handles, one name at a time and never through a link (a path longer
  than 4,096 bytes is no limit); an entry that cannot be read is reported, the rest go on.
- Each source carries the device and inode that were checked; the pipeline reads that file and
  no other (a file swapped for a link after listing is reported, never followed).
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from industry_expert.ingest.formats import is_supported
from industry_expert.io import open_dir_no_links
from industry_expert.outputs import artifact_kind


def safe_name(path: str | os.PathLike[str]) -> str:
    """A path as valid UTF-8 text, one text per name (it is the document's identity).

    A UTF-8 name without a backslash is itself (the ids of ordinary names never change). In any
    other name a backslash is doubled and a byte that is not UTF-8 becomes backslash-x-NN, so a
    raw 0xff byte and the four characters backslash-x-f-f stay two names, two documents."""
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
        if "\\" not in text:
            return text
    except UnicodeDecodeError:
        pass  # not UTF-8: escaped below
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


@dataclass
class Source:
    path: Path  # as given (may be relative)
    abs_path: str  # identity: the real path (links resolved), as safe text
    root: str | None = None  # the folder it was found in (for removals), None if named directly
    table: str | None = None
    query: str | None = None
    real: str = ""  # the real path as the OS spells it: what is opened (never through a link)
    ident: tuple[int, int] | None = None  # (device, inode) of the file discovery checked

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
    failed: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason): unreadable entries


after_listing: Callable[[Discovery], None] | None = None
"""Test hook: called with the result after listing, before any file is read (the tests swap a
file for a link here, to make the read-time check deterministic). None in normal runs."""


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _lstat_ident(real: str) -> tuple[int, int] | None:
    try:
        return _ident(os.lstat(real))
    except OSError:
        return None  # unreadable: the pipeline reports it


def _is_dir(real: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(real).st_mode)
    except OSError:
        return False


def _link_target(fd: int, name: str, real_dir: str) -> str:
    """The real path a link in the folder ``fd`` (at ``real_dir``) points to; a broken link gives
    its would-be target (reported when read). OSError when it cannot be resolved (a loop, or a
    path the OS cannot follow by name)."""
    joined = os.path.join(real_dir, os.readlink(name, dir_fd=fd))
    try:
        return os.path.realpath(joined, strict=True)
    except FileNotFoundError:
        return os.path.realpath(joined)


def _by_handle(real: str, fd: int, name: str) -> str:
    """A name for ``real`` that the OS can open even when ``real`` is longer than PATH_MAX."""
    return real if len(os.fsencode(real)) < 3800 else f"/proc/self/fd/{fd}/{name}"


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
        self,
        path: Path,
        real: str,
        root: str | None,
        table: str | None = None,
        query: str | None = None,
        ident: tuple[int, int] | None = None,
    ) -> None:
        """``ident``: the (device, inode) seen by the walk; else the real path's (lstat: a link
        swapped in after it was resolved is seen as the link, and never read)."""
        src = Source(path, safe_name(real), root=root, table=table, query=query, real=real)
        key = src.abs_path + "#" + src.selector
        if _inside(real, self.excluded):
            self.found.skipped.append((src.display, "inside the knowledge base being written"))
        elif key not in self.seen:
            self.seen.add(key)
            src.ident = ident or _lstat_ident(real)
            inode = f"{src.ident[0]}:{src.ident[1]}#{src.selector}" if src.ident else key
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
        """Depth first, as ``os.walk``; every folder is opened from ``/`` one name at a time
        without following links, so a swapped-in link is never walked and no path is too long."""
        if real_top in self.walked:
            return  # the same folder reached twice (a link, or two arguments)
        self.walked.add(real_top)
        pending = [(top, real_top)]
        while pending:
            here, real_dir = pending.pop()
            pending.extend(reversed(self._folder(here, real_dir, safe_name(real_top))))

    def _folder(self, here: Path, real_dir: str, root: str) -> list[tuple[Path, str]]:
        """Files of one folder become sources; returns the subfolders to walk."""
        try:
            fd = open_dir_no_links(real_dir)
        except OSError as exc:
            self._unreadable(here, real_dir, exc)
            return []
        try:
            with os.scandir(fd) as entries:
                names = sorted(e.name for e in entries if not e.name.startswith("."))
            self.walked.add(real_dir)
            return [sub for name in names for sub in self._entry(fd, here, real_dir, name, root)]
        except OSError as exc:
            self._unreadable(here, real_dir, exc)
            return []
        finally:
            os.close(fd)

    def _unreadable(self, here: Path, real_dir: str, exc: OSError) -> None:
        self.found.unreadable_paths.append(real_dir)
        self.found.unreadable.append((safe_name(here), f"cannot read this folder: {exc.strerror or exc}"))

    def _entry(self, fd: int, here: Path, real_dir: str, name: str, root: str) -> list[tuple[Path, str]]:
        """One name in a folder (opened as ``fd``): a subfolder to walk, a source, or a report."""
        path, real = here / name, os.path.join(real_dir, name)
        what = "cannot read"
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                what = "cannot resolve this link"
                self._link(path, _link_target(fd, name, real_dir), root)
            elif stat.S_ISDIR(st.st_mode):
                return [(path, real)] if self._subfolder(path, _by_handle(real, fd, name)) else []
            else:
                self._file(path, real, root, _ident(st))
        except OSError as exc:
            self.found.failed.append((safe_name(path), f"{what}: {exc.strerror or exc}"))
        return []

    def _subfolder(self, path: Path, openable: str) -> bool:
        """True when the walk should descend into ``path`` (not one of the tool's folders)."""
        kind = artifact_kind(openable)
        if kind is not None:
            self.found.skipped.append((safe_name(path), f"a {kind} made by this tool (not ingested)"))
            return False
        return True

    def _link(self, path: Path, real: str, root: str) -> None:
        """A link inside a walked folder: followed only where ``follow_links`` allows."""
        if not _is_dir(real):
            return self._file(path, real, root, None, link=True)
        if not self._subfolder(path, real):
            return None  # one of the tool's folders (reported)
        reason = self.link_refused(path, real)
        if reason:
            self.found.skipped.append((safe_name(path), reason))
        elif not _inside(real, self.excluded):
            self.deferred.append((path, real))  # walked under its link name, files identified by real path
        return None

    def _file(
        self, file: Path, real: str, root: str, ident: tuple[int, int] | None, link: bool = False
    ) -> None:
        if not is_supported(file):
            self.found.skipped.append(
                (safe_name(file), f"unsupported format '{safe_name(file.suffix or file.name)}'")
            )
            return
        if link:
            reason = self.link_refused(file, real)
            if reason:
                self.found.skipped.append((safe_name(file), reason))
                return
        self.add(file, real, root, ident=ident)


def folder_holding(args: list[str], target: str | os.PathLike[str]) -> str | None:
    """The first folder among ``args`` (globs expanded) that is ``target`` or holds it, as given."""
    real = _real(target)
    for arg in args:
        for match in _Walker.expand(arg):
            if not match.startswith("sqlite:///") and _is_dir(match) and _inside(real, [_real(match)]):
                return safe_name(match)
    return None


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
    if after_listing is not None:
        after_listing(walker.found)
    return walker.found
