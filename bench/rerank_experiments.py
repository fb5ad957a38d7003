"""Does a reranking stage over the shipped hybrid's top candidates make it at least as good as its
best single retriever on every question set, without tuning on the set it is reported on?

    python bench/rerank_experiments.py      # KBs from bench/retrieval_loo.py under bench/out
    RERANK_SETS=sqlite UPR_SETS= python bench/rerank_experiments.py   # one set, no UPR (dev)

Signals, all from the bundled all-MiniLM-L6-v2 (no cross-encoder weights exist offline), computed
on the ``TOP`` best chunks of the shipped hybrid (z-score 0.5/0.5, summary 0.1, adaptive 1):

- ``maxsim_all``: late interaction (ColBERT-style MaxSim): the mean over the query's tokens of
  the best cosine with any of the chunk's tokens, both the embedder's own contextual token vectors
  (L2 normalised; [CLS]/[SEP] and punctuation-only tokens left out); ``retrieve/rerank.py``.
- ``maxsim``: the same without the query's stop-word tokens.
- ``maxsim_all_int8`` / ``_pca128`` / ``_pca64``: the chunk tokens as a token store would keep
  them: int8 per token, or projected on the 128/64 main axes of the KB's own token vectors.
- ``maxsim_all@5`` / ``@10``: only the top 5/10 reranked (cheaper to encode at query time).
- ``maxsim_int8enc@10``: query and top 10 encoded by the int8 ONNX variant of the encoder.
- ``sentmax``: the best cosine between the query vector and a sentence of the chunk, a sentence
  being the mean of the chunk's own token vectors over its span (free at ingest time).
- ``sentmax_sep``: the same with each sentence embedded on its own (an extra encoder pass).
- ``dense``: the chunk's stored dense cosine (control: is a signal more than extra dense weight?).
- ``upr``: the bundled generator's mean log p(question | passage) (Sachan et al. 2022) over the
  top 5, on the sets in ``UPR_SETS`` only (about a second per passage on one thread).

Each signal reranks the top ``TOP`` alone (``w = inf``) or fused with the hybrid score:
``z(hybrid) + w * z(signal)`` over those candidates (``fusion.normalize_scores``). ``w`` is chosen
leave-one-corpus-out over the five design sets (same objective as bench/retrieval_loo.py: the
largest worst-case margin over the best single retriever) and, chosen on all five, reported
prospectively on the sets never used for design (pylib, apache). Metrics are retrieval_loo's
(document level, cached candidates, no near-duplicate collapsing, the same for every row).
"""

from __future__ import annotations

import functools
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import OUT, QUESTIONS, machine, write_results
from retrieval_loo import DESIGN_SETS, FROZEN_DEFAULT, Cached, choose, metrics, summarize

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpora"))
from fetch import corpus_names, questions_path  # noqa: E402

from industry_expert.config import RetrieveSettings  # noqa: E402
from industry_expert.evaluate.questions import Question, load_questions  # noqa: E402
from industry_expert.kb import KnowledgeBase  # noqa: E402
from industry_expert.retrieve.hybrid import fuse  # noqa: E402
from industry_expert.retrieve.rerank import (  # noqa: E402
    SPECIAL,
    TokenVectors,
    maxsim,
    maxsim_scores,
    rerank,
    token_vectors,
)
from industry_expert.store.text_query import STOP_WORDS  # noqa: E402
from industry_expert.types import section_text  # noqa: E402

TOP = 20
"""Hybrid candidates reranked per query."""
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, float("inf"))
"""Weight of the reranking signal beside the hybrid score (0: hybrid alone; inf: signal alone)."""
BASE_SIGNALS = (
    "maxsim",
    "maxsim_all",
    "maxsim_all_int8",
    "maxsim_all_pca128",
    "maxsim_all_pca64",
    "sentmax",
    "sentmax_sep",
    "dense",
)
INT8_TOP = 10
"""``maxsim_int8enc@10``: query and top-10 chunks encoded by the int8 ONNX variant of the same
model (about 2.5x faster; a candidate for encoding at query time without a token store)."""
SHORTER = (5, 10)
"""``maxsim_all@N``: the same signal over the top N only (cheaper when encoded at query time)."""
SIGNALS = (*BASE_SIGNALS, *(f"maxsim_all@{n}" for n in SHORTER), f"maxsim_int8enc@{INT8_TOP}")
PROSPECTIVE = ("pylib", "apache")
UPR_TOP = 5
CACHE = OUT / "rerank-cache"
_SENTENCE = re.compile(r"[^\n.!?]+(?:[.!?]+|$)", re.MULTILINE)
SHIPPED = RetrieveSettings(**FROZEN_DEFAULT)


