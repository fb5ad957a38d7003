"""RAFT training data teaches exactly the task `expert ask` sets: the training prompt is the prompt
`ask` renders for the same passages, byte for byte, and the answer cites and copies the passage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.config import AnswerSettings
from industry_expert.finetune.synth import cited_answer, write_from_kb
from industry_expert.generate.prompts import NOT_COVERED
from industry_expert.generate.stream import Checker, SentenceSplitter

pytestmark = pytest.mark.slow


def test_raft_prompt_is_the_prompt_ask_renders(sample_kb: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from industry_expert.finetune.data import load_examples
    from industry_expert.finetune.encode import IGNORE, encode
    from industry_expert.finetune.lora import chat_template
    from industry_expert.generate.context import prepare
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.checkpoints import bundled_hf_checkpoint
    from industry_expert.models.generators import load_generator

    write_from_kb(sample_kb, tmp_path / "raft.jsonl", raft=True, phrasings=1, limit=10, seed=3)
    rows = [json.loads(line) for line in (tmp_path / "raft.jsonl").read_text().splitlines()]
    gen = load_generator()  # what `expert ask` answers with
    tok = AutoTokenizer.from_pretrained(bundled_hf_checkpoint())  # what `expert finetune` trains
    template = chat_template(tok, "llama")
    examples = load_examples(tmp_path / "raft.jsonl")
    with KnowledgeBase.open(sample_kb) as kb:
        for row, ex in zip(rows, examples):
            question = row["messages"][1]["content"].rsplit("Question: ", 1)[1]
            by_id = kb.store.hits(row["chunk_ids"])
            _, _, asked = prepare(gen, question, [by_id[c] for c in row["chunk_ids"]], AnswerSettings())
            enc = encode(ex, tok, template)
            prompt_ids = enc.ids[: enc.labels.index(next(x for x in enc.labels if x != IGNORE))]
            assert tok.decode(prompt_ids) == asked  # the trained prompt = the prompt ask renders
            answer = row["messages"][-1]["content"]
            assert tok.decode([t for t in enc.labels if t != IGNORE]).startswith(answer)


def test_raft_answers_pass_the_citation_check(sample_kb: Path, tmp_path: Path) -> None:
    from industry_expert.kb import KnowledgeBase

    write_from_kb(sample_kb, tmp_path / "raft.jsonl", raft=True, phrasings=1, limit=30, seed=5)
    rows = [json.loads(line) for line in (tmp_path / "raft.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in rows if r["oracle"]}
    assert {"raft-row", "raft-section"} <= kinds and any(not r["oracle"] for r in rows)
    s = AnswerSettings()
    with KnowledgeBase.open(sample_kb) as kb:
        for r in rows:
            answer = r["messages"][-1]["content"]
            if not r["oracle"]:
                assert answer == NOT_COVERED
                continue
            by_id = kb.store.hits(r["chunk_ids"])
            hits = [by_id[c] for c in r["chunk_ids"]]
            n = r["chunk_ids"].index(r["chunk_id"]) + 1
            splitter, checker = SentenceSplitter(), Checker([h.text for h in hits], s.support_threshold)
            for segment in splitter.feed(answer) + splitter.finish():  # as `ask` checks a stream
                checker.take(segment)
            # a sentence survives the check with its citation of the passage the answer came from
            # (another sentence may be credited to a second passage that states the same fact)
            assert any(n in k.kept for k in checker.kept), answer


def test_cited_answer_cites_every_sentence_and_quotes_the_passage() -> None:
    passage = "ticket_id | error_code\nT-1 | E-107\nT-2 | E-201"
    got = cited_answer("The error code of T-2 is E-201.", passage, 3)
    assert got == 'The error code of T-2 is E-201. [3] The passage says: "T-2 | E-201" [3]'
    prose = "Vent the pump. Then start it with the valve half open."
    assert cited_answer(prose, prose + " Check the flow.", 2) == (
        "Vent the pump. [2] Then start it with the valve half open. [2]"
    )
