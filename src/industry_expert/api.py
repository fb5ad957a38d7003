"""Small library functions behind the ``expert kb`` commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from industry_expert.errors import KBError
from industry_expert.kb import KnowledgeBase


def kb_stats(kb: str | os.PathLike[str]) -> dict[str, Any]:
    with KnowledgeBase.open(kb) as opened:
        return opened.stats()


def kb_remove(source: str, kb: str | os.PathLike[str]) -> dict[str, Any]:
    """Remove the documents of a source: as ingested, its absolute path, or a folder under it."""
    target = os.path.abspath(source)
    with KnowledgeBase.open(kb) as opened:
        docs = [
            d
            for d in opened.store.documents()
            if d.source == source
            or d.abs_path == target
            or d.abs_path.startswith(target.rstrip(os.sep) + os.sep)
        ]
        if not docs:
            raise KBError(f"{Path(kb)}: no document with source '{source}'")
        removed = opened.store.delete([d.doc_id for d in docs])
        opened.store.sync()
    return {
        "removed_documents": len(docs),
        "removed_chunks": removed,
        "sources": sorted({d.source for d in docs}),
    }
