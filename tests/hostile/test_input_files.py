"""Malformed question sets, training data and database queries: one line naming file, line and
field, before any model loads; nothing scored wrong, nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.cli.main import main
from industry_expert.errors import ConfigError, LoadError
from industry_expert.evaluate.questions import load_questions
from industry_expert.finetune.data import DataError, load_examples
from industry_expert.ingest import sqlite as sqlite_loader

GOOD_Q = {
    "id": "q1",
    "question": "What is the warranty?",
    "key_facts": ["24 months"],
    "gold_sources": ["a.md"],
}


def _jsonl(path: Path, *rows: object, raw: str = "") -> Path:
    path.write_text(
        raw + "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    "row,field,problem",
    [
        ({**GOOD_Q, "key_facts": "24 months"}, "key_facts", "valid list"),  # was split into characters
        ({**GOOD_Q, "answerable": "false"}, "answerable", "valid boolean"),  # was read as true
        ({**GOOD_Q, "regex": "9[.,5 bar"}, "regex", "not a valid regular expression"),
        ({**GOOD_Q, "question": 42}, "question", "valid string"),
        ({**GOOD_Q, "key_facts": [""]}, "key_facts", "blank"),
        ({**GOOD_Q, "gold_source": ["a.md"]}, "gold_source", "extra inputs are not permitted"),
        ({**GOOD_Q, "question": "x" * 20_000}, "question", "at most 4000 characters"),
    ],
)
def test_question_files_are_validated(tmp_path: Path, row: dict, field: str, problem: str) -> None:
    path = _jsonl(tmp_path / "q.jsonl", GOOD_Q | {"id": "q0"}, row)
    with pytest.raises(ConfigError) as err:
        load_questions(path)
    assert str(err.value).startswith(f"{path}:2: field '{field}': ") and problem in str(err.value)


def test_eval_refuses_a_bad_question_file_before_loading_models(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "q.jsonl", {**GOOD_Q, "key_facts": "24 months"})
    result = CliRunner().invoke(main, ["eval", "run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"{path}:1: field 'key_facts'" in result.stderr and not (tmp_path / "out").exists()


def _chat(*messages: object) -> dict:
    return {"messages": list(messages)}


@pytest.mark.parametrize(
    "row,expected",
    [
        (_chat({"role": ["user"], "content": "Q"}), "field 'messages[0].role'"),
        (_chat({"role": "user", "content": {"text": "Q"}}), "field 'messages[0].content'"),
        ({"instruction": "Q", "output": 5}, "field 'output'"),
        ({"conversations": [{"from": "human"}]}, "field 'conversations[0].value'"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_training_files_are_validated(tmp_path: Path, row: object, expected: str) -> None:
    path = _jsonl(tmp_path / "t.jsonl", row)
    with pytest.raises(DataError) as err:
        load_examples(path)
    assert str(err.value).startswith(f"{path}:1: ") and expected in str(err.value)


def test_training_file_with_a_bom_is_accepted(tmp_path: Path) -> None:
    row = _chat({"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."})
    (example,) = load_examples(_jsonl(tmp_path / "t.jsonl", row, raw="\ufeff"))
    assert example.messages[0]["content"] == "Q?"


def test_database_queries_only_read(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.executescript(
        'CREATE TABLE "odd""name" (site TEXT); INSERT INTO "odd""name" VALUES (\'Graz\'); CREATE TABLE e (x);'
    )
    con.close()
    (doc,) = sqlite_loader.load(db)  # a table name with a quote; the empty table is left out
    assert doc.metadata["table"] == 'odd"name' and doc.blocks[0].rows == [["Graz"]]
    evil = tmp_path / "evil.db"
    for query, reason in (
        (f"ATTACH DATABASE '{evil}' AS x", "may only read"),
        ('DELETE FROM "odd""name"', "may only read"),
        ("SELECT * FROM e", "returned no rows"),
    ):
        with pytest.raises(LoadError, match=reason):
            sqlite_loader.load(db, query=query)
    assert not evil.exists()
    assert sqlite_loader.load(db, table='odd"name')[0].blocks[0].rows == [["Graz"]]


def test_a_pasted_document_as_question_is_too_long(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ask", "why? " * 4_000])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "question too long (20,000 characters; at most 4,000" in result.stderr


@pytest.mark.slow
def test_model_and_adapter_folders_are_checked(tmp_path: Path, tiny_phi3: Path) -> None:
    from industry_expert.errors import ModelError
    from industry_expert.models.hf import HFGenerator

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["ask", "What is the warranty?", "--model", f"hf:{empty}"])
    assert result.exit_code == 2 and "not a Hugging Face model folder (no config.json)" in result.stderr
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": "sixteen"}')
    with pytest.raises(ModelError, match=r"adapter_config.json: field 'r': input should be a valid integer"):
        HFGenerator(str(tiny_phi3), adapter=str(adapter))
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8')
    with pytest.raises(ModelError, match=r"adapter_config.json: invalid JSON"):
        HFGenerator(str(tiny_phi3), adapter=str(adapter))


@pytest.mark.slow
def test_finetune_flags_that_cannot_work_are_one_line(tmp_path: Path, tiny_phi3: Path) -> None:
    data = _jsonl(
        tmp_path / "t.jsonl",
        *[
            _chat({"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"A{i}."})
            for i in range(4)
        ],
    )
    base = ["finetune", str(data), "--base", str(tiny_phi3)]
    for flags, message in (
        (["--max-steps", "-3"], "max_steps"),
        (["--max-steps", "0"], "max_steps"),
        (["--target-modules", "nope_proj", "--max-steps", "1"], "name no module of"),
    ):
        out = tmp_path / f"out{len(flags)}{flags[1]}"
        result = CliRunner().invoke(main, [*base, "--out", str(out), *flags])
        assert result.exit_code == 2 and message in result.stderr, (flags, result.output)
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in result.stderr  # (a loading bar may precede it)
        assert not (out / "expert_adapter.json").exists()


def test_data_check_p95_is_never_above_max(tmp_path: Path) -> None:
    from industry_expert.finetune.data import check
    from industry_expert.ingest.chunking import count_tokens

    rows = [
        _chat({"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A. " * n})
        for n in (1, 1, 1, 90)
    ]
    t = check(load_examples(_jsonl(tmp_path / "t.jsonl", *rows)), count_tokens, 512).tokens
    assert t["median"] <= t["p95"] <= t["max"]
