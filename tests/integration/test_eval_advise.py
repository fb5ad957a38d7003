"""Evaluation of the four systems end to end (bundled embedder + bundled SmolLM2, a real LoRA adapter
trained on it here), the HTML report in headless Chromium, and the advisor's three scenarios."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert.advise.profile import DataProfile, KBProfile, Profile, profile_kb
from industry_expert.advise.rules import advise
from industry_expert.config import AnswerSettings as AskSettings
from industry_expert.evaluate.run import SYSTEMS, evaluate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXPERT = [sys.executable, "-m", "industry_expert"]


@pytest.fixture(scope="module")
def smollm2_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA adapter on the bundled SmolLM2 (a few steps: enough to be a different model)."""
    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.settings import FinetuneSettings

    out = tmp_path_factory.mktemp("adapters") / "kestrel"
    s = FinetuneSettings(
        base="smollm2", max_steps=3, batch_size=4, max_seq_len=256, eval_fraction=0.05, lr=1e-3
    )
    finetune(ROOT / "examples/kestrel/finetune/train.jsonl", out, s)
    return out


@pytest.fixture(scope="module")
def eval_dir(sample_kb: Path, smollm2_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "report"
    qs = [json.loads(line) for line in (ROOT / "examples/kestrel/questions.jsonl").read_text().splitlines()]
    picked = (
        [q for q in qs if q["type"] == "table"][:2]
        + [q for q in qs if q["type"] == "doc"][:2]
        + [q for q in qs if not q["answerable"]][:2]
    )
    path = out.parent / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in picked))
    evaluate(
        path,
        out,
        str(sample_kb),
        str(smollm2_adapter),
        settings=AskSettings(k=3, max_tokens=40, context_tokens=700),
    )
    return out


