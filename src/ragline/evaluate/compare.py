"""Bootstrap confidence intervals and paired run comparisons (``ragline eval compare``).

* :func:`bootstrap_mean` — a metric's mean with a percentile bootstrap interval;
* :func:`paired_bootstrap` — the mean difference B − A over the items both runs scored,
  resampling *items* (so per-item pairing is kept: the interval reflects how consistently
  B beats A, not just the spread of each run), with a two-sided bootstrap p-value;
* :func:`compare_runs` — every shared metric, overall and per slice (any field of the items,
  or of their ``metadata``). Each delta knows its metric's direction (the registry,
  :mod:`ragline.evaluate.metrics.registry`): for perplexity a negative delta is B's win.

Every function is deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from ragline.errors import ConfigError
from ragline.evaluate.metrics.registry import Direction, metric_direction
from ragline.evaluate.spec import slice_value
from ragline.store.evals_base import EvalRun, ItemResult

_MAX_CELLS = 20_000_000  # resample matrix size per chunk (rounds x items)


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean with its bootstrap interval (``low``/``high`` equal ``mean`` when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resampled_means(values: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    out = np.empty(rounds)
    step = max(1, _MAX_CELLS // max(n, 1))
    for start in range(0, rounds, step):
        count = min(step, rounds - start)
        idx = rng.integers(0, n, size=(count, n))
        out[start : start + count] = values[idx].mean(axis=1)
    return out


def _check(rounds: int, confidence: float) -> None:
    if rounds < 1 or not 0 < confidence < 1:
        raise ConfigError(
            f"bad bootstrap parameters (rounds={rounds}, confidence={confidence})",
            hint="need rounds >= 1 and 0 < confidence < 1",
        )


def bootstrap_mean(
    values: Sequence[float], *, rounds: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """The mean of ``values`` with a percentile bootstrap interval."""
    _check(rounds, confidence)
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if arr.size < 2:
        return Interval(mean, mean, mean, int(arr.size))
    boot = _resampled_means(arr, rounds, np.random.default_rng(seed))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), int(arr.size))


@dataclass(frozen=True, slots=True)
class DeltaEstimate:
    """B − A over paired items: means, the difference, its interval and a p-value.

    :class:`MetricDelta` is the same estimate for one metric (and slice) of two runs.
    """

    n: int
    mean_a: float
    mean_b: float
    delta: float
    low: float
    high: float
    #: two-sided bootstrap p-value of "no difference"
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (needs two items or more)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DeltaEstimate:
    """Paired bootstrap of the mean difference ``b - a`` (items resampled together)."""
    _check(rounds, confidence)
    if len(a) != len(b):
        raise ConfigError(f"paired samples differ in length ({len(a)} and {len(b)})")
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = int(xa.size)
    if n == 0:
        nan = math.nan
        return DeltaEstimate(0, nan, nan, nan, nan, nan, nan)
    d = xb - xa
    delta = float(d.mean())
    if n < 2 or np.all(d == d[0]):
        p = 1.0 if delta == 0 else 0.0 if n >= 2 else math.nan
        return DeltaEstimate(n, float(xa.mean()), float(xb.mean()), delta, delta, delta, p)
    boot = _resampled_means(d, rounds, np.random.default_rng(seed))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    p = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    return DeltaEstimate(n, float(xa.mean()), float(xb.mean()), delta, float(low), float(high), p)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDelta(DeltaEstimate):
    """One metric's :class:`DeltaEstimate`, overall (``slice_field`` None) or within one slice.

    ``delta`` is B − A whatever the metric's direction; :attr:`better` and :attr:`change`
    read it with the direction (a lower perplexity is an improvement)."""

    metric: str
    slice_field: str | None = None
    slice_value: str | None = None
    #: which values of the metric are better (from the metric registry)
    direction: Direction = "higher"

    @classmethod
    def of(
        cls,
        estimate: DeltaEstimate,
        metric: str,
        slice_field: str | None = None,
        slice_value: str | None = None,
    ) -> MetricDelta:
        """``estimate`` as the delta of ``metric`` (its direction from the registry)."""
        values = {f.name: getattr(estimate, f.name) for f in fields(DeltaEstimate)}
        return cls(
            **values,
            metric=metric,
            slice_field=slice_field,
            slice_value=slice_value,
            direction=metric_direction(metric),
        )

    @property
    def better(self) -> str | None:
        """``"B"`` or ``"A"``: the run that is better on this metric, by its direction, when
        the interval excludes 0; None otherwise."""
        if not self.significant:
            return None
        gain = self.delta if self.direction == "higher" else -self.delta
        return "B" if gain > 0 else "A"

    @property
    def change(self) -> str | None:
        """``improved`` (B better than A), ``regressed`` (B worse), None (not significant)."""
        return {"B": "improved", "A": "regressed"}.get(self.better or "")

    @property
    def winner_text(self) -> str:
        """``B (improved)``, ``A (B regressed)``, or "" when the interval includes 0."""
        if self.better is None:
            return ""
        return "B (improved)" if self.better == "B" else "A (B regressed)"

    def to_dict(self) -> dict[str, Any]:
        where = {k: getattr(self, k) for k in ("metric", "slice_field", "slice_value")}
        return {
            **where,  # first in the JSON
            **asdict(self),
            "significant": self.significant,
            "better": self.better,
            "change": self.change,
        }


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Run B against run A: per-metric deltas (B − A) overall and per slice."""

    run_a: str
    run_b: str
    name_a: str
    name_b: str
    common_items: int
    only_a: int
    only_b: int
    rounds: int
    confidence: float
    metrics: tuple[str, ...]
    slices: tuple[str, ...]
    deltas: tuple[MetricDelta, ...] = field(default_factory=tuple)

    def overall(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.slice_field is None]

    def by_slice(self, slice_field: str) -> list[MetricDelta]:
        return [d for d in self.deltas if d.slice_field == slice_field]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "name_a": self.name_a,
            "name_b": self.name_b,
            "common_items": self.common_items,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "rounds": self.rounds,
            "confidence": self.confidence,
            "metrics": list(self.metrics),
            "slices": list(self.slices),
            "deltas": [d.to_dict() for d in self.deltas],
        }


