"""Where the tool writes: recognising its own artifacts and refusing to overwrite anything else.

A folder the tool wrote carries a marker file: a knowledge base ``manifest.json`` + ``kb.sqlite``,
an adapter or merged model ``expert_adapter.json``, an evaluation run ``summary.json`` +
``report.html``, a data split ``train.jsonl`` + ``eval.jsonl``. ``--out`` accepts a missing or empty
folder or the tool's own artifact of the same kind; anything else needs ``--overwrite``. Ingest
skips such folders inside an ingested tree (they would otherwise be ingested as junk).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from industry_expert.errors import ExpertError

_MARKERS: dict[str, tuple[str, ...]] = {
    "knowledge base": ("manifest.json", "kb.sqlite"),
    "adapter": ("expert_adapter.json",),
    "evaluation": ("summary.json", "report.html"),
    "data split": ("train.jsonl", "eval.jsonl"),
}


class OutputExistsError(ExpertError):
    """``--out`` names a folder holding files the tool did not write."""


def _is_kb(folder: Path) -> bool:
    if (folder / "kb.sqlite").is_file():
        return True
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "embedder" in manifest and "format_version" in manifest


def artifact_kind(folder: str | os.PathLike[str]) -> str | None:
    """Which of the tool's artifacts ``folder`` is, or None."""
    path = Path(folder)
    try:
        if _is_kb(path):
            return "knowledge base"
        for kind, names in _MARKERS.items():
            if kind != "knowledge base" and all((path / n).is_file() for n in names):
                return kind
        if (path / "checkpoint").is_dir() and (path / "training_config.json").is_file():
            return "adapter"  # a training run that stopped before its first save
    except OSError:
        return None
    return None


def check_out_dir(folder: str | os.PathLike[str], kind: str, overwrite: bool = False) -> Path:
    """Refuse to write ``kind`` into a non-empty folder that is not the tool's own ``kind``
    artifact, unless ``overwrite``. Returns the folder as a Path."""
    if kind not in _MARKERS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    path = Path(folder)
    if not path.exists():
        return path
    if not path.is_dir():
        raise OutputExistsError(f"{path}: --out must be a folder, and a file is there")
    if overwrite:
        return path
    try:
        entries = sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise OutputExistsError(f"{path}: cannot read the --out folder: {exc.strerror}") from exc
    if not entries or artifact_kind(path) == kind:
        return path
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise OutputExistsError(
        f"{path}: the --out folder is not empty ({shown}) and is not a(n) {kind} made by this tool; "
        "choose an empty folder or pass --overwrite"
    )


def check_out_binary_file(file: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Refuse to replace an existing file that the tool writes whole (a GGUF adapter) unless
    ``overwrite``, and never a folder."""
    path = Path(file)
    if path.is_dir():
        raise OutputExistsError(f"{path}: --out must be a file, and a folder is there")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    return path


def check_out_file(file: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Refuse to replace an existing file that is not JSON Lines (what the tool writes to a file
    ``--out``: generated questions or training data), unless ``overwrite``."""
    path = Path(file)
    if path.is_dir():
        raise OutputExistsError(f"{path}: --out must be a file, and a folder is there")
    if overwrite or not path.exists() or path.stat().st_size == 0:
        return path
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError):
        first = None
    if path.suffix in (".jsonl", ".ndjson") and isinstance(first, dict):
        return path
    raise OutputExistsError(
        f"{path}: --out names an existing file that is not JSON Lines written by this tool; "
        "choose another name or pass --overwrite"
    )
