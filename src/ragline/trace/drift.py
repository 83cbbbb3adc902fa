"""Drift between two windows of traffic: did the questions, or the answers, change?

Four tests, each reported with its statistic, the threshold that statistic is compared to,
a p-value and whether it shifted (None: too few samples in a window to tell):

* **query embeddings** — MMD² (RBF kernel, median-distance bandwidth) between the windows'
  query vectors, against the (1 - alpha) quantile of its permutation distribution;
* **answer length** — two-sample Kolmogorov–Smirnov D against its critical value;
* **abstention rate** and **negative-feedback rate** — two-proportion z-test, |z| against
  the two-sided normal quantile (Fisher's exact p-value when counts are small).

Query vectors come from the traces (stored when the request embedded its query) or are
computed with the configured embedder from the stored query text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragline.store.traces_base import (
    FeedbackQuery,
    TraceQuery,
    TraceStore,
    TraceSummary,
    is_negative,
)
from ragline.trace.windows import Window

Embed = Callable[[list[str]], np.ndarray]
ROOT_NAMES: tuple[str, ...] = ("search", "ask", "chat", "generation")


@dataclass(frozen=True, slots=True)
class DriftTest:
    """One statistic compared between the baseline and the current window."""

    name: str
    statistic: float | None
    threshold: float | None
    p_value: float | None
    shifted: bool | None
    baseline: float | None = None
    current: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class DriftReport:
    baseline: Window
    current: Window
    alpha: float
    tests: list[DriftTest] = field(default_factory=list)

    @property
    def shifted(self) -> bool:
        return any(t.shifted for t in self.tests)

    def test(self, name: str) -> DriftTest:
        return next(t for t in self.tests if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"since_ns": self.baseline.since_ns, "until_ns": self.baseline.until_ns},
            "current": {"since_ns": self.current.since_ns, "until_ns": self.current.until_ns},
            "alpha": self.alpha,
            "shifted": self.shifted,
            "tests": [t.to_dict() for t in self.tests],
        }


# --------------------------------------------------------------------------- statistics


def mmd_permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float = 0.05,
    permutations: int = 500,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mmd2, threshold, p_value)``: biased MMD² with an RBF kernel whose bandwidth is the
    median pairwise squared distance; threshold = (1 - alpha) quantile under permutation."""
    z = np.vstack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    m, n = len(x), len(y)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    upper = d2[np.triu_indices(len(z), k=1)]
    bandwidth = float(np.median(upper)) or 1.0
    k = np.exp(-d2 / bandwidth)
    w = np.concatenate([np.full(m, 1.0 / m), np.full(n, -1.0 / n)])
    observed = float(w @ k @ w)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(w) for _ in range(permutations)])
    null = np.einsum("pi,pi->p", perms @ k, perms)
    threshold = float(np.quantile(null, 1.0 - alpha))
    p_value = (1.0 + float(np.sum(null >= observed))) / (1.0 + permutations)
    return observed, threshold, p_value


def ks_test(a: Sequence[float], b: Sequence[float], *, alpha: float) -> tuple[float, float, float]:
    """``(D, critical D, p_value)`` of the two-sample Kolmogorov–Smirnov test."""
    from scipy import stats as sps  # lazy: scipy.stats costs ~1 s of CLI start-up

    res = sps.ks_2samp(a, b)
    n, m = len(a), len(b)
    critical = math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))
    return float(res.statistic), critical, float(res.pvalue)


