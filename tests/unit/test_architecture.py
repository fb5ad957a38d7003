"""The house rules that code review would otherwise have to catch: imports point down the
pipeline with no rings (import-linter's contracts in ``.importlinter``), one sentence splitter,
one pin of llama-cpp-python."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "industry_expert"


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    return str(exe) if exe.is_file() else shutil.which("lint-imports") or ""


def test_import_contracts_are_kept() -> None:
    exe = _lint_imports()
    if not exe:
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    proc = subprocess.run(
        [exe, str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_one_sentence_splitter() -> None:
    """Sentence boundaries are cut in one place (``industry_expert.text.split_sentences``)."""
    splitter = re.compile(r"re\.(split|compile)\(r[\"'][^\"']*\(\?<=\[\.!\?")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "text.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if splitter.search(line)
    ]
    assert found == []


def test_llama_cpp_python_is_pinned_once() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = re.findall(r"llama-cpp-python(?:\[[a-z,]+\])?==([0-9.]+)", pyproject)
    assert len(pins) == 1, pins
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "Makefile", *PACKAGE.rglob("*.py")]
        if pins[0] in path.read_text(encoding="utf-8")
    ]
    assert elsewhere == []
