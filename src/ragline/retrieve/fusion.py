"""Fusing ranked lists: reciprocal rank fusion (default) or weighted min-max scores."""

from __future__ import annotations

from typing import Literal

import numpy as np


def fuse(
    lists: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    k: int,
    method: Literal["rrf", "weighted"] = "rrf",
    rrf_k: int = 60,
    weights: dict[str, float] | None = None,
) -> tuple[list[int], list[float], list[dict[str, float]]]:
    """Fuse ``{name: (rows, scores)}`` rankings (best first) into the top ``k`` rows.

    RRF: ``sum_i w_i / (rrf_k + rank_i)`` (Cormack et al., 2009), rank from 1.
    Weighted: ``sum_i w_i * minmax(score_i)`` over each list's own range.
    Returns rows, fused scores and each row's original per-list scores.
    """
    weights = weights or {}
    fused: dict[int, float] = {}
    parts: dict[int, dict[str, float]] = {}
    for name, (rows, scores) in lists.items():
        w = weights.get(name, 1.0)
        if method == "rrf":
            contrib = w / (rrf_k + np.arange(1, len(rows) + 1))
        else:
            if len(scores) == 0:
                continue
            lo, hi = float(np.min(scores)), float(np.max(scores))
            span = hi - lo
            contrib = w * ((scores - lo) / span if span > 0 else np.ones(len(scores)))
        for row, c, s in zip(rows.tolist(), contrib.tolist(), scores.tolist(), strict=True):
            fused[row] = fused.get(row, 0.0) + c
            parts.setdefault(row, {})[name] = s
    best = sorted(fused, key=lambda r: (-fused[r], r))[:k]
    return best, [fused[r] for r in best], [parts[r] for r in best]
