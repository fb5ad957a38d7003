"""What one file may produce is bounded (``ingest.max_chunks_per_file``), a huge JSON string never
reaches the main process, and the files before a big one are committed before it is embedded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostile import corpus
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.hybrid import search

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs

GROWTH_MB = 400
"""Growth of the peak RSS allowed for a 40 MB JSON string over a run without it (measured ~20 MB;
1.2 GB and more in the main process before the parser refused text that cannot fit and before
long strings left the records' metadata, which every chunk copies)."""


def _huge_json_string(path: Path, mb: int = 40) -> Path:
    words = "pump valve seal rotor gasket flange KF-220 rated 12 bar "
    body = words * (mb * 1024 * 1024 // len(words))
    path.write_text(json.dumps({"title": "Huge", "body": body}), encoding="utf-8")
    return path


@pytest.fixture()
def slow_config(tmp_path: Path, tiny_model: Path) -> Path:
    """The suite's embedder with a time budget that a 40 MB JSON parse fits on a busy machine."""
    path = tmp_path / "config.yaml"
    path.write_text(f"embedder: st:{tiny_model}\ningest:\n  max_seconds_per_file: 60\n", encoding="utf-8")
    return path


def test_a_40_mb_json_string_is_refused_in_the_parser(tmp_path: Path, slow_config: Path, expert) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    args = ("--config", str(slow_config), "ingest", "data", "--json", "--no-progress")
    baseline = expert(*args, "--kb", "kb0", cwd=tmp_path)
    assert baseline.rc == 0, baseline.stderr
    _huge_json_string(data / "huge.json")
    run = expert(*args, "--kb", "kb", cwd=tmp_path)
    assert run.rc == 1 and "Traceback" not in run.stderr, run.stderr
    files = {Path(f["source"]).name: f for f in json.loads(run.stdout)["files"]}
    reason = files["huge.json"]["reason"]
    assert files["huge.json"]["status"] == "failed" and "\n" not in reason
    assert "chunks, over the 20,000 limit (budget ingest.max_chunks_per_file)" in reason
    assert files["good.md"]["status"] == "ingested"
    assert run.peak_mb - baseline.peak_mb < GROWTH_MB, (run.peak_mb, baseline.peak_mb)
    assert search("Zephyr warranty", tmp_path / "kb", k=1, mode="bm25")[0].source == "data/good.md"


def _sections(path: Path, n: int) -> Path:
    """``n`` short sections: few words (the parser's estimate passes), one chunk each."""
    path.write_text(
        "# Many\n\n" + "".join(f"## Part {i}\n\nThe part {i} is a Kestrel seal.\n\n" for i in range(n))
    )
    return path


def test_a_file_over_the_chunk_budget_fails_and_the_rest_go_on(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    _sections(data / "many.md", 30)
    (data / "wordy.md").write_text("# Wordy\n\n" + "Pump seal check. " * 3000, encoding="utf-8")
    report = ingest([str(data)], tmp_path / "kb", settings.merged({"ingest": {"max_chunks_per_file": 20}}))
    by_name = {Path(f.source).name: f for f in report.files}
    assert by_name["good.md"].status == "ingested"
    many, wordy = by_name["many.md"], by_name["wordy.md"]
    assert many.status == "failed" and many.reason == (
        "gives 30 chunks, over the 20 limit (budget ingest.max_chunks_per_file)"
    )  # counted after chunking
    assert wordy.status == "failed" and wordy.reason is not None
    assert wordy.reason.startswith("gives at least ")  # refused by the parser, before chunking
    assert search("Zephyr warranty", tmp_path / "kb", k=1, mode="bm25")[0].source.endswith("good.md")


def test_files_before_a_big_one_are_committed_before_it_is_embedded(
    tmp_path: Path, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.md").write_text(corpus.GOOD, encoding="utf-8")
    (data / "b.md").write_text(corpus.GOOD.replace("Zephyr", "Merlin"), encoding="utf-8")
    _sections(data / "z.md", 40)
    real = KnowledgeBase.embed_with_tokens

    def stopped_on_big_batches(self, texts, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(texts) > 30:  # Ctrl-C while the big file is embedded (a simulated stop, not a fake model)
            raise KeyboardInterrupt
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(KnowledgeBase, "embed_with_tokens", stopped_on_big_batches)
    with pytest.raises(KeyboardInterrupt):
        ingest([str(data)], tmp_path / "kb", settings.merged({"ingest": {"embed_wave_chunks": 16}}))
    monkeypatch.undo()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert sorted(Path(d.source).name for d in kb.store.documents()) == ["a.md", "b.md"]
    assert search("Merlin warranty", tmp_path / "kb", k=1, mode="bm25")[0].source.endswith("b.md")
    again = ingest([str(data)], tmp_path / "kb", settings)  # the next run finishes the rest
    assert again.count("unchanged") == 2 and again.count("ingested") == 1
