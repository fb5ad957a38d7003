from __future__ import annotations

import pytest

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


def test_a_giant_row_or_word_is_split_never_one_giant_chunk() -> None:
    s = ChunkSettings(max_tokens=60, overlap_tokens=10, max_chars=400)
    header = [f"col{i}" for i in range(3000)]
    wide = Block("table", "", header=header, rows=[[f"v{i}" for i in range(3000)], ["a"] * 3000])
    word = Block("paragraph", "Photo: " + "QUJD" * 50_000 + " end of caption.")
    chunks = chunk_blocks("d", "T", [wide, word], s)
    assert all(len(c.text) <= 400 and count_tokens(c.text) <= 60 for c in chunks)
    text = "\n".join(c.text for c in chunks)
    assert "col0: v0" in text and "col2999: v2999" in text and "col2999: a" in text  # nothing dropped
    assert text.count("QUJD") == 50_000 and "end of caption." in text
    assert {c.metadata["rows"] for c in chunks if "rows" in c.metadata} == {"1-1", "2-2"}


def test_inline_base64_images_are_not_indexed() -> None:
    block = Block("paragraph", "See ![pump](data:image/png;base64," + "iVBORw0K" * 10_000 + ") here.")
    (chunk,) = chunk_blocks("d", "T", [block], S)
    assert chunk.text == "See ![pump]([embedded data]) here."


@pytest.mark.slow
def test_chunks_fit_the_bundled_embedders_window_by_its_own_tokenizer(sample_data) -> None:  # type: ignore[no-untyped-def]
    """Counted with MiniLM's tokenizer, no chunk (section path + text + [CLS]/[SEP]) exceeds its
    256-token window, even with a chunk budget above the window and text the approximate count
    underestimates (CJK, long numbers, symbols)."""
    from industry_expert.ingest.formats import loader_for
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder.bundled()
    assert emb.max_tokens == 256
    words = ["Pumpenlaufradschaufelverschleißprüfung", "保修期为二十四个月。", "0x7f3a9c2e1b", "§±∞≈≠"]
    tricky = Block("paragraph", " ".join(words * 200))
    docs = [(p.title, p.blocks) for f in sorted(sample_data.rglob("*.md"))[:6] for p in loader_for(f)(f)]
    docs.append(("Tricky " * 60, [Block("heading", "Deep " * 80, level=2), tricky]))
    s = ChunkSettings(max_tokens=400, overlap_tokens=40)
    for title, blocks in docs:
        for c in chunk_blocks("d", title, blocks, s, count=emb.count_tokens, window=emb.max_tokens):
            assert emb.count_tokens(c.embed_text()) + 2 <= 256
    approx = chunk_blocks("d", "Tricky " * 60, [tricky], ChunkSettings())  # the old way: approximate
    assert max(emb.count_tokens(c.embed_text()) for c in approx) > 256  # what the tokenizer prevents
