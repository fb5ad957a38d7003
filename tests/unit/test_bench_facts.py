"""The invented fact sets of bench/finetune_defaults.py measure what they claim: held-out questions
are never training phrasings, each regex finds its own fact and no other
(warranty month counts excepted: drawn from 10 values, so two products may share one), the sets share no fact,
the general evaluation set shares no question with the bundled replay set, and build.py
reproduces the committed files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert.finetune.data import load_examples
from industry_expert.finetune.replay import GENERAL_REPLAY

FACTS = Path(__file__).resolve().parents[2] / "bench" / "facts"
SETS = {"tune12": 12, "a12": 12, "b36": 36, "c90": 90}


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.mark.parametrize("name", SETS)
def test_held_out_questions_are_paraphrases_with_a_regex_for_their_fact_only(name: str) -> None:
    train, held = _rows(FACTS / name / "train.jsonl"), _rows(FACTS / name / "heldout.jsonl")
    answers = {r["fact"]: r["messages"][-1]["content"] for r in train}
    assert len(answers) == SETS[name] and len(train) == 3 * SETS[name]
    phrasings = {r["messages"][0]["content"].lower() for r in train}
    for q in held:
        assert q["question"].lower() not in phrasings
        hits = [f for f, a in answers.items() if re.search(q["regex"], a, re.IGNORECASE)]
        assert q["fact"] in hits, q["id"]
        # only a warranty (10 possible month counts) may share its value with another product's
        assert all(
            h == q["fact"] or (h.endswith("-warranty") and q["fact"].endswith("-warranty")) for h in hits
        )
        assert not re.search(q["regex"], q["question"], re.IGNORECASE)  # the question gives nothing away


def test_sets_share_no_fact_and_general_questions_are_not_replayed() -> None:
    seen: set[str] = set()
    for name in SETS:
        facts = {r["fact"] for r in _rows(FACTS / name / "train.jsonl")}
        assert not facts & seen
        seen |= facts
    general = {r["question"].lower() for r in _rows(FACTS / "general.jsonl")}
    replayed = {e.messages[-2]["content"].lower() for e in load_examples(GENERAL_REPLAY)}
    assert len(general) >= 60 and not general & replayed


def test_build_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = (FACTS / "build.py").read_text(encoding="utf-8")
    (tmp_path / "build.py").write_text(script, encoding="utf-8")
    subprocess.run([sys.executable, str(tmp_path / "build.py")], check=True, capture_output=True)
    for name in SETS:
        for f in ("train.jsonl", "heldout.jsonl"):
            assert (tmp_path / name / f).read_bytes() == (FACTS / name / f).read_bytes()