def metric_names(items: Iterable[ItemResult]) -> list[str]:
    """Metric names in the order they first appear."""
    names: dict[str, None] = {}
    for it in items:
        for name in it.scores:
            names.setdefault(name, None)
    return list(names)


def slice_key(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "(none)" if value is None else str(value)


def compare_runs(
    run_a: EvalRun,
    items_a: Sequence[ItemResult],
    run_b: EvalRun,
    items_b: Sequence[ItemResult],
    *,
    slices: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RunComparison:
    """Compare two runs item by item (joined on item id; failed items left out).

    ``slices`` default to the slices named in either run's spec; ``metrics`` to every metric
    both runs have.
    """
    a = {it.item_id: it for it in items_a if it.ok}
    b = {it.item_id: it for it in items_b if it.ok}
    common = [i for i in a if i in b]
    if not common:
        raise ConfigError(
            f"runs {run_a.run_id} and {run_b.run_id} share no scored item",
            hint="compare runs over the same dataset (item ids must match)",
        )
    names_b = set(metric_names(b.values()))
    chosen = [m for m in (metrics or metric_names(a.values())) if m in names_b]
    if not chosen:
        raise ConfigError("the two runs have no metric in common")
    if slices is None:
        spec_slices = [*run_a.config.get("slices", []), *run_b.config.get("slices", [])]
        slices = list(dict.fromkeys(spec_slices))
    deltas: list[MetricDelta] = []

    def add(metric: str, ids: Sequence[str], field_name: str | None, value: str | None) -> None:
        pairs = [(a[i].scores.get(metric), b[i].scores.get(metric)) for i in ids]
        xs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if not xs:
            return
        est = paired_bootstrap(
            [x for x, _ in xs], [y for _, y in xs], rounds=rounds, confidence=confidence, seed=seed
        )
        deltas.append(MetricDelta.of(est, metric, field_name, value))

    for metric in chosen:
        add(metric, common, None, None)
    for field_name in slices:
        groups: dict[str, list[str]] = {}
        for i in common:
            groups.setdefault(slice_key(slice_value(a[i].input, field_name)), []).append(i)
        for value in sorted(groups):
            for metric in chosen:
                add(metric, groups[value], field_name, value)
    return RunComparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        name_a=str(run_a.config.get("system_name") or run_a.name),
        name_b=str(run_b.config.get("system_name") or run_b.name),
        common_items=len(common),
        only_a=len(set(a) - set(b)),
        only_b=len(set(b) - set(a)),
        rounds=rounds,
        confidence=confidence,
        metrics=tuple(chosen),
        slices=tuple(slices),
        deltas=tuple(deltas),
    )


__all__ = [
    "DeltaEstimate",
    "Interval",
    "MetricDelta",
    "RunComparison",
    "bootstrap_mean",
    "compare_runs",
    "metric_names",
    "paired_bootstrap",
    "slice_key",
]
