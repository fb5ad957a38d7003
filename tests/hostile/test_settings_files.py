"""Settings files are data: a YAML alias bomb is refused at once, with the file and line, in
bounded memory; echoed values are clipped; non-finite or overflowing budgets and weights are
refused with one line. A refused settings file changes nothing: the KB stays searchable."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostile import corpus
from industry_expert.config import Settings
from industry_expert.errors import ConfigError

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs


@pytest.fixture(scope="module")
def good_kb(hostile_root: Path, config: Path, expert) -> Path:  # type: ignore[no-untyped-def]
    work = hostile_root / "settings-files"
    (work / "data").mkdir(parents=True)
    (work / "data" / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    run = expert("--config", str(config), "ingest", "data", "--kb", "kb", "--no-progress", cwd=work)
    assert run.rc == 0, run.stderr
    return work


def _searchable(work: Path) -> None:
    from industry_expert.retrieve.hybrid import search

    assert search("Zephyr warranty", work / "kb", k=1, mode="bm25")[0].source == "data/good.md"


def test_a_yaml_alias_bomb_is_refused_at_once(good_kb: Path, expert) -> None:  # type: ignore[no-untyped-def]
    bomb = good_kb / "bomb.yaml"
    bomb.write_text(corpus.BILLION_LAUGHS, encoding="utf-8")
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"bomb.yaml: line 2: YAML aliases \(\*name\) are not allowed"):
        Settings.load(bomb)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 0.2 and peak < 2 * 1024 * 1024, (seconds, peak)  # before: 3 GB after 35 s
    t0 = time.perf_counter()
    run = expert("--config", "bomb.yaml", "ingest", "data", "--kb", "kb", cwd=good_kb, timeout=60)
    assert time.perf_counter() - t0 < 10  # interpreter start and imports (~1 s), then one line
    assert run.rc == 2
    assert run.error_line() == "error: bomb.yaml: line 2: YAML aliases (*name) are not allowed here"
    assert run.peak_mb < 200, run.peak_mb  # measured ~50 MB: the interpreter and the CLI, nothing more
    _searchable(good_kb)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ingest:\n  max_parse_mb: .inf\n", "ingest.max_parse_mb: Input should be a finite number (got inf)"),
        ("ingest:\n  max_parse_mb: 1.0e+308\n", "ingest.max_parse_mb: Input should be less than or equal to"),
        (
            "ingest:\n  max_seconds_per_file: 1.0e+308\n",
            "ingest.max_seconds_per_file: Input should be less than or equal to 86400",
        ),
        (
            "answer:\n  min_relevance: .nan\n",
            "answer.min_relevance: Input should be a finite number (got nan)",
        ),
        (
            "retrieve:\n  weight_dense: .inf\n",
            "retrieve.weight_dense: Input should be a finite number (got inf)",
        ),
        (
            "retrieve:\n  weight_bm25: 1.0e+300\n",
            "retrieve.weight_bm25: Input should be less than or equal to",
        ),
    ],
)
def test_non_finite_and_overflowing_numbers_are_refused(good_kb: Path, text: str, expected: str) -> None:
    from industry_expert.cli.main import main

    cfg = good_kb / "extreme.yaml"
    cfg.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(cfg), "ingest", "data", "--kb", "kb"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {cfg}: {expected}"), result.stderr
    _searchable(good_kb)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_echoed_values_are_clipped(good_kb: Path, suffix: str) -> None:
    huge = "x" * 500_000
    cfg = good_kb / f"huge{suffix}"
    text = f'retrieve:\n  k: "{huge}"\n' if suffix == ".yaml" else f'{{"retrieve": {{"k": "{huge}"}}}}'
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Settings.load(cfg)
    message = str(exc.value)
    assert len(message) < 400 and "\n" not in message, message[:400]
    assert message.endswith("... (500,002 characters))")  # the repr, clipped: its length is said
    keys = "\n".join(f"  key{i}: 1" for i in range(1000))
    cfg.write_text(f"retrieve:\n{keys}\n" if suffix == ".yaml" else "{}", encoding="utf-8")
    if suffix == ".yaml":  # a thousand errors are five and a count, not a thousand
        with pytest.raises(ConfigError, match=r"; and 995 more$"):
            Settings.load(cfg)


def test_oversized_and_deep_settings_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 2_000_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big.yaml: a config file may hold at most 1 MB$"):
        Settings.load(big)
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deep.yaml: line 1: nested deeper than 64 levels$"):
        Settings.load(deep)