def proportion_test(
    k1: int, n1: int, k2: int, n2: int, *, alpha: float
) -> tuple[float, float, float]:
    """``(|z|, critical |z|, p_value)`` of the pooled two-proportion z-test."""
    from scipy import stats as sps  # lazy, as above

    critical = float(sps.norm.ppf(1 - alpha / 2))
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    z = 0.0 if var == 0 else abs(k2 / n2 - k1 / n1) / math.sqrt(var)
    if min(k1, n1 - k1, k2, n2 - k2) < 5:  # normal approximation is poor: exact p-value
        p = float(sps.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    else:
        p = float(2 * sps.norm.sf(z))
    return z, critical, p


# --------------------------------------------------------------------------- windows


@dataclass(slots=True)
class WindowSample:
    """What one window holds for the tests."""

    summaries: list[TraceSummary]
    vectors: np.ndarray
    answer_lengths: list[int]
    abstained: list[bool]
    answered: int
    negative: int


def negative_trace_ids(store: TraceStore, trace_ids: Sequence[str]) -> set[str]:
    records = store.list_feedback(FeedbackQuery(trace_ids=tuple(trace_ids)))
    return {f.trace_id for f in records if is_negative(f)}


def sample_window(
    store: TraceStore,
    window: Window,
    *,
    embed: Embed | None,
    max_vectors: int,
    seed: int = 0,
) -> WindowSample:
    summaries = store.list_traces(
        TraceQuery(
            since_ns=window.since_ns,
            until_ns=window.until_ns,
            names=ROOT_NAMES,
            with_embeddings=True,
            newest_first=False,
            limit=None,
        )
    )
    with_query = [s for s in summaries if s.query]
    rng = np.random.default_rng(seed)
    if len(with_query) > max_vectors:
        keep = np.sort(rng.choice(len(with_query), size=max_vectors, replace=False))
        with_query = [with_query[i] for i in keep]
    vectors: list[np.ndarray | None] = [s.embedding for s in with_query]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing and embed is not None:
        computed = embed([with_query[i].query or "" for i in missing])
        for i, vec in zip(missing, computed, strict=True):
            vectors[i] = vec
    dims = {v.shape[-1] for v in vectors if v is not None}
    dim = max(dims) if dims else 0
    rows = [v for v in vectors if v is not None and v.shape[-1] == dim]
    answers = [s for s in summaries if s.answer_length is not None]
    judged = answers or summaries
    negative = negative_trace_ids(store, [s.trace_id for s in judged]) if judged else set()
    return WindowSample(
        summaries=summaries,
        vectors=np.stack(rows) if rows else np.zeros((0, dim), np.float32),
        answer_lengths=[int(s.answer_length) for s in answers if s.answer_length is not None],
        abstained=[bool(s.abstained) for s in summaries if s.abstained is not None],
        answered=len(judged),
        negative=len(negative & {s.trace_id for s in judged}),
    )


def _too_few(name: str, n1: int, n2: int, minimum: int, **values: Any) -> DriftTest:
    return DriftTest(
        name,
        None,
        None,
        None,
        None,
        n_baseline=n1,
        n_current=n2,
        note=f"needs {minimum} samples in each window",
        **values,
    )


def compare(
    base: WindowSample,
    cur: WindowSample,
    *,
    alpha: float,
    min_samples: int,
    permutations: int = 500,
    seed: int = 0,
) -> list[DriftTest]:
    """The four drift tests between two window samples."""
    tests: list[DriftTest] = []
    nb, nc = len(base.vectors), len(cur.vectors)
    if min(nb, nc) < min_samples or base.vectors.shape[1] != cur.vectors.shape[1]:
        tests.append(_too_few("query_embeddings", nb, nc, min_samples))
    else:
        stat, thr, p = mmd_permutation_test(
            base.vectors, cur.vectors, alpha=alpha, permutations=permutations, seed=seed
        )
        tests.append(
            DriftTest(
                "query_embeddings",
                stat,
                thr,
                p,
                stat > thr,
                n_baseline=nb,
                n_current=nc,
                note="MMD² (RBF, median bandwidth) vs its permutation quantile",
            )
        )
    a, b = base.answer_lengths, cur.answer_lengths
    means = {
        "baseline": float(np.mean(a)) if a else None,
        "current": float(np.mean(b)) if b else None,
    }
    if min(len(a), len(b)) < min_samples:
        tests.append(_too_few("answer_length", len(a), len(b), min_samples, **means))
    else:
        stat, thr, p = ks_test(a, b, alpha=alpha)
        tests.append(
            DriftTest(
                "answer_length",
                stat,
                thr,
                p,
                p < alpha,
                n_baseline=len(a),
                n_current=len(b),
                note="Kolmogorov–Smirnov D; values: mean chars",
                **means,
            )
        )
    for name, (k1, n1), (k2, n2) in (
        (
            "abstention_rate",
            (sum(base.abstained), len(base.abstained)),
            (sum(cur.abstained), len(cur.abstained)),
        ),
        ("negative_feedback_rate", (base.negative, base.answered), (cur.negative, cur.answered)),
    ):
        rates = {"baseline": k1 / n1 if n1 else None, "current": k2 / n2 if n2 else None}
        if min(n1, n2) < min_samples:
            tests.append(_too_few(name, n1, n2, min_samples, **rates))
            continue
        stat, thr, p = proportion_test(k1, n1, k2, n2, alpha=alpha)
        tests.append(
            DriftTest(
                name,
                stat,
                thr,
                p,
                p < alpha,
                n_baseline=n1,
                n_current=n2,
                note="two-proportion |z|",
                **rates,
            )
        )
    return tests


def detect_drift(
    store: TraceStore,
    baseline: Window,
    current: Window,
    *,
    embed: Embed | None,
    alpha: float = 0.05,
    min_samples: int = 20,
    max_vectors: int = 500,
    permutations: int = 500,
    seed: int = 0,
) -> DriftReport:
    """Compare two windows of stored traces."""
    base = sample_window(store, baseline, embed=embed, max_vectors=max_vectors, seed=seed)
    cur = sample_window(store, current, embed=embed, max_vectors=max_vectors, seed=seed + 1)
    tests = compare(
        base, cur, alpha=alpha, min_samples=min_samples, permutations=permutations, seed=seed
    )
    return DriftReport(baseline, current, alpha, tests)


__all__ = [
    "DriftReport",
    "DriftTest",
    "WindowSample",
    "compare",
    "detect_drift",
    "ks_test",
    "mmd_permutation_test",
    "proportion_test",
    "sample_window",
]
