from __future__ import annotations

from industry_expert.config import ChunkSettings
from industry_expert.ingest.chunking import chunk_blocks, count_tokens, pack
from industry_expert.ingest.summarize import summarize
from industry_expert.types import Block

S = ChunkSettings(max_tokens=40, overlap_tokens=10, table_rows_max=3)


def _doc() -> list[Block]:
    long_para = " ".join(f"Sentence number {i} talks about the KF-340 seal." for i in range(12))
    return [
        Block("heading", "Manual", level=1),
        Block("paragraph", "Short intro."),
        Block("heading", "Maintenance", level=2),
        Block("heading", "Seals", level=3),
        Block("paragraph", long_para),
        Block("list_item", "Torque to 45 Nm."),
        Block("heading", "Safety", level=2),
        Block("paragraph", "Wear gloves.", page=3),
    ]


def test_sections_follow_headings_and_never_mix() -> None:
    chunks = chunk_blocks("d", "Manual", _doc(), S)
    sections = [c.section for c in chunks]
    assert sections[0] == "Manual"  # a level-1 heading equal to the title is not repeated
    assert "Manual > Maintenance > Seals" in sections
    assert sections[-1] == "Manual > Safety"
    assert chunks[-1].text == "Wear gloves." and chunks[-1].page == 3
    assert all("Wear gloves" not in c.text for c in chunks[:-1])
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_budget_and_overlap() -> None:
    chunks = [c for c in chunk_blocks("d", "Manual", _doc(), S) if c.section.endswith("Seals")]
    assert len(chunks) >= 3
    assert all(count_tokens(c.text) <= S.max_tokens for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        carried = b.text.split("\n")[0].removeprefix("\u2026 ")
        assert a.text.split("\n")[-1].endswith(carried) and len(carried) > 10  # overlap
    text = "\n".join(c.text for c in chunks)
    assert all(f"number {i} " in text for i in range(12))
    assert "- Torque to 45 Nm." in chunks[-1].text


def test_pack_keeps_everything_without_overlap() -> None:
    units = [f"unit {i} " * 3 for i in range(20)]
    out = pack(units, 30, 0)
    assert "\n".join(out).split("\n") == units


def test_table_groups_repeat_headers_and_cover_rows() -> None:
    rows = [[f"KP-{i:04d}", f"part {i}", str(10 * i)] for i in range(1, 8)]
    block = Block("table", "", header=["part_number", "description", "price_eur"], rows=rows)
    chunks = chunk_blocks("t", "Parts", [block], ChunkSettings(max_tokens=200, table_rows_max=3))
    assert [c.metadata["rows"] for c in chunks] == ["1-3", "4-6", "7-7"]
    for c in chunks:
        for line in c.text.split("\n"):
            assert line.startswith("part_number: KP-") and "price_eur: " in line
    assert sum(len(c.text.split("\n")) for c in chunks) == 7


def test_records_are_passages_with_filterable_fields() -> None:
    blocks = [
        Block("record", "id: SB-1\nseverity: high", meta={"id": "SB-1", "severity": "high"}, header=["SB-1"]),
        Block("record", "id: SB-2\nseverity: low", meta={"id": "SB-2", "severity": "low"}, header=["SB-2"]),
    ]
    chunks = chunk_blocks("r", "Bulletins", blocks, S)
    assert [c.section for c in chunks] == ["Bulletins > SB-1", "Bulletins > SB-2"]
    assert chunks[1].metadata["severity"] == "low"


def test_summaries_are_short_and_describe_tables() -> None:
    s = summarize("Manual", _doc(), max_words=20)
    assert s.startswith("Manual. Short intro.") and "Sections: Maintenance; Seals; Safety." in s
    table = Block("table", "", header=["a", "b"], rows=[["1", "2"], ["3", "4"]])
    assert "2 rows; columns: a, b" in summarize("T", [table])
