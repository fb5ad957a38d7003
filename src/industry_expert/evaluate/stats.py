"""Statistics for small question sets.

- Proportions (correct, abstention, false abstention): Wilson score intervals, which keep their
  coverage at small n and at 0% or 100% (a 0-of-16 result is 0%-19%, not 0%-0%).
- Two systems on the same questions, correct/incorrect: the exact McNemar test (a binomial test on
  the discordant pairs) and Newcombe's score interval for the paired difference (his method 10).
- Continuous metrics (token F1, citation precision per answer, faithfulness, latency): the
  percentile bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NAN = float("nan")


def _clean(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v == v]  # NaN: the metric does not apply to the question


def wilson_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (NaN when n is 0)."""
    if n == 0:
        return (NAN, NAN)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def proportion_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of the mean of 0/1 ``values`` (NaN entries do not count)."""
    x = _clean(values)
    if any(v not in (0.0, 1.0) for v in x):
        raise ValueError("proportion_ci needs 0/1 values; use bootstrap_ci for continuous metrics")
    return wilson_ci(int(sum(x)), len(x), level)


def bootstrap_ci(
    values: Sequence[float], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """CI of the mean of ``values`` by resampling the questions with replacement."""
    x = np.asarray(_clean(values), dtype=float)
    if len(x) == 0:
        return (NAN, NAN)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (samples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def _table(a: Sequence[float], b: Sequence[float]) -> tuple[int, int, int, int]:
    """Counts over questions scored for both: (both right, only a right, only b right, both wrong)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x == x and y == y]
    both = sum(1 for x, y in pairs if x and y)
    only_a = sum(1 for x, y in pairs if x and not y)
    only_b = sum(1 for x, y in pairs if y and not x)
    return both, only_a, only_b, len(pairs) - both - only_a - only_b


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes of two systems (1.0 when they never
    disagree): under the null each discordant question is a fair coin."""
    from scipy.stats import binomtest

    _, only_a, only_b, _ = _table(a, b)
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def newcombe_paired_ci(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> tuple[float, float, float]:
    """(difference of proportions a - b, CI low, CI high) for paired 0/1 outcomes: Newcombe (1998)
    method 10, built from the two Wilson intervals and the correlation of the pairs."""
    both, only_a, only_b, neither = _table(a, b)
    n = both + only_a + only_b + neither
    if n == 0:
        return (NAN, NAN, NAN)
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = wilson_ci(both + only_a, n, level)
    l2, u2 = wilson_ci(both + only_b, n, level)
    denom = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(denom) if denom else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    d = p1 - p2
    return d, max(-1.0, d - delta), min(1.0, d + eps)


def paired_difference_ci(
    a: Sequence[float], b: Sequence[float], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean difference a-b, CI low, CI high) over the same questions by the paired bootstrap, for
    continuous metrics (for 0/1 outcomes use :func:`newcombe_paired_ci` and :func:`mcnemar_exact`)."""
    pairs = np.asarray([(x, y) for x, y in zip(a, b, strict=True) if x == x and y == y], dtype=float)
    if len(pairs) == 0:
        return (NAN, NAN, NAN)
    diff = pairs[:, 0] - pairs[:, 1]
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (samples, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(diff.mean()), float(lo), float(hi)
