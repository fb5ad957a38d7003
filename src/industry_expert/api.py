"""Small library functions behind the ``expert kb`` commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from industry_expert.errors import KBError
from industry_expert.kb import KnowledgeBase
from industry_expert.types import DocumentRecord


def kb_stats(kb: str | os.PathLike[str]) -> dict[str, Any]:
    with KnowledgeBase.open(kb) as opened:
        return opened.stats()


def _targets(source: str) -> set[str]:
    return {os.path.abspath(source), os.path.realpath(source)}


def _matching(docs: list[DocumentRecord], source: str) -> list[DocumentRecord]:
    """Documents of a source: as ingested, its absolute/real path, or a folder above them."""
    targets = _targets(source)
    return [
        d
        for d in docs
        if d.source == source
        or d.abs_path in targets
        or any(d.abs_path.startswith(t.rstrip(os.sep) + os.sep) for t in targets)
    ]


def kb_remove(
    source: str, kb: str | os.PathLike[str], dry_run: bool = False, allow_all: bool = False
) -> dict[str, Any]:
    """Remove the documents of a source: as ingested, its absolute path, or a folder under it.

    An empty source is refused (an unset shell variable must not empty the KB); a source that
    matches every document (``/``, the KB's whole tree) is refused unless ``allow_all``.
    ``dry_run`` reports what would be removed and changes nothing."""
    if not source.strip():
        raise KBError("kb remove needs a source (a path as ingested, or a folder); got an empty one")
    with KnowledgeBase.open(kb) as opened:
        every = opened.store.documents()
        docs = _matching(every, source)
        if not docs:
            raise KBError(f"{Path(kb)}: no document with source '{source}'")
        result = {
            "removed_documents": len(docs),
            "removed_chunks": sum(d.n_chunks for d in docs),
            "sources": sorted({d.source for d in docs}),
            "everything": len(docs) == len(every),
            "dry_run": dry_run,
        }
        by_folder = any(d.source != source and d.abs_path not in _targets(source) for d in docs)
        if len(docs) == len(every) and by_folder and not allow_all and not dry_run:
            raise KBError(
                f"{Path(kb)}: '{source}' matches every document in the KB ({len(docs)}); "
                "pass --all (allow_all=True) to remove them all"
            )
        if not dry_run:
            result["removed_chunks"] = opened.delete_documents([d.doc_id for d in docs])
            opened.store.sync()
    return result