# -- signals over cached candidates ---------------------------------------------------------------


def stop_filtered(text: str, enc: TokenVectors) -> np.ndarray:
    """Content token vectors without the tokens of stop words (the ``maxsim`` variant)."""
    keep = [
        r
        for r, (tok, (a, b)) in enumerate(zip(enc.tokens, enc.offsets))
        if tok not in SPECIAL
        and any(ch.isalnum() for ch in tok)
        and _word_at(text, a, b).lower() not in STOP_WORDS
    ]
    return enc.vectors[keep] if keep else enc.content()


def _word_at(text: str, a: int, b: int) -> str:
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    return text[a:b]


def sentence_vectors(text: str, enc: TokenVectors) -> np.ndarray:
    """Unit mean vectors of the chunk's token vectors over each sentence (contextual spans)."""
    rows = []
    for m in _SENTENCE.finditer(text):
        span = [r for r, (a, b) in enumerate(enc.offsets) if b > a and a >= m.start() and b <= m.end()]
        if span:
            v = enc.vectors[span].mean(axis=0)
            rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
    return np.asarray(rows) if rows else enc.pooled[None, :]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if any(ch.isalnum() for ch in s)] or [text]


def int8(vectors: np.ndarray) -> np.ndarray:
    """Per-token symmetric int8 quantisation, dequantised (what an int8 token store returns)."""
    scale = np.maximum(np.abs(vectors).max(axis=1, keepdims=True), 1e-12) / 127
    return np.round(vectors / scale).astype(np.int8).astype(np.float32) * scale


def pca(tokens: np.ndarray, dims: int) -> np.ndarray:
    """Projection onto the ``dims`` main axes of a KB's token vectors (fitted on them alone)."""
    cov = np.cov(tokens.T.astype(np.float64))
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, ::-1][:, :dims].astype(np.float32)


def project(vectors: np.ndarray, axes: np.ndarray) -> np.ndarray:
    out = vectors @ axes
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@functools.cache
def int8_encoder() -> Any:
    from industry_expert.models.onnx_embedder import bundled_onnx_int8

    return bundled_onnx_int8()


@dataclass
class ChunkRep:
    text: str
    tokens: np.ndarray  # content token vectors (no special / punctuation tokens)
    sents: np.ndarray  # contextual sentence vectors
    sents_sep: np.ndarray  # sentences embedded on their own
    dense: np.ndarray  # the chunk's stored vector (control: reranking by more dense weight)


def chunk_text(hit: Any) -> str:
    """What was embedded for the chunk (``Chunk.embed_text``: section path, then the text)."""
    return section_text(hit.section, hit.text)


def chunk_reps(kb: KnowledgeBase, ids: list[int]) -> dict[int, ChunkRep]:
    hits = kb.store.hits(ids)
    texts = [chunk_text(hits[i]) for i in ids]
    encs = token_vectors(kb.embedder, texts)
    vectors = kb.store.vectors(ids)
    parts = [sentences(t) for t in texts]
    flat = kb.embed([s for p in parts for s in p])
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return {
        cid: ChunkRep(
            text, enc.content(), sentence_vectors(text, enc), flat[bounds[j] : bounds[j + 1]], vectors[j]
        )
        for j, (cid, text, enc) in enumerate(zip(ids, texts, encs))
    }


