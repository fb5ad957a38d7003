"""Fixtures of the hostile-input suite: a work folder, a tiny real embedder, a config with small
budgets, and a runner that reports a command's exit status, output and peak memory (RSS of it and
its children) and can run it without root's permission overrides."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PEAK_MB = 1500
"""Peak RSS bound for one ingest run over the whole hostile corpus (measured ~750 MB: the
interpreter, torch and the tiny embedder). Without the budgets the 400 MB zip bombs alone grow the
process past 4 GB."""

_WRAP = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(r.returncode)\n"
)


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    peak_mb: float

    def error_line(self) -> str:
        """The single 'error: ...' line; fails when there is none, several, or a traceback."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        assert len(errors) == 1, self.stderr
        return errors[0]


@pytest.fixture(scope="session")
def hostile_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ie-hostile-", dir="/tmp"))
    root.chmod(0o755)
    (root / "rss").mkdir(mode=0o777)
    (root / "rss").chmod(0o777)
    yield root
    subprocess.run(["chmod", "-R", "u+rwX", str(root)], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(hostile_root: Path, tiny_st_model: Path) -> Path:
    """The suite's embedder: the tiny 32-d sentence-transformers model (window 128 tokens)."""
    dst = hostile_root / "tiny-st"
    shutil.copytree(tiny_st_model, dst)
    subprocess.run(["chmod", "-R", "a+rX", str(dst)], check=True)
    return dst


@pytest.fixture(scope="session")
def config(hostile_root: Path, tiny_model: Path) -> Path:
    path = hostile_root / "hostile.yaml"
    path.write_text(
        f"embedder: st:{tiny_model}\n"
        "ingest:\n  max_unpacked_mb: 50\n  max_seconds_per_file: 4\n  max_depth: 256\n  max_parse_mb: 1024\n",
        encoding="utf-8",
    )
    path.chmod(0o644)
    return path


@pytest.fixture(scope="session")
def settings(config: Path):  # type: ignore[no-untyped-def]
    from industry_expert.config import Settings

    return Settings.load(config)


def without_root_overrides() -> None:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set (the child, still uid
    0, then meets file permissions like any user: a 000 folder is unreadable, 0444 files are
    read-only). Real permission errors, not simulated ones."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def is_root() -> bool:
    return os.geteuid() == 0


@pytest.fixture(scope="session")
def expert(hostile_root: Path):  # type: ignore[no-untyped-def]
    """``expert(*args, cwd=..., unprivileged=False)`` -> Run (with peak RSS of it and its children)."""
    counter = iter(range(10**6))

    def run(*args: str, cwd: Path, unprivileged: bool = False, timeout: int = 300) -> Run:
        rss = hostile_root / "rss" / f"{next(counter)}.txt"
        env = {**os.environ, "HOME": str(hostile_root), "COLUMNS": "200"}
        proc = subprocess.run(
            [sys.executable, "-c", _WRAP, str(rss), sys.executable, "-m", "industry_expert", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            preexec_fn=without_root_overrides if unprivileged and is_root() else None,
        )
        peak = float(rss.read_text()) / 1024 if rss.exists() else float("nan")
        return Run(proc.returncode, proc.stdout, proc.stderr, peak)

    return run


def write_doc(path: Path, subject: str, body: str = "") -> Path:
    """A Markdown document at ``path`` with one fact about ``subject`` (serviced every 6 months),
    then ``body``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {subject}\n\nThe {subject} is serviced every 6 months.\n{body}", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def built_kb(hostile_root: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """A KB of three one-fact documents, pump.md and, in the sub-folder sub/, valve.md and gauge.md
    (one chunk each), ingested once with the suite's tiny embedder. Tests damage a copy: ``kb``."""
    from industry_expert.ingest.pipeline import ingest

    data = hostile_root / "three-docs" / "data"
    for name in ("pump.md", "sub/valve.md", "sub/gauge.md"):
        write_doc(data / name, Path(name).stem)
    kb = hostile_root / "three-docs" / "kb"
    report = ingest([str(data)], kb, settings)
    assert report.count("ingested") == 3, report.to_dict()["errors"]
    return kb


@pytest.fixture()
def kb(built_kb: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``built_kb`` for one test to damage."""
    copy = tmp_path / "kb"
    shutil.copytree(built_kb, copy)
    return copy
