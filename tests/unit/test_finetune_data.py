from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.finetune.data import DataError, check, load_examples, split
from industry_expert.ingest.chunking import count_tokens


def _write(tmp_path: Path, rows: list[object]) -> Path:
    p = tmp_path / "d.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def test_three_formats_become_chat_messages(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        [
            {"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1."}]},
            {"instruction": "Translate", "input": "Pumpe", "output": "pump."},
            {
                "conversations": [
                    {"from": "system", "value": "S"},
                    {"from": "human", "value": "Q3"},
                    {"from": "gpt", "value": "A3."},
                ]
            },
        ],
    )
    ex = load_examples(p)
    assert ex[1].messages == [
        {"role": "user", "content": "Translate\n\nPumpe"},
        {"role": "assistant", "content": "pump."},
    ]
    assert [m["role"] for m in ex[2].messages] == ["system", "user", "assistant"]
    assert [e.line for e in ex] == [1, 2, 3]


@pytest.mark.parametrize(
    "row,message",
    [
        (
            '{"messages": [{"role": "user", "content": "Q"}]}',
            "d.jsonl:1: a conversation must end with an assistant",
        ),
        (
            '{"messages": [{"role": "bot", "content": "Q"}]}',
            r"d.jsonl:1: field 'messages\[0\].role': input should be 'system', 'user' or 'assistant' \(got 'bot'\)",
        ),
        ('{"instruction": "Q"}', "d.jsonl:1: field 'output': field required"),
        (
            '{"conversations": [{"from": "alien", "value": "x"}]}',
            r"d.jsonl:1: field 'conversations\[0\].from': must be one of",
        ),
        ('{"text": "hello"}', "d.jsonl:1: expected a 'messages'"),
        ("[1, 2]", "d.jsonl:1: each line must be a JSON object"),
        ('{"messages": [', "d.jsonl:1: invalid JSON"),
    ],
)
def test_errors_name_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_examples(_write(tmp_path, [row]))


def test_report_duplicates_empty_truncated_and_length(tmp_path: Path) -> None:
    def chat(q: str, a: str) -> dict:
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}

    p = _write(
        tmp_path,
        [
            chat("What is X?", "X is a pump."),
            chat("What is X?", "X is a pump."),
            chat("what is x", "X is a valve."),
            chat("Empty?", " "),
            chat("Cut?", "The torque is set to and the"),
            chat("Long? " + "word " * 80, "Yes."),
        ],
    )
    r = check(load_examples(p), count_tokens, max_seq_len=50)
    assert r.exact_duplicates == [2] and [1, 2, 3] in r.near_duplicates
    assert r.empty_answers == [4] and r.truncated_answers == [5] and r.over_length == [6]
    assert not r.ok and r.tokens["max"] > 80


def test_split_is_reproducible_and_complete(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}."}]}
        for i in range(200)
    ]
    ex = load_examples(_write(tmp_path, rows))
    a, b = split(ex, 0.1, seed=3), split(ex, 0.1, seed=3)
    assert [e.line for e in a[1]] == [e.line for e in b[1]] and 8 <= len(a[1]) <= 35
    assert {e.line for e in a[0]} | {e.line for e in a[1]} == set(range(1, 201))
    assert [e.line for e in split(ex, 0.1, seed=4)[1]] != [e.line for e in a[1]]