class Reranked(Cached):
    """retrieval_loo's cached candidates plus each question's top-``TOP`` reranking signals."""

    def __init__(self, name: str, kb_path: Path, questions: list[Question]) -> None:
        super().__init__(kb_path, questions)
        self.name = name
        self.kb_path = kb_path
        self.hybrid_ranked = [fuse(c, SHIPPED)[0] for c in self.cands]
        with KnowledgeBase.open(kb_path) as kb:
            ids = list(dict.fromkeys(cid for r in self.hybrid_ranked for cid, _ in r[:TOP]))
            t0 = time.perf_counter()
            self.reps = chunk_reps(kb, ids)
            self.encode_s = time.perf_counter() - t0
            self.int8 = self._int8_tokens()
            all_tokens = np.concatenate([r.tokens for r in self.reps.values()])
            self.axes = {d: pca(all_tokens, d) for d in (128, 64)}
            self.signals = [
                self._signals(kb, q.question, r[:TOP]) for q, r in zip(questions, self.hybrid_ranked)
            ]

    def _int8_tokens(self) -> dict[int, np.ndarray]:
        ids = list(dict.fromkeys(cid for r in self.hybrid_ranked for cid, _ in r[:INT8_TOP]))
        encs = token_vectors(int8_encoder(), [self.reps[c].text for c in ids])
        return {c: e.content() for c, e in zip(ids, encs)}

    def _signals(self, kb: KnowledgeBase, query: str, top: list) -> dict[str, np.ndarray]:
        enc = token_vectors(kb.embedder, [query])[0]
        q_all, q_content = enc.content(), stop_filtered(query, enc)
        out: dict[str, list[float]] = {s: [] for s in BASE_SIGNALS}
        for cid, _ in top:
            rep = self.reps[cid]
            out["maxsim"].append(maxsim(q_content, rep.tokens))
            out["maxsim_all"].append(maxsim(q_all, rep.tokens))
            out["maxsim_all_int8"].append(maxsim(q_all, int8(rep.tokens)))
            for d, axes in self.axes.items():
                out[f"maxsim_all_pca{d}"].append(maxsim(project(q_all, axes), project(rep.tokens, axes)))
            out["sentmax"].append(float((rep.sents @ enc.pooled).max()))
            out["sentmax_sep"].append(float((rep.sents_sep @ enc.pooled).max()))
            out["dense"].append(float(rep.dense @ enc.pooled))
        sig = {s: np.asarray(v) for s, v in out.items()}
        for n in SHORTER:
            sig[f"maxsim_all@{n}"] = sig["maxsim_all"][:n]
        q8 = token_vectors(int8_encoder(), [query])[0].content()
        sig[f"maxsim_int8enc@{INT8_TOP}"] = np.asarray([maxsim(q8, self.int8[c]) for c, _ in top[:INT8_TOP]])
        return sig

    def evaluate(self, signal: str, w: float) -> dict[str, float]:
        return summarize(
            [
                metrics(self.docs(rerank(self.hybrid_ranked[i], self.signals[i][signal], w)), q.gold_sources)
                for i, q in enumerate(self.questions)
                if signal in self.signals[i]
            ]
        )


class UPR:
    """Unsupervised passage reranking: the bundled generator's mean log p(question | passage)."""

    prompt = "Passage: {passage}\n\nWrite a question that this passage answers."

    def __init__(self) -> None:
        from llama_cpp import Llama

        from industry_expert.models.llamacpp import bundled_gguf

        self.llm = Llama(
            model_path=str(bundled_gguf()),
            n_ctx=1024,
            n_threads=1,
            n_threads_batch=1,
            logits_all=True,
            verbose=False,
        )
        self.template = self.llm.metadata["tokenizer.chat_template"]

    def score(self, passage: str, question: str) -> float:
        from industry_expert.models.templates import render

        text = render(self.template, [{"role": "user", "content": self.prompt.format(passage=passage)}])
        head = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)[-800:]
        q = self.llm.tokenize(question.encode("utf-8"), add_bos=False, special=False)
        self.llm.reset()
        self.llm.eval(head + q)
        logits = np.asarray(self.llm.scores[len(head) - 1 : len(head) + len(q) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        logp = logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))
        return float(logp[np.arange(len(q)), q].mean())


def add_upr(data: Reranked, kb_path: Path, scorer: UPR, top: int) -> float:
    """Adds the ``upr`` signal over the top ``top`` candidates; returns seconds per query."""
    t0 = time.perf_counter()
    with KnowledgeBase.open(kb_path) as kb:
        for i, q in enumerate(data.questions):
            ids = [cid for cid, _ in data.hybrid_ranked[i][:top]]
            hits = kb.store.hits(ids)
            data.signals[i]["upr"] = np.asarray([scorer.score(chunk_text(hits[c]), q.question) for c in ids])
    return (time.perf_counter() - t0) / max(1, len(data.questions))


