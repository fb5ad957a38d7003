"""Merge an adapter into its base model; optionally export GGUF (f16 + a quantized one) with
llama.cpp's own converter from the llama-cpp-python source archive (not copied into this repo)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.artifacts import ADAPTER_MANIFEST as MANIFEST
from industry_expert.artifacts import adapter_manifest
from industry_expert.errors import ModelError
from industry_expert.finetune import base as base_models
from industry_expert.io import write_json_atomic
from industry_expert.models.checkpoints import ADAPTER_BASE_KEY

QUANT_TYPES = {"q4_k_m": 15, "q8_0": 7, "q4_0": 2}  # llama_ftype values


@dataclass
class MergeReport:
    out: str
    merged: str
    gguf: list[str] = field(default_factory=list)
    modelfile: str | None = None
    """With ``gguf``: an Ollama Modelfile (chat template, stop tokens) next to the GGUF files."""
    serve: list[str] = field(default_factory=list)
    """Commands that serve the quantized GGUF (llama.cpp server, Ollama)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = [
    "MergeReport",
    "adapter_manifest",
    "converter_dir",
    "export_gguf",
    "export_lora_gguf",
    "load_merged",
    "merge",
    "stamp_base",
]


def llama_cpp_version() -> str:
    """The installed llama-cpp-python (pinned once, in pyproject.toml's ``llama`` extra): the
    converter must come from the same release as the quantizer that runs after it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        raise ModelError("GGUF export needs llama-cpp-python: pip install 'industry-expert[llama]'") from None


def load_merged(adapter: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) with the adapter merged into an fp32 copy of its base."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = adapter_manifest(adapter)
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    if manifest["kind"] == "full-model":
        return AutoModelForCausalLM.from_pretrained(adapter), tokenizer
    from peft import PeftModel

    base = base_models.load_model(base_models.resolve_base(manifest["base"]), "lora")
    model = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    return model, tokenizer


def converter_dir() -> Path:
    """llama.cpp's sources from the cached llama-cpp-python sdist (``make install`` downloads it)."""
    cache, release = base_models.CACHE, llama_cpp_version()
    src = cache / "sdist" / f"llama_cpp_python-{release}"
    if (src / "vendor/llama.cpp/conversion/__init__.py").is_file():
        return src / "vendor" / "llama.cpp"
    archive = cache / "sdist" / f"llama_cpp_python-{release}.tar.gz"
    if not archive.is_file():
        raise ModelError(
            f"GGUF export needs {archive}: pip download --no-deps --no-binary :all: "
            f"-d {archive.parent} llama-cpp-python=={release}"
        )
    with tarfile.open(archive) as tar:
        root = f"llama_cpp_python-{release}/vendor/llama.cpp/"
        members = [
            m
            for m in tar.getmembers()
            if m.name.startswith(root)
            and (
                m.name.count("/") == 3
                and m.name.endswith(".py")
                or m.name.startswith((root + "conversion/", root + "gguf-py/"))
            )
        ]
        tar.extractall(archive.parent, members=members, filter="data")
    return src / "vendor" / "llama.cpp"


def _convert(script: str, args: list[str]) -> None:
    """One of llama.cpp's converter scripts, in a subprocess, its last error line on failure."""
    tools = converter_dir()
    env = {**os.environ, "PYTHONPATH": str(tools / "gguf-py")}
    proc = subprocess.run(
        [sys.executable, str(tools / script), *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise ModelError(f"GGUF conversion failed: {proc.stderr.strip().splitlines()[-1:]}")


def export_lora_gguf(adapter: str | Path, out: str | Path) -> Path:
    """The LoRA adapter as a GGUF adapter file (f16, a few MB) that llama.cpp applies at run time on
    the base GGUF (``expert ask --adapter FILE.gguf``). Unlike ``merge --gguf``, the update is not
    folded into weights that are then quantized: a 4-bit quantizer rounds a small LoRA update away
    (bench/merge_washout.py measures it)."""
    manifest = adapter_manifest(adapter)
    if manifest["kind"] != "peft-adapter":
        raise ModelError(f"{adapter}: a {manifest['kind']} has no LoRA to export; use 'merge --gguf'")
    out = Path(out)
    raw, tmp = out.with_name(out.name + ".raw.tmp"), out.with_name(out.name + ".tmp")
    base = base_models.resolve_base(manifest["base"])
    _convert(
        "convert_lora_to_gguf.py", [str(adapter), "--base", base, "--outfile", str(raw), "--outtype", "f16"]
    )
    try:
        stamp_base(raw, tmp, manifest["base"])
        tmp.replace(out)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


def stamp_base(src: Path, dst: Path, base: str) -> None:
    """Copy the GGUF adapter ``src`` to ``dst`` with the base it was trained on in its metadata
    (``industry_expert.base``: the catalogue name, e.g. ``qwen2.5-0.5b``, or the HF id/path), so
    ``ask`` can pair the adapter with its model and refuse another (models/checkpoints.py)."""
    import gguf

    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    for fld in reader.fields.values():
        if fld.name == gguf.Keys.General.ARCHITECTURE or fld.name.startswith("GGUF."):
            continue
        sub = fld.types[-1] if fld.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(fld.name, fld.contents(), fld.types[0], sub_type=sub)
    writer.add_string(ADAPTER_BASE_KEY, base)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()


def export_gguf(merged: Path, out: Path, quant: str = "q4_k_m") -> list[Path]:
    """f16 GGUF via convert_hf_to_gguf.py, then a quantized copy via llama.cpp's quantizer."""
    if quant not in QUANT_TYPES:
        raise ModelError(f"unknown quantization '{quant}' (choose {', '.join(QUANT_TYPES)})")
    f16 = out / "model-f16.gguf"
    _convert("convert_hf_to_gguf.py", [str(merged), "--outfile", str(f16), "--outtype", "f16"])
    import llama_cpp

    quantized = out / f"model-{quant}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant]
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(quantized).encode(), params) != 0:
        raise ModelError(f"quantizing {f16} to {quant} failed")
    return [f16, quantized]


def merge(adapter: str | Path, out: str | Path, gguf: bool = False, quant: str = "q4_k_m") -> MergeReport:
    out = Path(out)
    merged = out / "hf"
    model, tokenizer = load_merged(adapter)
    model.save_pretrained(merged)
    tokenizer.save_pretrained(merged)
    manifest = adapter_manifest(adapter)
    write_json_atomic(out / MANIFEST, {**manifest, "kind": "merged-model", "adapter": str(adapter)})
    report = MergeReport(str(out), str(merged))
    if gguf:
        files = export_gguf(merged, out, quant)
        report.gguf = [str(p) for p in files]
        from industry_expert.finetune.modelfile import serve_commands, write_modelfile

        modelfile = write_modelfile(
            out, files[-1], tokenizer, manifest.get("chat_template") or tokenizer.chat_template
        )
        report.modelfile = str(modelfile)
        report.serve = serve_commands(files[-1], modelfile, out.name)
    return report
