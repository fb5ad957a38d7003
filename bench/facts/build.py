"""Write the invented fact sets of bench/finetune_defaults.py (deterministic: re-running rewrites the
same files).

A fictional company, Orlavex Dynamics, and 25 products with invented names. Each product has six
facts (code name, lead engineer, plant town, part number, warranty months, support extension) whose
values are made-up words, names and numbers no model has seen. Each fact has three training
phrasings (chat examples; the answer sentence states the fact) and two held-out questions worded
differently from every training phrasing, each with a regex for the fact's value. Warranty months
are drawn from 10 values, so two products may share one (the other values are unique).

Sets (disjoint products, so no fact is in two sets):
  tune12  - 2 products, 12 facts: the ONLY set any default was chosen on;
  a12     - 2 products, 12 facts (36 examples: the issue's case);
  b36     - 6 products, 36 facts (108 examples);
  c90     - 15 products, 90 facts (270 examples).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
CO = "Orlavex"
SETS = {"tune12": 2, "a12": 2, "b36": 6, "c90": 15}

PRODUCTS = [
    "Tarvenn pump", "Quillot gauge", "Mordasi valve", "Pellyx sensor", "Zorrun compressor",
    "Huvvel actuator", "Brandune filter", "Kelpira meter", "Saffrix regulator", "Oxbrand coupler",
    "Nimmoral heater", "Gravik manifold", "Trelsa controller", "Vumber nozzle", "Dresswick chiller",
    "Lornach damper", "Pexolo gasket kit", "Yarrowel blower", "Cindrax mixer", "Fennimar scale",
    "Ubbelot drive", "Wistova relay", "Jorquel hoist", "Ambrettin dryer", "Skellion probe",
]  # fmt: skip
SYL = ["bra", "ven", "tor", "qui", "lex", "mor", "dal", "zin", "pha", "gru", "sel", "nok", "vax",
       "tre", "lum", "kor", "yas", "fen", "dro", "wix", "pell", "osk", "ruv", "hal"]  # fmt: skip
FIRST = ["Idris", "Maren", "Tobiah", "Solvei", "Caspar", "Ninke", "Oswin", "Liesl", "Brannoc",
         "Ysolde", "Fenwick", "Odalys", "Rurik", "Tamsin", "Evander", "Kesia"]  # fmt: skip

# relation: (answer, three training questions, two held-out questions, value kind)
RELATIONS = {
    "codename": (
        "Inside {co}, the {p} goes by the code name {v}.",
        ["What is the code name of the {p}?", "What internal code name does {co} use for the {p}?",
         "Which code name was given to the {p}?"],
        ["Engineers at {co} call the {p} by what project name?", "The {p} was developed under which codename?"],
        "word",
    ),
    "engineer": (
        "The lead engineer of the {p} is {v}.",
        ["Who is the lead engineer of the {p}?", "Which engineer leads the {p} at {co}?",
         "Who heads engineering for the {p}?"],
        ["Name the person in charge of designing the {p}.", "Who should I ask about the {p}'s design, as its chief engineer?"],
        "person",
    ),
    "plant": (
        "The {p} is built at the {co} plant in {v}.",
        ["Where is the {p} manufactured?", "Which {co} plant builds the {p}?",
         "In which town is the {p} made?"],
        ["What town does the {p} come from?", "The factory producing the {p} is located where?"],
        "town",
    ),
    "part": (
        "The part number of the {p} is {v}.",
        ["What is the part number of the {p}?", "Which part number does the {p} have?",
         "What part number should I order for the {p}?"],
        ["To reorder a {p}, which catalogue number do I quote?", "The {p} is listed under what part no.?"],
        "part",
    ),
    "warranty": (
        "The {p} has a warranty of {v} months.",
        ["How long is the warranty on the {p}?", "What warranty period does {co} give the {p}?",
         "For how many months is the {p} under warranty?"],
        ["How many months of guarantee come with a {p}?", "If I buy a {p}, how long is it covered?"],
        "months",
    ),
    "extension": (
        "Support for the {p} is on phone extension {v}.",
        ["What is the support extension for the {p}?", "Which phone extension handles {p} support?",
         "What extension do I dial for help with the {p}?"],
        ["Which internal line do I call when a {p} breaks?", "The {p} helpdesk can be reached on which extension number?"],
        "ext",
    ),
}  # fmt: skip


def _values(rng: random.Random) -> dict[str, list[str]]:
    """Unique invented values per kind, enough for every product."""
    words = {(a + b + c).capitalize() for a in SYL for b in SYL for c in SYL if len({a, b, c}) == 3}
    surnames = {(a + b + "ley").capitalize() for a in SYL for b in SYL if a != b}
    towns = {(a + b + "ham").capitalize() for a in SYL for b in SYL if a != b} | {
        (a + b + "wick").capitalize() for a in SYL for b in SYL if a != b
    }
    n = len(PRODUCTS)
    return {
        "word": rng.sample(sorted(words), n),
        "person": [f"{rng.choice(FIRST)} {s}" for s in rng.sample(sorted(surnames), n)],
        "town": rng.sample(sorted(towns - surnames), n),
        "part": [f"{rng.choice('KQXZ')}{rng.choice('RVW')}-{d}" for d in rng.sample(range(3100, 9900), n)],
        "months": [str(m) for m in rng.choices([13, 17, 19, 23, 29, 31, 37, 41, 43, 47], k=n)],
        "ext": [str(e) for e in rng.sample(range(5100, 8900), n)],
    }


def _regex(kind: str, value: str) -> str:
    if kind == "part":
        return re.escape(value.split("-")[1])
    if kind == "person":
        return r"\b" + re.escape(value.split()[1]) + r"\b"
    return r"\b" + re.escape(value) + r"\b"


def facts() -> list[dict[str, object]]:
    rng = random.Random(20261128)
    values = _values(rng)
    out = []
    for i, p in enumerate(PRODUCTS):
        for rel, (answer, train, held, kind) in RELATIONS.items():
            v = values[kind][i]
            f = {"co": CO, "p": p, "v": v}
            out.append(
                {
                    "id": f"{p.split()[0].lower()}-{rel}",
                    "product": i,
                    "answer": answer.format(**f),
                    "train": [q.format(**f) for q in train],
                    "heldout": [q.format(**f) for q in held],
                    "value": v,
                    "regex": _regex(kind, v),
                }
            )
    return out


def main() -> None:
    all_facts, start = facts(), 0
    for name, n_products in SETS.items():
        chosen = [f for f in all_facts if start <= f["product"] < start + n_products]  # type: ignore[operator]
        start += n_products
        train, held = [], []
        for f in chosen:
            assert not set(f["heldout"]) & set(f["train"])  # type: ignore[arg-type]
            for q in f["train"]:  # type: ignore[attr-defined]
                msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": f["answer"]}]
                train.append({"messages": msgs, "fact": f["id"]})
            for j, q in enumerate(f["heldout"]):  # type: ignore[arg-type]
                held.append({"id": f"{f['id']}-h{j + 1}", "fact": f["id"], "question": q,
                             "answer": f["answer"], "key_facts": [f["value"]], "regex": f["regex"]})  # fmt: skip
        d = HERE / name
        d.mkdir(exist_ok=True)
        for fname, rows in (("train.jsonl", train), ("heldout.jsonl", held)):
            (d / fname).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"{name}: {len(chosen)} facts, {len(train)} training examples, {len(held)} held-out questions")


if __name__ == "__main__":
    main()
