"""Replay mixing: general examples are added at the asked share, seeded, never duplicating the
company data, and the result is valid training data; the CLI writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert.finetune.data import DataError, Example, load_examples
from industry_expert.finetune.replay import GENERAL_REPLAY, mix, mix_files

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "examples" / "kestrel" / "finetune" / "train.jsonl"
GENERAL_EVAL = ROOT / "examples" / "kestrel" / "finetune" / "general.jsonl"


def _user(e: Example) -> str:
    return next(m["content"] for m in e.messages if m["role"] == "user")


def test_bundled_general_set_is_valid_and_disjoint_from_the_general_evaluation() -> None:
    general = load_examples(GENERAL_REPLAY)
    assert len(general) >= 60 and all(e.messages[-1]["role"] == "assistant" for e in general)
    evaluated = {json.loads(line)["question"].lower() for line in GENERAL_EVAL.read_text().splitlines()}
    assert not {_user(e).lower() for e in general} & evaluated


@pytest.mark.parametrize("share", [0.0, 0.1, 0.2, 0.5])
def test_mix_reaches_the_share_and_is_reproducible(share: float) -> None:
    company, general = load_examples(TRAIN), load_examples(GENERAL_REPLAY)
    mixed, available, repeats = mix(company, general, share, seed=3)
    replay = [e for e in mixed if e.meta.get("replay")]
    assert len(mixed) == len(company) + len(replay)
    assert abs(len(replay) / len(mixed) - share) < 0.01
    assert available == len(general) and repeats == max(0, len(replay) - len(general))
    again, _, _ = mix(company, general, share, seed=3)
    assert [e.key() for e in again] == [e.key() for e in mixed]
    if share:
        assert [e.key() for e in mix(company, general, share, seed=4)[0]] != [e.key() for e in mixed]


def test_general_examples_already_in_the_company_data_are_not_replayed() -> None:
    general = load_examples(GENERAL_REPLAY)
    company = load_examples(TRAIN)[:20] + general[:5]
    mixed, available, _ = mix(company, general, 0.5)
    assert available == len(general) - 5
    replayed = {_user(e) for e in mixed if e.meta.get("replay")}
    assert not replayed & {_user(e) for e in general[:5]}
    with pytest.raises(DataError, match="share must be in"):
        mix(company, general, 1.0)
    with pytest.raises(DataError, match="no example that is not already"):
        mix(general, general, 0.2)


def test_cli_data_mix_writes_loadable_data(tmp_path: Path) -> None:
    out = tmp_path / "mixed.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "industry_expert", "data", "mix", str(TRAIN), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["examples"] == 210 and report["replay"] == round(0.2 * 210 / 0.8)
    rows = load_examples(out)
    assert len(rows) == report["examples"] + report["replay"]
    assert sum(1 for e in rows if e.meta.get("replay")) == report["replay"]
    assert report == mix_files(TRAIN, tmp_path / "again.jsonl").to_dict() | {"out": str(out)}