def question_sets() -> dict[str, tuple[Path, list[Question]]]:
    """The KBs bench/retrieval_loo.py ingested (opened as they are: no re-ingest here)."""
    sets = {"kestrel": (OUT / "kestrel-kb", load_questions(QUESTIONS))}
    for name in corpus_names():
        if questions_path(name).is_file():
            sets[name] = (OUT / f"{name}-kb", load_questions(questions_path(name)))
    for name, (kb, _) in sets.items():
        if not (kb / "manifest.json").is_file():
            raise SystemExit(f"{kb}: no KB for {name}; run bench/retrieval_loo.py first")
    return {n: (kb, [q for q in qs if q.answerable]) for n, (kb, qs) in sets.items()}


# -- leave-one-corpus-out choice of the weight, prospective test, cost ---------------------------


def label(w: float) -> str:
    return "alone" if w == float("inf") else f"{w:g}"


def loo_rotations(table: dict[str, list[dict]], best: dict[str, float], design: list[str]) -> list[dict]:
    """For each held-out design set: the weight best on the other four, graded on it."""
    rows: list[dict] = []
    for held in design if len(design) > 1 else []:
        train = [n for n in design if n != held]
        i = choose(train, table, best)
        res = table[held][i]
        rows.append(
            {
                "held_out": held,
                "weight": label(WEIGHTS[i]),
                "result": res,
                "margin": round(res["mrr@10"] - best[held], 4),
            }
        )
    return rows


def latency(data: Reranked, n: int = 15) -> dict[str, Any]:
    """Added cost per query on one thread: the query's token vectors, MaxSim over the top ``TOP``
    read from a precomputed fp16 token file (memory-mapped, as an ingest-time store would be),
    and, with nothing precomputed, encoding the top 5/10/20 candidates at query time."""
    ids = list(data.reps)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{data.name}-tokens.npy"
    np.save(path, np.concatenate([data.reps[c].tokens for c in ids]).astype(np.float16))
    ends = np.cumsum([len(data.reps[c].tokens) for c in ids])
    span = {c: (int(e) - len(data.reps[c].tokens), int(e)) for c, e in zip(ids, ends)}
    stored = np.load(path, mmap_mode="r")
    times: dict[str, list[float]] = {"query_tokens": [], "maxsim_precomputed_top20": []}
    times.update({f"encode_and_maxsim_top{k}": [] for k in (5, 10, 20)})
    times[f"encode_and_maxsim_top{INT8_TOP}_int8_encoder"] = []
    with KnowledgeBase.open(data.kb_path) as kb:
        for i, q in enumerate(data.questions[:n]):
            top = data.hybrid_ranked[i][:TOP]
            t0 = time.perf_counter()
            qv = token_vectors(kb.embedder, [q.question])[0].content()
            t1 = time.perf_counter()
            sig = [maxsim(qv, np.asarray(stored[slice(*span[c])], dtype=np.float32)) for c, _ in top]
            rerank(top, sig, 3.0)
            times["query_tokens"].append(t1 - t0)
            times["maxsim_precomputed_top20"].append(time.perf_counter() - t1)
            for k in (5, 10, 20):
                t2 = time.perf_counter()
                hits = kb.store.hits([c for c, _ in top[:k]])
                rerank(
                    top[:k],
                    maxsim_scores(kb.embedder, q.question, [chunk_text(hits[c]) for c, _ in top[:k]]),
                    3.0,
                )
                times[f"encode_and_maxsim_top{k}"].append(time.perf_counter() - t2)
            t3 = time.perf_counter()
            hits = kb.store.hits([c for c, _ in top[:INT8_TOP]])
            texts = [chunk_text(hits[c]) for c, _ in top[:INT8_TOP]]
            rerank(top[:INT8_TOP], maxsim_scores(int8_encoder(), q.question, texts), 3.0)
            times[f"encode_and_maxsim_top{INT8_TOP}_int8_encoder"].append(time.perf_counter() - t3)
    path.unlink()
    tokens = statistics.mean(len(r.tokens) for r in data.reps.values())
    return {
        "set": data.name,
        "queries": n,
        "ms": {k: round(1000 * statistics.median(v), 2) for k, v in times.items()},
        "content_tokens_per_chunk": round(tokens, 1),
        "bytes_per_chunk": {
            "fp16": round(tokens * 384 * 2),
            "int8": round(tokens * (384 + 4)),
            "pca128_int8": round(tokens * (128 + 4)),
        },
    }


def choose_joint(names: list[str], tables: dict, best: dict) -> tuple[str, float]:
    """(signal, weight) best on ``names`` over every signal and weight (retrieval_loo's objective)."""
    combos = [(s, w) for s in SIGNALS for w in WEIGHTS]
    flat = {n: [tables[s][n][WEIGHTS.index(w)] for s, w in combos] for n in names}
    return combos[choose(names, flat, best)]


