"""Evaluating the evaluation: how stable each metric is between two runs, and how metrics relate.

``ragline eval check SPEC`` runs a spec twice (two fresh runs) and reports, per metric:

* **agreement** — the share of items that got the same score both times;
* **mean absolute difference** of an item's two scores;
* **Spearman's ρ** between the two runs' per-item scores (None when a run is constant);
* the two run means.

A deterministic metric (exact match, nDCG) agrees on every item; an LLM judge at a
temperature above 0 does not, and this says by how much. It also reports the correlation
between metrics across items (Spearman, first run): two metrics that always agree measure
the same thing, one that correlates with nothing may be measuring noise. Correlations are
of the raw values: a lower-is-better metric (perplexity, see each metric's ``direction``)
that agrees with a higher-is-better one correlates *negatively* with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ragline.evaluate.compare import metric_names
from ragline.evaluate.metrics.agreement import spearman
from ragline.evaluate.metrics.registry import Direction, metric_direction
from ragline.store.evals_base import ItemResult

_SAME = 1e-9


@dataclass(frozen=True, slots=True)
class MetricStability:
    """One metric across two runs of the same spec."""

    metric: str
    n: int
    agreement: float | None
    mean_abs_diff: float | None
    spearman: float | None
    mean_1: float | None
    mean_2: float | None
    #: which values are better (the metric registry): ``higher`` or ``lower``
    direction: Direction = "higher"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StabilityReport:
    """Per-metric stability between two runs and the metric-by-metric correlation matrix."""

    run_1: str
    run_2: str
    items: int
    metrics: tuple[MetricStability, ...]
    #: metric -> metric -> Spearman's ρ across items of the first run (None: undefined)
    correlations: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def metric(self, name: str) -> MetricStability:
        for m in self.metrics:
            if m.metric == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_1": self.run_1,
            "run_2": self.run_2,
            "items": self.items,
            "metrics": [m.to_dict() for m in self.metrics],
            "correlations": self.correlations,
        }


def _rho(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    value = spearman(x, y).statistic
    return None if math.isnan(value) else value


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def metric_stability(
    run_1: str, items_1: Sequence[ItemResult], run_2: str, items_2: Sequence[ItemResult]
) -> StabilityReport:
    """Compare two runs of one spec item by item (failed items left out)."""
    a = {it.item_id: it for it in items_1 if it.ok}
    b = {it.item_id: it for it in items_2 if it.ok}
    common = [i for i in a if i in b]
    names = metric_names(a.values())
    rows = []
    for name in names:
        pairs = [
            (a[i].scores[name], b[i].scores[name])
            for i in common
            if a[i].scores.get(name) is not None and b[i].scores.get(name) is not None
        ]
        xs = [float(x) for x, _ in pairs]  # type: ignore[arg-type]
        ys = [float(y) for _, y in pairs]  # type: ignore[arg-type]
        diffs = [abs(x - y) for x, y in zip(xs, ys, strict=True)]
        rows.append(
            MetricStability(
                metric=name,
                n=len(pairs),
                agreement=_mean([float(d <= _SAME) for d in diffs]),
                mean_abs_diff=_mean(diffs),
                spearman=_rho(xs, ys),
                mean_1=_mean(xs),
                mean_2=_mean(ys),
                direction=metric_direction(name),
            )
        )
    return StabilityReport(
        run_1=run_1,
        run_2=run_2,
        items=len(common),
        metrics=tuple(rows),
        correlations=metric_correlations(list(a.values())),
    )


def metric_correlations(items: Sequence[ItemResult]) -> dict[str, dict[str, float | None]]:
    """Spearman's ρ between every two metrics across the items that have both."""
    names = metric_names(items)
    out: dict[str, dict[str, float | None]] = {n: {} for n in names}
    for i, m1 in enumerate(names):
        out[m1][m1] = 1.0
        for m2 in names[i + 1 :]:
            pairs = [
                (it.scores[m1], it.scores[m2])
                for it in items
                if it.scores.get(m1) is not None and it.scores.get(m2) is not None
            ]
            rho = _rho([float(x) for x, _ in pairs], [float(y) for _, y in pairs])  # type: ignore[arg-type]
            out[m1][m2] = out[m2][m1] = rho
    return out


def check_spec(
    run: Callable[[str], tuple[str, Sequence[ItemResult]]], base_run_id: str
) -> StabilityReport:
    """Run a spec twice through ``run(run_id) -> (run_id, items)`` and compare the runs."""
    id_1, items_1 = run(f"{base_run_id}-1")
    id_2, items_2 = run(f"{base_run_id}-2")
    return metric_stability(id_1, items_1, id_2, items_2)


__all__ = [
    "MetricStability",
    "StabilityReport",
    "check_spec",
    "metric_correlations",
    "metric_stability",
]
