"""Fetch the public benchmark corpora (Debian documentation packages) into a cache folder.

    python bench/corpora/fetch.py            # every corpus under bench/corpora/*/corpus.json
    python bench/corpora/fetch.py sqlite     # one

Each corpus is described by ``bench/corpora/NAME/corpus.json`` (package, root inside the package,
file globs). The package is fetched with ``apt-get download`` (no install, no root needed for the
download itself), unpacked with ``dpkg -x`` and the listed files copied to
``~/.cache/industry-expert/corpora/NAME/`` (or ``$IE_CORPORA``), keeping their paths relative to
the package root: those relative paths are what the question sets' ``gold_sources`` name.
Nothing large is committed; re-running is a no-op once the corpus is there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cache_root() -> Path:
    return Path(os.environ.get("IE_CORPORA", "~/.cache/industry-expert/corpora")).expanduser()


def corpus_names() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/corpus.json"))


def spec(name: str) -> dict:
    path = HERE / name / "corpus.json"
    if not path.is_file():
        raise SystemExit(f"unknown corpus '{name}' (known: {', '.join(corpus_names())})")
    return json.loads(path.read_text(encoding="utf-8"))


def corpus_dir(name: str) -> Path:
    return cache_root() / name


def questions_path(name: str) -> Path:
    return HERE / name / "questions.jsonl"


def _download(package: str, into: Path) -> Path:
    debs = sorted(into.glob(f"{package}_*.deb"))
    if not debs:
        run = subprocess.run(
            ["apt-get", "download", package], cwd=into, capture_output=True, text=True, timeout=600
        )
        debs = sorted(into.glob(f"{package}_*.deb"))
        if run.returncode != 0 or not debs:
            raise SystemExit(
                f"apt-get download {package} failed ({run.stderr.strip()[-300:]}); "
                "run 'apt-get update' once, or copy the .deb into " + str(into)
            )
    return debs[-1]


def fetch(name: str) -> Path:
    """The corpus folder, fetched and unpacked if it is not there yet."""
    s = spec(name)
    target = corpus_dir(name)
    done = target / ".complete"
    if done.is_file():
        return target
    debs = cache_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = _download(s["package"], debs)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg", "-x", str(deb), tmp], check=True, timeout=600)
        root = Path(tmp) / s["root"]
        files = sorted({p for pattern in s["files"] for p in root.glob(pattern) if p.is_file()})
        if not files:
            raise SystemExit(f"{deb.name}: no files match {s['files']} under {s['root']}")
        shutil.rmtree(target, ignore_errors=True)
        for src in files:
            dest = target / src.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
    done.write_text(json.dumps({"package": deb.name, "files": len(files)}) + "\n", encoding="utf-8")
    return target


def main(argv: list[str]) -> None:
    for name in argv or corpus_names():
        path = fetch(name)
        n = sum(1 for p in path.rglob("*") if p.is_file() and p.name != ".complete")
        print(f"{name}: {n} files in {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
