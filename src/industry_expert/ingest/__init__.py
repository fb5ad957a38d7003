"""Ingest stage: one loader per format, structure-aware chunking, summaries, the incremental pipeline.

``industry_expert.ingest`` is both this package and the public function ``ie.ingest(...)``: once
the package is imported, Python binds the name ``ingest`` on ``industry_expert`` to this module,
so the module itself is callable and runs :func:`industry_expert.ingest.pipeline.ingest`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from industry_expert.ingest.pipeline import ingest

        return ingest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
