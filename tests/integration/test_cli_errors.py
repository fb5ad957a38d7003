"""Every CLI error path prints exactly one line on stderr, from a fresh process.

Libraries (bitsandbytes, kernels, sentence-transformers, transformers) log warnings when they are
imported or load a model; those go to the log file, never in front of our one-line error. Each case
runs ``expert`` in a new process, the way a user meets it, with its own log file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert import ingest

EXPERT = [sys.executable, "-m", "industry_expert"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-errors")
    (root / "docs").mkdir()
    (root / "docs" / "pump.md").write_text("# Pump\n\nThe KF-220 pump runs at 5 bar.\n", encoding="utf-8")
    assert ingest([str(root / "docs")], root / "kb").ok
    (root / "bad.yaml").write_text("retrieve: [1, 2\n", encoding="utf-8")
    (root / "unknown.yaml").write_text("retrieve:\n  nope: 1\n", encoding="utf-8")
    (root / "questions.jsonl").write_text('{"question": "x"}\n', encoding="utf-8")
    (root / "chat.jsonl").write_text('{"messages": [{"role": "user"}]}\n', encoding="utf-8")
    return root


def run(work: Path, *args: str, log: str = "expert.log") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IE_LOG_FILE": str(work / log), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [*EXPERT, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


CASES = [
    (("search", "pump", "--kb", "missing"), 2, "missing: no knowledge base here"),
    (("kb", "stats", "--kb", "missing"), 2, "no knowledge base here"),
    (("advise", "--kb", "missing"), 2, "no knowledge base here"),
    (("--config", "bad.yaml", "search", "pump", "--kb", "kb"), 2, "bad.yaml: invalid config file"),
    (("--config", "unknown.yaml", "search", "pump", "--kb", "kb"), 2, "retrieve.nope: unknown setting"),
    (
        ("ask", "What pressure?", "--kb", "kb", "--model", "missing.gguf"),
        2,
        "missing.gguf: model file not found",
    ),
    (("eval", "questions.jsonl", "--kb", "kb", "--out", "eval"), 2, "questions.jsonl:1: field 'id'"),
    (("data", "check", "chat.jsonl"), 2, "chat.jsonl:1: field 'messages[0].content'"),
    (("finetune", "train", "chat.jsonl", "--out", "ft"), 2, "chat.jsonl:1: field 'messages[0].content'"),
    (("kb", "remove", "nope.md", "--kb", "kb"), 2, "no document with source 'nope.md'"),
    (("keys", "create", "x", "--kb", "kb:admin", "--state-dir", "state"), 2, "expected KB:read or KB:write"),
    (("serve", "--kb", "x=missing", "--port", "0"), 2, "missing is not a knowledge base"),
    (("ask", "What?", "--kb", "kb", "--adapter", "missing"), 2, "Invalid value for '--adapter'"),
    (("finetune", "export", "missing", "--out", "x.gguf"), 2, "Invalid value for 'ADAPTER'"),
    (("search", "--kb", "kb"), 2, "Missing argument 'QUERY'"),
    # loads sentence-transformers (and with it bitsandbytes and kernels, which warn on import)
    (("ingest", "docs", "--kb", "kb", "--embedder", "st:missing-model"), 2, "cannot load embedder"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "fragment"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_error_is_one_line(work: Path, args: tuple[str, ...], code: int, fragment: str) -> None:
    proc = run(work, *args)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert fragment in proc.stderr


@pytest.mark.slow
def test_library_warnings_go_to_the_log_and_verbose_shows_them(work: Path) -> None:
    args = ("ingest", "docs", "--kb", "kb", "--embedder", "st:missing-model")
    quiet = run(work, *args, log="quiet.log")
    assert quiet.stderr.count("\n") == 1
    logged = (work / "quiet.log").read_text(encoding="utf-8")
    assert " sentence_transformers." in logged  # the library's lines are kept, in the log
    loud = run(work, "-v", *args, log="loud.log")
    assert "sentence_transformers" in loud.stderr and loud.stderr.rstrip().endswith(quiet.stderr.rstrip())
