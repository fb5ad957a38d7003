"""Check a corpus question set against the corpus itself.

    python bench/corpora/verify.py [NAME...]

For every answerable question: each gold source exists in the fetched corpus, and its visible
text (tags stripped) matches the question's answer regex, or contains every key fact; the
reference answer matches its own regex. Unanswerable questions have no gold sources. Exit 1 with
one line per problem.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch import corpus_dir, corpus_names, fetch, questions_path  # noqa: E402


def visible_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())


def _matches(text: str, regex: str | None, key_facts: list[str]) -> bool:
    flat = " ".join(text.split())
    if regex and re.search(regex, flat, re.IGNORECASE):
        return True
    return bool(key_facts) and all(f.lower() in flat.lower() for f in key_facts)


def problems(name: str) -> list[str]:
    root = corpus_dir(name)
    out: list[str] = []
    lines = questions_path(name).read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, start=1):
        q = json.loads(line)
        where = f"{questions_path(name)}:{n} ({q['id']})"
        if not q["answerable"]:
            if q["gold_sources"]:
                out.append(f"{where}: unanswerable question with gold sources")
            continue
        if q["regex"] and not re.search(q["regex"], q["answer"], re.IGNORECASE):
            out.append(f"{where}: the reference answer does not match its own regex")
        for gold in q["gold_sources"]:
            path = root / gold
            if not path.is_file():
                out.append(f"{where}: gold source {gold} not in {root}")
            elif not _matches(visible_text(path), q["regex"], q["key_facts"]):
                out.append(f"{where}: {gold} matches neither the regex nor the key facts")
    return out


def main(argv: list[str]) -> None:
    bad: list[str] = []
    for name in argv or corpus_names():
        fetch(name)
        found = problems(name)
        total = len(questions_path(name).read_text(encoding="utf-8").splitlines())
        print(f"{name}: {total} questions, {len(found)} problems")
        bad += found
    print("\n".join(bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