def joint_pick(design: list[str], tables: dict, best: dict) -> dict[str, str]:
    signal, weight = choose_joint(design, tables, best)
    return {"signal": signal, "weight": label(weight)}


def joint_rotations(design: list[str], tables: dict, best: dict) -> list[dict]:
    rows = []
    for held in design:
        s, w = choose_joint([n for n in design if n != held], tables, best)
        res = tables[s][held][WEIGHTS.index(w)]
        rows.append(
            {
                "held_out": held,
                "signal": s,
                "weight": label(w),
                "result": res,
                "margin": round(res["mrr@10"] - best[held], 4),
            }
        )
    return rows


def run_upr(data: dict[str, Reranked], names: list[str], top: int) -> dict[str, Any]:
    """UPR on a few sets (about a second per passage on one thread): per set, every weight."""
    if not names:
        return {}
    scorer = UPR()
    per_query = {n: round(add_upr(data[n], data[n].kb_path, scorer, top), 2) for n in names}
    return {"top": top, "seconds_per_query": per_query, "sets": names}


def main() -> None:
    t0 = time.perf_counter()
    sets = question_sets()
    only = [s for s in os.environ.get("RERANK_SETS", "").split(",") if s]
    sets = {n: v for n, v in sets.items() if not only or n in only}
    data = {}
    for n, (kb, qs) in sets.items():
        data[n] = Reranked(n, kb, qs)
        print(
            f"{n}: {len(qs)} questions, {len(data[n].reps)} chunks encoded in {data[n].encode_s:.0f} s",
            file=sys.stderr,
        )
    upr_sets = [n for n in os.environ.get("UPR_SETS", "policy,handbook").split(",") if n in data]
    upr = run_upr(data, upr_sets, UPR_TOP)
    singles = {
        n: {m: d.single(m) for m in ("dense", "bm25")} | {"hybrid": d.evaluate("dense", 0.0)}
        for n, d in data.items()
    }
    best = {n: max(v["dense"]["mrr@10"], v["bm25"]["mrr@10"]) for n, v in singles.items()}
    tables = {s: {n: [d.evaluate(s, w) for w in WEIGHTS] for n, d in data.items()} for s in SIGNALS}
    if upr:
        upr["table"] = {n: [data[n].evaluate("upr", w) for w in WEIGHTS] for n in upr_sets}
    design = [n for n in data if n in DESIGN_SETS] or list(data)
    results = {
        "machine": machine(),
        "top": TOP,
        "weights": [label(w) for w in WEIGHTS],
        "singles": singles,
        "best_single_mrr": best,
        "tables": tables,
        "rotations": {s: loo_rotations(tables[s], best, design) for s in SIGNALS},
        "picks": {s: label(WEIGHTS[choose(design, tables[s], best)]) for s in SIGNALS},
        "joint_rotations": joint_rotations(design, tables, best) if len(design) > 1 else [],
        "joint_pick": joint_pick(design, tables, best),
        "cost": latency(next(iter(data.values()))),
        "upr": upr,
        "seconds": round(time.perf_counter() - t0),
    }
    write_results("rerank_experiments", results, report(results, data))


