"""What every artifact this tool writes records about itself, and the adapter artifact's manifest.

An adapter directory (``expert finetune --out DIR``) holds ``expert_adapter.json``; both the
generators (``models/``) and the fine-tuning recipes (``finetune/``) read it, so it lives here,
below both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.io import read_json_object

ADAPTER_MANIFEST = "expert_adapter.json"
"""File name of the manifest in every directory ``expert finetune`` or ``finetune merge`` writes."""

ADAPTER_KINDS = ("peft-adapter", "full-model", "merged-model")


def tool_version() -> str:
    """This package's version, recorded in every manifest."""
    from industry_expert import __version__

    return __version__


def adapter_manifest(adapter: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an adapter / fine-tuned / merged model directory made by this tool."""
    path = Path(adapter) / ADAPTER_MANIFEST
    if not path.is_file():
        raise ModelError(f"{adapter}: not an adapter made by 'expert finetune' (no {ADAPTER_MANIFEST})")
    manifest = read_json_object(path, ModelError)
    if manifest.get("kind") not in ADAPTER_KINDS or "base" not in manifest:
        raise ModelError(
            f"{path}: field 'kind' must be one of {', '.join(ADAPTER_KINDS)} and 'base' is required"
        )
    return manifest
