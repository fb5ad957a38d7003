"""Bootstrap confidence intervals (percentile method), plain and paired."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """CI of the mean of ``values`` by resampling the questions with replacement."""
    x = np.asarray([v for v in values if v == v], dtype=float)  # drop NaN (metric not applicable)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (samples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def paired_difference_ci(
    a: Sequence[float], b: Sequence[float], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean difference a-b, CI low, CI high) over the same questions; CI containing 0 means the
    two systems are not measurably different on this question set."""
    pairs = np.asarray([(x, y) for x, y in zip(a, b) if x == x and y == y], dtype=float)
    if len(pairs) == 0:
        return (float("nan"),) * 3  # type: ignore[return-value]
    diff = pairs[:, 0] - pairs[:, 1]
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (samples, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(diff.mean()), float(lo), float(hi)
