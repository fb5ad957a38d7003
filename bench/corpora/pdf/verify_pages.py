"""Check the PDF question sets against their pages.

    python bench/corpora/pdf/verify_pages.py [NAME...]     # NAME: gutenprint, debmake, gnuplot

For every answerable question: its regex matches the text of each gold page (PDFium's text when
pypdfium2 is installed, else pypdf's), and the other pages it matches are listed (a page that says
the same thing belongs among the gold pages; one that only mentions the term does not). Exit 1 if a
gold page does not match.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fetch import fetch, questions_path  # noqa: E402


def page_texts(pdf: Path) -> list[str]:
    try:
        import pypdfium2 as pdfium
    except ImportError:
        from pypdf import PdfReader

        return [" ".join((p.extract_text() or "").split()) for p in PdfReader(str(pdf)).pages]
    doc = pdfium.PdfDocument(str(pdf))
    return [
        " ".join(doc[i].get_textpage().get_text_range().replace("\ufffe", "").split())
        for i in range(len(doc))
    ]


def check(name: str) -> int:
    pdf = next(fetch(f"pdf/{name}").glob("*.pdf"))
    pages = page_texts(pdf)
    bad = 0
    for line in questions_path(f"pdf/{name}").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if not q.get("answerable", True):
            continue
        rx = re.compile(q["regex"], re.IGNORECASE)
        hits = [n for n, text in enumerate(pages, start=1) if rx.search(text)]
        missing = [p for p in q["gold_pages"] if p not in hits]
        others = [p for p in hits if p not in q["gold_pages"]]
        bad += bool(missing)
        if missing or others:
            print(
                f"{name} {q['id']}: gold {q['gold_pages']}, not matched on {missing}, also matches {others}"
            )
    return bad


def main(argv: list[str]) -> None:
    names = argv or sorted(p.parent.name for p in HERE.glob("*/questions.jsonl"))
    bad = sum(check(n) for n in names)
    print(f"{bad} question(s) with a gold page that does not match")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
