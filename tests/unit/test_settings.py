"""The one settings tree: validation errors as one line naming file, key and value; flags that map
one to one onto fields; ``expert config show``; ``expert data split`` and ``advise --eval`` errors
on the CLI. No model is loaded here."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from industry_expert.cli import main
from industry_expert.cli.config import SEP, load_settings
from industry_expert.config import AnswerSettings, FinetuneSettings, Settings
from industry_expert.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("retrieve:\n  k: -3\n", "c.yaml: retrieve.k: Input should be greater than or equal to 1 (got -3)"),
        ("answer:\n  max_tokens: lots\n", "c.yaml: answer.max_tokens: Input should be a valid integer"),
        ("answer:\n  kk: 3\n", "c.yaml: answer.kk: unknown setting (got 3)"),
        ("retriever:\n  k: 3\n", "c.yaml: retriever: unknown setting"),
        ("finetune:\n  method: dora\n", "c.yaml: finetune.method: Input should be 'lora', 'qlora' or 'full'"),
        ("base: smollm2\n", "c.yaml: base: unknown setting (fine-tuning settings go under 'finetune:')"),
        (
            "chunking:\n  max_tokens: 100\n  overlap_tokens: 60\n",
            "c.yaml: chunking: overlap_tokens must be below",
        ),
    ],
)
def test_invalid_settings_are_one_line_naming_file_key_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Settings.load(cfg)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(str(cfg)) and expected.split("c.yaml")[1] in message


def test_invalid_config_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[retrieve]\nk = -3\n", encoding="utf-8")
    r = _run("search", "pump", "--kb", str(tmp_path / "kb"), "--config", str(cfg))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert (
        r.output.strip() == f"error: {cfg}: retrieve.k: Input should be greater than or equal to 1 (got -3)"
    )
    r = _run("ask", "hi", "-k", "0")
    assert (
        r.exit_code == 2
        and "command line: answer.k: Input should be greater than or equal to 1 (got 0)" in r.output
    )


def test_direct_construction_and_assignment_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="AnswerSettings: k: .*got 0"):
        AnswerSettings(k=0)
    s = Settings()
    with pytest.raises(ConfigError, match="support_threshold"):
        s.answer.support_threshold = 2.0
    assert Settings(answer=AnswerSettings(k=3)).answer.k == 3


def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps({"answer": {"k": 2, "max_tokens": 50}, "retrieve": {"rrf_k": 30}}), encoding="utf-8"
    )
    flags = {f"answer{SEP}k": 7, f"answer{SEP}max_tokens": None, "other": 1}
    s = load_settings(str(cfg), flags)
    assert (s.answer.k, s.answer.max_tokens, s.retrieve.rrf_k, s.retrieve.k) == (7, 50, 30, 5)
    assert flags == {"other": 1}  # the settings flags are consumed


def test_every_settings_flag_maps_onto_one_field_with_its_docstring() -> None:
    seen = 0
    docs = Settings.field_docs()

    def visit(cmd: click.Command) -> None:
        nonlocal seen
        for p in cmd.params:
            if p.name and SEP in p.name:
                key = p.name.replace(SEP, ".")
                assert key in docs, key
                assert docs[key] and docs[key] in " ".join((p.help or "").split()), key  # type: ignore[attr-defined]
                seen += 1
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(main)
    assert seen >= 30
    commands = {"search", "ask", "chat", "ingest"}
    for name in commands:
        assert any(p.name == "config_file" for p in main.commands[name].params), name


def test_config_show_prints_effective_settings_that_read_back(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("retrieve:\n  k: 9\nanswer:\n  max_tokens: 99\n", encoding="utf-8")
    r = _run("config", "show", "--config", str(cfg), "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["retrieve"]["k"] == 9 and shown["answer"]["max_tokens"] == 99 and shown["answer"]["k"] == 5
    r = _run("config", "show", env={"IE_CONFIG": str(cfg)})
    assert r.exit_code == 0 and "# Answer length cap, in tokens." in r.output
    back = tmp_path / "back.yaml"
    back.write_text(r.output, encoding="utf-8")
    assert Settings.load(back) == Settings.load(cfg)  # the YAML it prints is a valid config file


def test_finetune_configs_are_sections_of_the_one_tree() -> None:
    for name in (
        "phi3-mini-lora",
        "phi3-mini-qlora",
        "smollm2-cpu-lora",
    ):  # accelerate-*.yaml: accelerate's own
        path = ROOT / "configs" / f"{name}.yaml"
        s = FinetuneSettings.load(path)
        assert Settings.load(path).finetune == s and s.lora_r >= 8, path
    assert FinetuneSettings.load(ROOT / "configs/smollm2-cpu-lora.yaml", lr=0.5, epochs=None).lr == 0.5


def _chat_jsonl(path: Path, n: int) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}?"},
                {"role": "assistant", "content": f"answer {i}."},
            ]
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_data_split_cli_is_reproducible_and_reads_the_config(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    _chat_jsonl(data, 60)
    r = _run("data", "split", str(data), "--out", str(tmp_path / "a"), "--eval-fraction", "0.25", "--json")
    assert r.exit_code == 0, r.output
    counts = json.loads(r.output)
    assert counts["train"] + counts["eval"] == 60 and 5 <= counts["eval"] <= 25
    train = (tmp_path / "a" / "train.jsonl").read_text().splitlines()
    evals = (tmp_path / "a" / "eval.jsonl").read_text().splitlines()
    assert len(train) == counts["train"] and not set(train) & set(evals)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("finetune:\n  eval_fraction: 0.25\n", encoding="utf-8")
    again = _run("data", "split", str(data), "--out", str(tmp_path / "b"), "--config", str(cfg), "--json")
    assert json.loads(again.output) == {**counts, "out": str(tmp_path / "b")}
    assert (tmp_path / "b" / "eval.jsonl").read_text().splitlines() == evals
    other = _run("data", "split", str(data), "--out", str(tmp_path / "c"), "--eval-fraction", "0.5", "--json")
    assert json.loads(other.output)["eval"] > counts["eval"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}]}\n{"oops": 1\n', encoding="utf-8")
    r = _run("data", "split", str(bad), "--out", str(tmp_path / "x"))
    assert r.exit_code != 0 and "Traceback" not in r.output and "bad.jsonl" in r.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "summary.json: no such file"),
        ("{not json", "summary.json: invalid JSON"),
        ('{"questions": 5, "summary": {}}', "not an 'expert eval' summary (field 'comparisons'"),
        ('{"questions": 5, "summary": {"rag": {"correct": "x"}}, "comparisons": []}', "summary.rag.correct"),
    ],
)
def test_advise_with_a_missing_or_corrupt_eval_summary_is_one_line(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    run = tmp_path / "eval"
    run.mkdir()
    if content is not None:
        (run / "summary.json").write_text(content, encoding="utf-8")
    r = _run("advise", "--eval", str(run), "--no-fresh-data")
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], r.output
