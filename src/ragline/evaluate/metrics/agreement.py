"""Agreement between two raters (a judge and humans, two annotators): accuracy, κ, Spearman.

* :func:`accuracy` — share of items with the same label;
* :func:`cohen_kappa` — Cohen's κ, optionally weighted (linear or quadratic, for ordinal
  labels); ``nan`` when both raters give every item the same single label (κ undefined);
* :func:`spearman` — Spearman's rank correlation with its p-value (``scipy.stats``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ragline.errors import ConfigError


def _pair(a: Sequence[object], b: Sequence[object]) -> int:
    if len(a) != len(b):
        raise ConfigError(f"the two raters labelled {len(a)} and {len(b)} items")
    if not a:
        raise ConfigError("no items to compare")
    return len(a)


def accuracy(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Fraction of positions where ``a`` and ``b`` agree."""
    n = _pair(a, b)
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / n


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's κ of two raters: ``1 - sum(w * observed) / sum(w * expected)``.

    ``labels`` fixes the label set and, for weighted κ, its order (default: the sorted
    labels seen). Unweighted κ uses 0/1 disagreement weights.
    """
    n = _pair(a, b)
    if labels is None:
        try:
            labels = sorted(set(a) | set(b))  # type: ignore[type-var]
        except TypeError:
            labels = list(dict.fromkeys([*a, *b]))
    index = {label: i for i, label in enumerate(labels)}
    unknown = (set(a) | set(b)) - set(index)
    if unknown:
        raise ConfigError(f"labels {sorted(map(str, unknown))} are not in the given label set")
    k = len(labels)
    observed = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        observed[index[x], index[y]] += 1
    observed /= n
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(float)
    if weights is None:
        w = (grid > 0).astype(float)
    elif weights == "linear":
        w = grid
    elif weights == "quadratic":
        w = grid**2
    else:
        raise ConfigError(f"unknown weights {weights!r}", hint="use 'linear' or 'quadratic'")
    denominator = float((w * expected).sum())
    if denominator == 0:
        return math.nan
    return 1.0 - float((w * observed).sum()) / denominator


@dataclass(frozen=True, slots=True)
class Correlation:
    """A correlation coefficient with its two-sided p-value."""

    statistic: float
    pvalue: float
    n: int


def spearman(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Spearman's ρ between two score lists (ties get average ranks)."""
    from scipy.stats import spearmanr

    n = _pair(x, y)
    if n < 2:
        raise ConfigError("Spearman's rho needs at least two items")
    result = spearmanr(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return Correlation(float(result.statistic), float(result.pvalue), n)


__all__ = ["Correlation", "accuracy", "cohen_kappa", "spearman"]
