"""``source`` as the API shows it, never a path of the server's disk: an uploaded file by the name
it was uploaded under; a file ingested from the server's folders by its path relative to the KB's
data root (the deepest folder holding every such file); a relative path as given, without ``..``."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

UPLOADED = re.compile(r"(?:^|/)uploads/[^/]+/[0-9a-f]{64}/([^/]+)$")
"""Where :func:`industry_expert.serve.uploads.store` keeps a file: ``uploads/<kb>/<sha256>/<name>``."""
REFRESH_S = 5.0


def uploaded_name(source: str, uploads: Path | None = None) -> str | None:
    """The uploaded name when ``source`` is a stored upload, else None."""
    m = UPLOADED.search(source.replace("\\", "/"))
    if m:
        return m.group(1)
    if uploads is not None and os.path.isabs(source):
        try:
            Path(source).resolve().relative_to(uploads.resolve())
            return Path(source).name
        except (ValueError, OSError):
            pass
    return None


def data_root(sources: Iterable[str]) -> str | None:
    """The deepest folder holding every absolute source (None when there is none)."""
    parents = [os.path.dirname(s) for s in sources if os.path.isabs(s)]
    return os.path.commonpath(parents) if parents else None


def _under(path: str, root: str | None) -> bool:
    return root is not None and (path == root or path.startswith(root.rstrip(os.sep) + os.sep))


def shown(source: str, root: str | None) -> str:
    """``source`` relative to ``root``; outside it, its file name; a relative one without ``..``."""
    if not os.path.isabs(source):
        parts = [p for p in Path(source).parts if p not in ("..", ".")]
        return str(Path(*parts)) if parts else source
    if _under(source, root):
        assert root is not None
        return os.path.relpath(source, root)
    return os.path.basename(source)


class PublicSources:
    """One served KB's mapping; ``sources()`` lists its documents' stored sources (read again, at
    most every few seconds, when a source outside the known root turns up)."""

    def __init__(self, uploads: Path | None, sources: Callable[[], list[str]]) -> None:
        self.uploads, self._sources = uploads, sources
        self.root: str | None = None
        self._read_at = -REFRESH_S
        self._lock = threading.Lock()

    def __call__(self, source: str) -> str:
        name = uploaded_name(source, self.uploads)
        if name is not None:
            return name
        if os.path.isabs(source) and not _under(source, self.root):
            self._refresh()
        return shown(source, self.root)

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._read_at < REFRESH_S:
                return
            self._read_at = time.monotonic()
            own = [s for s in self._sources() if uploaded_name(s, self.uploads) is None]
            self.root = data_root(own)