def report(r: dict[str, Any], data: dict[str, Reranked]) -> str:
    best, singles, tables = r["best_single_mrr"], r["singles"], r["tables"]
    js, jw = r["joint_pick"]["signal"], r["joint_pick"]["weight"]
    lines = [
        f"Reranking the shipped hybrid's top {TOP} (document level, cached candidates as in "
        f"retrieval_loo's grid, no near-duplicate collapsing; {r['seconds']} s). "
        "margin = MRR@10 minus the better of dense and BM25 on that set.",
        "",
        f"## Joint choice of (signal, weight) on the five design sets: `{js}`, w = {jw}",
        "",
        "Leave-one-corpus-out: each design set graded with the (signal, weight) chosen on the other four.",
        "",
        "| held-out | chosen on the other four | hit@1 | hit@5 | MRR@10 | margin |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["joint_rotations"]:
        m = row["result"]
        lines.append(
            f"| {row['held_out']} | {row['signal']}, w={row['weight']} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} | {row['margin']:+.3f} |"
        )
    lines += [
        "",
        f"Every set with `{js}`, w = {jw} (chosen on the design sets; prospective on "
        f"{', '.join(n for n in PROSPECTIVE if n in data)}):",
        "",
        "| set | q | dense hit@1 / MRR | BM25 hit@1 / MRR | hybrid hit@1 / hit@5 / MRR (margin) | reranked hit@1 / hit@5 / MRR (margin) |",
        "|---|---|---|---|---|---|",
    ]
    w = WEIGHTS[[label(x) for x in WEIGHTS].index(jw)]
    for n, d in data.items():
        sd, sb, h, x = (
            singles[n]["dense"],
            singles[n]["bm25"],
            singles[n]["hybrid"],
            tables[js][n][WEIGHTS.index(w)],
        )
        lines.append(
            f"| {n}{' (prospective)' if n in PROSPECTIVE else ''} | {len(d.questions)} | {sd['hit@1']:.3f} / {sd['mrr@10']:.3f} | "
            f"{sb['hit@1']:.3f} / {sb['mrr@10']:.3f} | {h['hit@1']:.3f} / {h['hit@5']:.3f} / {h['mrr@10']:.3f} ({h['mrr@10'] - best[n]:+.3f}) | "
            f"{x['hit@1']:.3f} / {x['hit@5']:.3f} / {x['mrr@10']:.3f} ({x['mrr@10'] - best[n]:+.3f}) |"
        )
    lines += [
        "",
        "## Each signal alone: weight chosen on the design sets, held-out margins",
        "",
        "LOO: the weight chosen on four design sets, margin on the fifth; worst of the five. Prospective: "
        "the weight chosen on all five, margin on pylib and apache.",
        "",
        "| signal | w (all 5) | LOO margins (kestrel, git, handbook, policy, sqlite order of the sets) | worst LOO | "
        + " | ".join(f"{n} margin / hit@1" for n in PROSPECTIVE if n in data)
        + " |",
        "|---|---|---|---|" + "---|" * len([n for n in PROSPECTIVE if n in data]),
    ]
    for s in SIGNALS:
        rot = r["rotations"][s]
        pw = WEIGHTS[[label(x) for x in WEIGHTS].index(r["picks"][s])]
        pro = [tables[s][n][WEIGHTS.index(pw)] for n in PROSPECTIVE if n in data]
        pro_cells = [
            f"{m['mrr@10'] - best[n]:+.3f} / {m['hit@1']:.3f}"
            for m, n in zip(pro, [n for n in PROSPECTIVE if n in data])
        ]
        lines.append(
            f"| {s} | {r['picks'][s]} | "
            + ", ".join(f"{x['held_out']} {x['margin']:+.3f} (w={x['weight']})" for x in rot)
            + f" | {min((x['margin'] for x in rot), default=0):+.3f} | "
            + " | ".join(pro_cells)
            + " |"
        )
    lines += [
        "",
        "## MRR@10 margin for every weight (w=0: the shipped hybrid; alone: the signal alone)",
        "",
        "| signal | set | " + " | ".join(r["weights"]) + " |",
        "|---|---|" + "---|" * len(WEIGHTS),
    ]
    for s in SIGNALS:
        for n in data:
            lines.append(
                f"| {s} | {n} | " + " | ".join(f"{m['mrr@10'] - best[n]:+.3f}" for m in tables[s][n]) + " |"
            )
    if r["upr"]:
        u = r["upr"]
        lines += [
            "",
            f"## UPR: the bundled SmolLM2-135M's mean log p(question | passage) over the top {u['top']} "
            f"({', '.join(f'{n}: {v} s/query' for n, v in u['seconds_per_query'].items())}, 1 thread)",
            "",
            "| set | " + " | ".join(r["weights"]) + " | hit@1 alone |",
            "|---|" + "---|" * (len(WEIGHTS) + 1),
        ]
        for n, rows in u["table"].items():
            lines.append(
                f"| {n} | "
                + " | ".join(f"{m['mrr@10'] - best[n]:+.3f}" for m in rows)
                + f" | {rows[-1]['hit@1']:.3f} |"
            )
    c = r["cost"]
    lines += [
        "",
        f"## Added cost per query (median ms, 1 thread, first {c['queries']} questions of {c['set']})",
        "",
        "| step | ms |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in c["ms"].items()]
    lines += [
        "",
        f"Token store if precomputed at ingest: {c['content_tokens_per_chunk']} content tokens per chunk; "
        + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in c["bytes_per_chunk"].items())
        + " per chunk.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
