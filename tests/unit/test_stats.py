"""Evaluation statistics: Wilson intervals for rates, exact McNemar and Newcombe's paired interval
between systems, bootstrap for continuous metrics; n beside every rate in the summary and report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from industry_expert.evaluate.report import write_html
from industry_expert.evaluate.run import EvalReport, aggregate, compare
from industry_expert.evaluate.stats import (
    bootstrap_ci,
    mcnemar_exact,
    newcombe_paired_ci,
    proportion_ci,
    wilson_ci,
)

Z = 1.959963984540054


def _wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 16), (6, 16), (16, 16), (25, 99), (1, 3)])
def test_wilson_interval_matches_the_formula(k: int, n: int) -> None:
    lo, hi = wilson_ci(k, n)
    want = _wilson_by_formula(k, n)
    assert lo == pytest.approx(max(0.0, want[0]), abs=1e-9) and hi == pytest.approx(
        min(1.0, want[1]), abs=1e-9
    )


def test_zero_of_sixteen_is_not_a_zero_width_interval() -> None:
    lo, hi = proportion_ci([0.0] * 16 + [float("nan")] * 3)  # NaN: not applicable, not counted
    assert lo == 0.0 and hi == pytest.approx(0.1936, abs=1e-4)
    with pytest.raises(ValueError, match="0/1"):
        proportion_ci([0.5, 1.0])
    assert all(math.isnan(v) for v in wilson_ci(0, 0))


def _binomial_two_sided(k: int, n: int) -> float:
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(
    ("only_a", "only_b", "both", "neither"), [(6, 0, 3, 7), (2, 9, 10, 5), (5, 5, 1, 1), (0, 0, 4, 4)]
)
def test_exact_mcnemar_is_a_binomial_test_on_the_discordant_pairs(
    only_a: int, only_b: int, both: int, neither: int
) -> None:
    a = [1.0] * only_a + [0.0] * only_b + [1.0] * both + [0.0] * neither
    b = [0.0] * only_a + [1.0] * only_b + [1.0] * both + [0.0] * neither
    want = 1.0 if only_a + only_b == 0 else _binomial_two_sided(only_a, only_a + only_b)
    assert mcnemar_exact(a, b) == pytest.approx(want)
    assert mcnemar_exact(a + [float("nan")], b + [1.0]) == pytest.approx(want)  # unscored pair dropped


def test_newcombe_paired_interval() -> None:
    # with no correlation between the pairs (ad = bc) it is the unpaired Newcombe interval
    a, b = [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]
    d, lo, hi = newcombe_paired_ci(a, b)
    l1, u1 = wilson_ci(2, 4)
    assert d == 0 and lo == pytest.approx(-math.hypot(0.5 - l1, u1 - 0.5)) and hi == pytest.approx(-lo)
    # positively correlated pairs (the usual case: the same questions are hard for both systems)
    # give a narrower interval than treating the two rates as independent
    a = [1.0] * 12 + [1.0] * 9 + [0.0] * 2 + [0.0] * 21
    b = [1.0] * 12 + [0.0] * 9 + [1.0] * 2 + [0.0] * 21
    d, lo, hi = newcombe_paired_ci(a, b)
    l1, u1 = wilson_ci(21, 44)
    l2, u2 = wilson_ci(14, 44)
    assert d == pytest.approx(7 / 44) and lo < d < hi
    assert lo > d - math.hypot(21 / 44 - l1, u2 - 14 / 44) and hi < d + math.hypot(u1 - 21 / 44, 14 / 44 - l2)
    # the exact test is the more conservative of the two at the margin; the verdict follows the test
    assert lo > 0 and mcnemar_exact(a, b) == pytest.approx(_binomial_two_sided(2, 11))
    assert compare("a", "b", a, b)["significant"] is False
    assert all(math.isnan(v) for v in newcombe_paired_ci([], []))


def test_bootstrap_is_kept_for_continuous_metrics() -> None:
    lo, hi = bootstrap_ci([0.2, 0.4, 0.6, 0.8] * 5, samples=500)
    assert 0.35 < lo < 0.5 < hi < 0.65


def _rows(correct: list[int], latency: float) -> list[dict[str, float]]:
    nan = float("nan")
    return [
        {
            "correct": float(c),
            "abstention": nan,
            "false_abstention": float(not c),
            "citation_precision": nan,
            "citation_recall": nan,
            "faithfulness": nan,
            "f1": 0.5 * c,
            "latency_s": latency + 0.1 * i,
        }
        for i, c in enumerate(correct)
    ]


def _report(tmp_path: Path) -> EvalReport:
    rows = {"base": _rows([0] * 16, 1.0), "rag": _rows([1] * 6 + [0] * 10, 9.0)}
    st = aggregate(rows, samples=200)
    settings = {"retrieve": {"k": 5, "rrf_k": 10}, "answer": {"k": 4, "max_tokens": 77}}
    return EvalReport(
        str(tmp_path),
        16,
        ["base", "rag"],
        {},
        st["summary"],
        st["ci"],
        st["counts"],
        {"hit@5": 0.9},
        st["comparisons"],
        "gguf:test",
        None,
        settings,
        16,
    )


def test_aggregate_uses_wilson_for_rates_bootstrap_for_the_rest_and_mcnemar_between(tmp_path: Path) -> None:
    r = _report(tmp_path)
    assert r.ci["base"]["correct"] == pytest.approx([0.0, 0.1936], abs=1e-4)
    assert r.ci["rag"]["correct"] == pytest.approx(list(wilson_ci(6, 16)))
    assert r.counts["rag"]["correct"] == 16 and r.counts["rag"]["abstention"] == 0
    assert 9.0 <= r.ci["rag"]["latency_s"][0] < r.ci["rag"]["latency_s"][1] <= 10.5
    (c,) = r.comparisons
    assert (c["better"], c["than"], c["only_better"], c["only_than"], c["n"]) == ("rag", "base", 6, 0, 16)
    assert c["p_value"] == pytest.approx(0.03125) and c["significant"] and c["test"] == "exact McNemar"


def test_printed_summary_and_report_give_n_beside_every_rate_and_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from industry_expert.cli.evaluate import print_summary

    r = _report(tmp_path)
    print_summary(r)
    out = capsys.readouterr().out
    base = next(line for line in out.splitlines() if line.startswith("base "))
    assert "0.0% n=16" in base and "0.0%-19.4%" in base and "n/a n=0" in base
    assert "exact McNemar p=0.0312" in out and "6 vs 0" in out and "on 16 questions" in out
    assert "answer k=4, max_tokens=77" in out and "retrieval (n=16)" in out
    write_html(tmp_path / "report.html", r, [])
    page = (tmp_path / "report.html").read_text()
    assert page.count("n=16") >= 4 and "answer.max_tokens</td><td>77" in page and "retrieve.rrf_k" in page
    assert "0.031" in page and "exact McNemar" in page
    assert json.dumps(r.settings)  # recorded as plain JSON in summary.json