def test_four_systems_run_and_are_scored(eval_dir: Path) -> None:
    summary = json.loads((eval_dir / "summary.json").read_text())
    assert summary["systems"] == list(SYSTEMS) and summary["skipped"] == {}
    rows = [json.loads(line) for line in (eval_dir / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 6 * 4 and {r["system"] for r in rows} == set(SYSTEMS)
    for s in SYSTEMS:
        m = summary["summary"][s]
        assert 0 <= m["correct"] <= 1 and m["latency_s"] > 0 and m["abstention"] is not None
        lo, hi = summary["ci"][s]["correct"]
        assert lo <= m["correct"] <= hi
    assert summary["summary"]["base"]["citation_precision"] is None  # no passages, no citations
    assert set(summary["retrieval"]) == {"hit@1", "hit@5", "recall@5", "mrr@10", "ndcg@10"}
    assert summary["retrieval"]["hit@5"] >= 0.5
    assert len(summary["comparisons"]) == 6
    assert summary["adapter"] and "fine-tuned" in json.dumps(rows[-1])


def test_missing_inputs_skip_systems_and_say_so(sample_kb: Path, tmp_path: Path) -> None:
    qs = tmp_path / "q.jsonl"
    qs.write_text(
        json.dumps(
            {
                "id": "x",
                "question": "What is the Blue Flush?",
                "answer": "A rinse.",
                "key_facts": ["rinse"],
                "gold_sources": ["manuals/glossary.md"],
            }
        )
        + "\n"
    )
    proc = subprocess.run(
        [
            *EXPERT,
            "eval",
            str(qs),
            "--kb",
            str(sample_kb),
            "--out",
            str(tmp_path / "r"),
            "--max-tokens",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped fine-tuned: no --adapter given" in proc.stdout and "rag " in proc.stdout
    assert (tmp_path / "r" / "report.html").is_file()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_charts_in_headless_chromium(eval_dir: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (eval_dir / "report.html").as_uri()
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count('class="chart"') == 7  # drawn by the page's script: present only if it ran
    assert dom.count('class="bar"') == 7 * 4
    assert 'data-metric="correct"' in dom and 'data-system="rag+fine-tuned"' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,1400", url],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def _eval_chunk_ids(kb_path: Path) -> set[int]:
    from industry_expert.kb import KnowledgeBase
    from industry_expert.partition import kb_chunks

    with KnowledgeBase.open(kb_path) as kb:
        return {h.chunk_id for h in kb_chunks(kb, "eval")}


def test_eval_generate_is_disjoint_from_training_data(sample_kb: Path, tmp_path: Path) -> None:
    from industry_expert.evaluate.generate import questions_from_kb
    from industry_expert.evaluate.questions import load_questions
    from industry_expert.finetune.synth import write_from_kb

    reserved = _eval_chunk_ids(sample_kb)
    assert 0.1 < len(reserved) / 400 < 0.35  # about a fifth of the sample KB's ~390 chunks
    r = questions_from_kb(sample_kb, tmp_path / "gen.jsonl")
    assert r["questions"] >= 10
    gen = [json.loads(line) for line in (tmp_path / "gen.jsonl").read_text().splitlines()]
    assert all(q["gold_sources"] and q["answerable"] for q in gen)
    assert {q["chunk_id"] for q in gen} <= reserved  # questions come from the reserved fifth only
    write_from_kb(sample_kb, tmp_path / "train.jsonl")
    train = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(train) > 100 and all(t["source"] for t in train)
    assert not {t["chunk_id"] for t in train} & reserved  # ... and training pairs never do
    assert len(load_questions(tmp_path / "gen.jsonl")) == len(gen)


# -- advice: three documented scenarios ------------------------------------------------------
def _kb(**kw: object) -> KBProfile:
    base = dict(
        documents=120,
        chunks=900,
        types={"markdown": 120},
        ingest_runs=1,
        changed_per_run=0.0,
        history_days=0.0,
        recent_file_share=None,
        file_age_span_days=0.0,
        specialised_term_share=0.05,
        top_specialised_terms=["kp-3402-07"],
    )
    base.update(kw)
    return KBProfile(**base)  # type: ignore[arg-type]


def test_scenario_fast_changing_qa_data_gets_rag() -> None:
    p = Profile(
        _kb(ingest_runs=12, changed_per_run=9.5, history_days=30.0),
        DataProfile(
            examples=80,
            exact_duplicate_share=0.0,
            near_duplicate_share=0.0,
            empty_answers=0,
            median_tokens=60,
        ),
    )
    a = advise(p)
    assert a.recommendation == "RAG"
    assert any("9.5 documents changed per re-ingest" in r for r in a.reasons)
    assert any("80 training examples" in r for r in a.reasons)


def test_scenario_stable_terminology_large_training_set_gets_finetuning() -> None:
    p = Profile(
        _kb(specialised_term_share=0.31, top_specialised_terms=["blue-flush", "kp-3402-07"]),
        DataProfile(
            examples=4200,
            exact_duplicate_share=0.01,
            near_duplicate_share=0.02,
            empty_answers=0,
            median_tokens=80,
        ),
    )
    a = advise(p, fresh=False, traceability=False)
    assert a.recommendation == "fine-tuning"
    assert any("31% of the KB's terms" in r for r in a.reasons) and any(
        "4200 training examples" in r for r in a.reasons
    )


def test_scenario_business_flow_gets_both() -> None:
    p = Profile(
        _kb(specialised_term_share=0.25),
        DataProfile(
            examples=1500,
            exact_duplicate_share=0.0,
            near_duplicate_share=0.01,
            empty_answers=0,
            median_tokens=70,
        ),
    )
    a = advise(p, fresh=True)
    assert a.recommendation == "both"
    assert any("1500 training examples" in r for r in a.reasons)
    assert advise(Profile(_kb(), None), business_flow=True).recommendation == "both"


def test_measurement_can_override_the_rule(tmp_path: Path) -> None:
    d = tmp_path / "ev"
    d.mkdir()
    (d / "summary.json").write_text(
        json.dumps(
            {
                "questions": 200,
                "summary": {
                    "base": {"correct": 0.2},
                    "rag": {"correct": 0.4},
                    "fine-tuned": {"correct": 0.7},
                    "rag+fine-tuned": {"correct": 0.5},
                },
                "comparisons": [
                    {
                        "better": "fine-tuned",
                        "than": "rag",
                        "metric": "correct",
                        "difference": 0.3,
                        "ci": [0.2, 0.4],
                        "p_value": 0.0012,
                        "significant": True,
                    }
                ],
            }
        )
    )
    a = advise(Profile(_kb(), None), eval_dir=d)
    assert a.rule_recommendation == "RAG" and a.recommendation == "fine-tuning"
    assert any(
        "overrides the rule of thumb" in r and "70%" in r and "McNemar p=0.0012" in r for r in a.reasons
    )


def test_advise_cli_on_the_sample_company(sample_kb: Path) -> None:
    prof = profile_kb(sample_kb)
    assert prof.documents >= 20 and prof.specialised_term_share > 0.05
    proc = subprocess.run(
        [
            *EXPERT,
            "advise",
            "--kb",
            str(sample_kb),
            "--data",
            str(ROOT / "examples/kestrel/finetune/train.jsonl"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # 210 examples (< 500) and traceable sources assumed: the guide's rules give RAG, for those reasons
    assert out["recommendation"] == "RAG" and out["rule_recommendation"] == "RAG"
    answers = {f["question"]: f["answer"] for f in out["findings"]}
    assert answers["Is there enough high-quality data to train on?"] is False
    assert answers["Must answers be traceable to their sources?"] is True
    assert any("210 training examples" in f["evidence"] for f in out["findings"])
    assert any("too little training data" in r for r in out["reasons"])


def test_merged_adapter_exports_gguf_that_llamacpp_runs(smollm2_adapter: Path, tmp_path: Path) -> None:
    from industry_expert.finetune.merge import merge
    from industry_expert.models.generators import generate, load_generator

    report = merge(smollm2_adapter, tmp_path / "merged", gguf=True)
    f16, q = (Path(p) for p in report.gguf)
    assert f16.name == "model-f16.gguf" and q.name == "model-q4_k_m.gguf"
    assert q.stat().st_size < f16.stat().st_size
    gen = load_generator(str(q))
    assert gen.id == "gguf:model-q4_k_m.gguf"
    assert "<|im_start|>assistant" in gen.render([{"role": "user", "content": "hi"}])  # template carried over
    assert generate(gen, [{"role": "user", "content": "What is the Blue Flush?"}], max_tokens=8)


def test_raft_examples_hold_oracle_and_distractors(sample_kb: Path, tmp_path: Path) -> None:
    from industry_expert.finetune.data import load_examples
    from industry_expert.finetune.synth import write_from_kb
    from industry_expert.generate.prompts import NOT_COVERED, shown_source

    r = write_from_kb(sample_kb, tmp_path / "raft.jsonl", raft=True, limit=25, seed=1)
    rows = [json.loads(line) for line in (tmp_path / "raft.jsonl").read_text().splitlines()]
    assert r["examples"] == 25 and len(load_examples(tmp_path / "raft.jsonl")) == 25
    # no chunk of the fifth reserved for `eval generate` appears in any example, distractors included
    reserved = _eval_chunk_ids(sample_kb)
    shown = {cid for x in rows for cid in x["chunk_ids"]}
    assert len(shown) > 50 and not shown & reserved
    assert all(x["chunk_id"] not in reserved for x in rows)
    with_oracle = [x for x in rows if x["oracle"]]
    assert with_oracle and len(with_oracle) < 25  # some examples carry distractors only
    for x in rows:
        user, answer = x["messages"][1]["content"], x["messages"][-1]["content"]
        assert user.count("<passage id=") >= 3 and "Question:" in user
        if x["oracle"]:
            n = int(answer.split("[")[1].split("]")[0])
            passage = user.split(f'<passage id="{n}"')[1].split("</passage>")[0]
            # prose answers are the passage's own sentences, each followed by its [n]
            said = [p for p in re.split(r"\s*\[\d+\]\s*", answer) if p.strip()]
            flat = " ".join(passage.split())
            quoted = 'The passage says: "' in answer or all(" ".join(p.split()) in flat for p in said)
            assert shown_source(x["source"]) in passage and quoted
        else:
            assert answer == NOT_COVERED


def _measured(eval_dir: Path, tmp_path: Path, correct: dict[str, float], significant: bool) -> Path:
    """The real ``expert eval`` summary with its correctness (and the rag vs rag+fine-tuned test) set."""
    summary = json.loads((eval_dir / "summary.json").read_text())
    correct = {"base": 0.05, "fine-tuned": 0.1, **correct}
    for system, value in correct.items():
        summary["summary"][system]["correct"] = value
    for c in summary["comparisons"]:
        if {c["better"], c["than"]} == {"rag", "rag+fine-tuned"}:
            better = max(("rag", "rag+fine-tuned"), key=correct.__getitem__)
            c.update(
                better=better, than=({"rag", "rag+fine-tuned"} - {better}).pop(), significant=significant
            )
            c["p_value"] = 0.004 if significant else 0.5
    out = tmp_path / f"eval-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def test_advise_both_reads_the_measurement(eval_dir: Path, tmp_path: Path) -> None:
    """'both' (the rule for a business flow) is checked against the evaluation: it stands where RAG
    + fine-tuned is best or not measurably worse, and gives way to RAG where RAG is significantly better."""
    p = Profile(_kb(), None)
    unmeasured = advise(p, business_flow=True)
    assert unmeasured.recommendation == "both" and any("not measured yet" in r for r in unmeasured.reasons)
    stands = advise(
        p,
        business_flow=True,
        eval_dir=_measured(eval_dir, tmp_path, {"rag": 0.36, "rag+fine-tuned": 0.52}, True),
    )
    assert stands.rule_recommendation == stands.recommendation == "both"
    assert stands.measured and stands.measured["winner"] == "rag+fine-tuned"
    assert any("rag+fine-tuned 52%" in r and "the rule of thumb stands" in r for r in stands.reasons)
    loses = advise(
        p,
        business_flow=True,
        eval_dir=_measured(eval_dir, tmp_path, {"rag": 0.52, "rag+fine-tuned": 0.36}, True),
    )
    assert loses.rule_recommendation == "both" and loses.recommendation == "RAG"
    assert any("overrides the rule of thumb" in r and "McNemar p=0.004" in r for r in loses.reasons)
    close = advise(
        p,
        business_flow=True,
        eval_dir=_measured(eval_dir, tmp_path, {"rag": 0.40, "rag+fine-tuned": 0.36}, False),
    )
    assert close.recommendation == "both"  # not measurably worse: the rule stands
