"""The Python API (``ie.ingest/search/ask/kb_stats``), ``expert data check`` with a real tokenizer
and ``expert data from-kb --model`` with the real bundled SmolLM2, on a small two-document KB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import SAMPLE

import industry_expert as ie
from industry_expert.cli import main

pytestmark = pytest.mark.slow

PUMPS = """# Pump care

## Bearings

The KF-340 bearings are regreased every 2000 operating hours with Kestrel Lube LX-2 grease.
Use 12 grams of grease per bearing and run the pump for ten minutes afterwards.

## Seals

The mechanical seal of the KF-340 is replaced every 16000 operating hours or when it leaks.
The seal kit is KP-3402-07 and contains the rotating ring, the stationary ring and two O-rings.

## Impeller

The impeller nut of the KF-340 is tightened to 55 Nm with medium-strength thread locker.
Never heat the impeller to remove it; use the puller KT-11.
"""
WARRANTY = """# Warranty

## Standard warranty

The standard warranty on every Kestrel pump lasts 24 months from Hour Zero, the date of the signed
commissioning record.

## Extended plans

CareLine Plus extends the warranty to 60 months when the pump is serviced yearly by Kestrel.
"""


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("docs")
    (data / "pumps.md").write_text(PUMPS, encoding="utf-8")
    (data / "warranty.md").write_text(WARRANTY, encoding="utf-8")
    kb = data.parent / "small-kb"
    report = ie.ingest([str(data)], kb)
    assert report.ok and report.count("ingested") == 2 and report.chunks_added >= 4
    return kb


def test_python_api_ingest_search_ask(small_kb: Path) -> None:
    stats = ie.kb_stats(small_kb)
    assert stats["documents"] == 2 and stats["types"] == {"markdown": 2}
    hits = ie.search("impeller nut torque KF-340", small_kb, k=2)
    assert hits[0].source.endswith("pumps.md") and "55 Nm" in hits[0].text
    assert all(
        h.source.endswith("warranty.md")
        for h in ie.search("pump", small_kb, filters={"source": "*warranty.md"})
    )
    settings = ie.AnswerSettings(k=2, max_tokens=40)
    a = ie.ask("How long is the standard warranty on a Kestrel pump?", kb=small_kb, settings=settings)
    assert not a.abstained and "24 months" in a.answer
    assert a.citations and all(c.source.endswith("warranty.md") for c in a.citations)
    assert len(a.passages) <= 2 and a.model.startswith("gguf:SmolLM2")
    alone = ie.ask("What is a centrifugal pump?", settings=settings)
    assert alone.passages == [] and alone.raw_answer and "<passage" not in alone.prompt


def test_data_check_counts_with_the_base_models_tokenizer(tiny_phi3: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    rows = [
        ("What torque does the KF-340 impeller nut take?", "55 Nm."),
        ("What torque does the KF-340 impeller nut take?", "55 Nm."),  # exact duplicate (line 2)
        ("what torque does the kf-340 impeller nut take", "It takes 55 Nm."),  # same question (line 3)
        ("How is the seal replaced?", "Remove the impeller, then " + "carefully " * 40 + "done."),  # long
        ("Which grease?", "Kestrel Lube LX-2 and"),  # stops mid-sentence
    ]
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
            + "\n"
            for q, a in rows
        ),
        encoding="utf-8",
    )
    r = CliRunner().invoke(
        main, ["data", "check", str(data), "--base", str(tiny_phi3), "--max-seq-len", "40", "--json"]
    )
    assert r.exit_code == 1, r.output  # an over-length example fails the check
    report = json.loads(r.stdout)
    tok = AutoTokenizer.from_pretrained(tiny_phi3)
    lengths = [len(tok(f"{q} {a}", add_special_tokens=False)["input_ids"]) for q, a in rows]
    assert report["tokens"]["total"] == sum(lengths) and report["tokens"]["max"] == max(lengths)
    assert report["exact_duplicates"] == [2] and [1, 2, 3] in report["near_duplicates"]
    assert report["over_length"] == [4] and report["truncated_answers"] == [5] and report["max_seq_len"] == 40
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"finetune:\n  base: {tiny_phi3}\n  max_seq_len: 4096\n", encoding="utf-8")
    ok = CliRunner().invoke(main, ["data", "check", str(data), "--config", str(cfg)])
    assert ok.exit_code == 0 and f"{data}: 5 examples, {sum(lengths)} tokens" in ok.output


def test_the_reserved_fifth_does_not_depend_on_where_the_data_lives(tmp_path: Path) -> None:
    """The same files ingested from two folders (another machine, a CI checkout) put the same
    passages in the evaluation fifth: a document id follows the path, the partition must not."""
    import shutil

    from industry_expert.kb import KnowledgeBase
    from industry_expert.partition import kb_chunks

    def parts(folder: Path) -> tuple[set[str], set[str]]:
        shutil.copytree(SAMPLE / "data" / "notes", folder)
        assert ie.ingest([str(folder)], folder.parent / "kb").ok
        with KnowledgeBase.open(folder.parent / "kb") as kb:
            return ({h.text for h in kb_chunks(kb, "eval")}, {h.text for h in kb_chunks(kb, "train")})

    here, there = parts(tmp_path / "a" / "notes"), parts(tmp_path / "b" / "deeper" / "notes")
    assert here == there and here[0] and here[1] and not here[0] & here[1]


def test_data_from_kb_with_a_model_writes_model_pairs(small_kb: Path, tmp_path: Path) -> None:
    from industry_expert.kb import KnowledgeBase
    from industry_expert.partition import kb_chunks

    out = tmp_path / "pairs.jsonl"
    r = CliRunner().invoke(
        main, ["data", "from-kb", "--kb", str(small_kb), "--out", str(out), "--model", "smollm2", "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result["examples"] == len(rows) >= 2 and result["kinds"] == {"model": len(rows)}
    with KnowledgeBase.open(small_kb) as kb:
        train = {h.chunk_id: h for h in kb_chunks(kb, "train")}
    for row in rows:
        user, answer = row["messages"][1]["content"], row["messages"][2]["content"]
        assert row["kind"] == "model" and user.strip() and answer.strip() and "Q:" not in answer
        assert row["chunk_id"] in train and train[row["chunk_id"]].source == row["source"]
    templated = CliRunner().invoke(
        main, ["data", "from-kb", "--kb", str(small_kb), "--out", str(tmp_path / "t.jsonl"), "--json"]
    )
    assert set(json.loads(templated.stdout)["kinds"]) == {"section"}  # without --model: section templates
