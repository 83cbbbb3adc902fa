"""Bootstrap intervals (checked against scipy) and paired run comparisons with slices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ragline.errors import ConfigError
from ragline.evaluate.compare import (
    DeltaEstimate,
    MetricDelta,
    bootstrap_mean,
    compare_runs,
    paired_bootstrap,
)
from ragline.store.evals_base import EvalRun, ItemResult


def test_bootstrap_mean_matches_scipy_percentile() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.6, 0.2, size=300)
    ours = bootstrap_mean(values.tolist(), rounds=4000, seed=3)
    ref = stats.bootstrap(
        (values,), np.mean, n_resamples=4000, method="percentile", random_state=5
    ).confidence_interval
    assert ours.mean == pytest.approx(values.mean())
    assert ours.low == pytest.approx(ref.low, abs=0.005)
    assert ours.high == pytest.approx(ref.high, abs=0.005)
    assert bootstrap_mean(values.tolist(), seed=3) == bootstrap_mean(values.tolist(), seed=3)


def test_bootstrap_edge_cases() -> None:
    assert bootstrap_mean([0.5]).low == 0.5
    assert np.isnan(bootstrap_mean([]).mean)
    with pytest.raises(ConfigError):
        bootstrap_mean([1, 2], rounds=0)


def test_paired_bootstrap_uses_the_pairing() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 200)
    a = base
    b = np.clip(base + 0.05 + rng.normal(0, 0.02, 200), 0, 1)
    paired = paired_bootstrap(a.tolist(), b.tolist(), seed=1)
    assert paired.delta == pytest.approx(float((b - a).mean()))
    assert paired.low > 0 and paired.significant and paired.p_value < 0.01
    # the same means, unpaired (shuffled), give a far wider interval: pairing matters
    shuffled = paired_bootstrap(a.tolist(), rng.permutation(b).tolist(), seed=1)
    assert (paired.high - paired.low) < (shuffled.high - shuffled.low) / 5
    same = paired_bootstrap([0.1, 0.5, 0.9], [0.1, 0.5, 0.9])
    assert same.delta == 0 and same.p_value == 1.0 and not same.significant
    with pytest.raises(ConfigError):
        paired_bootstrap([1.0], [1.0, 2.0])


def _run(run_id: str, slices=("topic",)) -> EvalRun:
    return EvalRun(run_id=run_id, name=run_id, spec_hash="h", config={"slices": list(slices)})


def _items(scores: list[float], topics: list[str], failed: int | None = None) -> list[ItemResult]:
    return [
        ItemResult(
            item_id=f"i{i}",
            ordinal=i,
            input={"topic": t, "metadata": {"lang": "en" if i % 2 else "de"}},
            scores={"acc": s, "judge": None if i == 0 else s},
            error="boom" if i == failed else None,
        )
        for i, (s, t) in enumerate(zip(scores, topics, strict=True))
    ]


def test_compare_runs_overall_and_per_slice() -> None:
    topics = ["x", "x", "y", "y", "y", "z"]
    a = _items([0, 0, 1, 0, 1, 1], topics)
    b = _items([1, 1, 1, 1, 1, 1], topics, failed=5)
    cmp = compare_runs(_run("A"), a, _run("B"), b, rounds=500)
    assert cmp.common_items == 5 and cmp.only_a == 1 and cmp.only_b == 0
    overall = {d.metric: d for d in cmp.overall()}
    assert overall["acc"].n == 5 and overall["acc"].delta == pytest.approx(0.6)
    assert overall["judge"].n == 4  # item 0 has no judge score
    by_topic = {(d.slice_value, d.metric): d for d in cmp.by_slice("topic")}
    assert by_topic[("x", "acc")].delta == 1.0 and by_topic[("x", "acc")].n == 2
    assert by_topic[("y", "acc")].delta == pytest.approx(1 / 3)
    assert ("z", "acc") not in by_topic  # its only item failed in B
    lang = compare_runs(_run("A"), a, _run("B"), b, slices=["lang"], metrics=["acc"])
    assert {d.slice_value for d in lang.by_slice("lang")} == {"en", "de"}
    assert lang.metrics == ("acc",)
    assert cmp.to_dict()["deltas"][0]["significant"] in (True, False)


def test_compare_needs_shared_items() -> None:
    a = _items([1.0], ["x"])
    b = [ItemResult(item_id="other", ordinal=0, scores={"acc": 1.0})]
    with pytest.raises(ConfigError, match="share no scored item"):
        compare_runs(_run("A"), a, _run("B"), b)


def test_a_metric_delta_is_the_paired_estimate_of_one_metric() -> None:
    est = paired_bootstrap([0.1, 0.5, 0.9], [0.2, 0.7, 1.0], rounds=200)
    d = MetricDelta.of(est, "f1", "topic", "x")
    assert isinstance(d, DeltaEstimate) and d.significant == est.significant
    shared = ("n", "mean_a", "mean_b", "delta", "low", "high", "p_value")
    assert [getattr(d, k) for k in shared] == [getattr(est, k) for k in shared]
    assert d.direction == "higher" and MetricDelta.of(est, "perplexity").direction == "lower"
    out = d.to_dict()
    assert list(out)[:4] == ["metric", "slice_field", "slice_value", "n"]
    assert out["slice_value"] == "x" and out["significant"] == d.significant
