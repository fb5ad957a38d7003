"""Build an evaluation question set from a KB, with gold sources, from the chunks that training
data generation never uses (``industry_expert.partition``), phrased differently again."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from industry_expert.kb import KnowledgeBase
from industry_expert.partition import kb_chunks as kb_hits
from industry_expert.text import human_column, key_column, split_sentences, table_rows

_FACT = re.compile(r"\b[A-Z]{1,4}-\d[\w\-]*|\b\d+(?:[.,]\d+)?\s?(?:%|[A-Za-z]{1,4}\b)?")


def _source(hit_source: str, data_root: str | None) -> str:
    if data_root and hit_source.startswith(data_root.rstrip("/") + "/"):
        return hit_source[len(data_root.rstrip("/")) + 1 :]
    return hit_source


def questions_from_kb(
    kb_path: str | Path,
    out: str | Path,
    per_chunk: int = 1,
    limit: int | None = None,
    seed: int = 0,
    data_root: str | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with KnowledgeBase.open(kb_path) as kb:
        for hit in kb_hits(kb, "eval"):
            src = _source(hit.source, data_root)
            if hit.type in ("csv", "xlsx", "sqlite"):
                for row in list(table_rows(hit.text))[:per_chunk]:
                    key_col = key_column(row)
                    cols = [c for c in row if c != key_col and row[c]]
                    if not cols:
                        continue
                    col = rng.choice(cols)
                    rows.append(
                        {
                            "question": f"Which {human_column(col)} does {row[key_col]} have?",
                            "answer": f"{row[key_col]} has {human_column(col)} {row[col]}.",
                            "key_facts": [row[col]],
                            "regex": None,
                            "gold_sources": [src],
                            "chunk_id": hit.chunk_id,
                            "type": "table",
                        }
                    )
            else:
                parts = [p.strip() for p in hit.section.split(" > ")]
                sentence = (split_sentences(" ".join(hit.text.split())) or [""])[0]
                facts = [f.strip() for f in _FACT.findall(sentence) if len(f.strip()) >= 2][:2]
                if len(parts) < 2 or len(sentence.split()) < 5:
                    continue
                rows.append(
                    {
                        "question": f"According to the {parts[0]}, what applies to {parts[-1]}?",
                        "answer": sentence,
                        "key_facts": facts,
                        "regex": None,
                        "gold_sources": [src],
                        "chunk_id": hit.chunk_id,
                        "type": "doc",
                    }
                )
    rng.shuffle(rows)
    rows = rows[:limit] if limit else rows
    for i, r in enumerate(rows, start=1):
        r.update({"id": f"gen{i:04d}", "answerable": True})
    Path(out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"out": str(out), "questions": len(rows), "sources": len({r["gold_sources"][0] for r in rows})}
