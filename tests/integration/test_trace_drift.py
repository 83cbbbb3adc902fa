"""Drift on synthetic traffic, with the real embedder: shifted traffic is flagged, a fresh
sample of the same traffic is not."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from ragline.cli.main import app
from ragline.config import EmbedderSettings
from ragline.models.embedder import get_embedder
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.store.traces_base import FeedbackRecord
from ragline.testing.trace_conformance import make_trace
from ragline.trace.drift import detect_drift, mmd_permutation_test, proportion_test
from ragline.trace.windows import Window

pytestmark = pytest.mark.integration
DAY = 86400 * 10**9

HR = {
    "templates": [
        "How many {x} days do I get per year?",
        "What is the policy for {x} leave?",
        "Who approves {x} requests?",
        "Where do I submit the {x} form?",
        "Can I carry over unused {x} days?",
        "How do I request {x} time off in the portal?",
    ],
    "slots": ["vacation", "sick", "parental", "holiday", "bereavement", "unpaid", "annual"],
}
IT = {
    "templates": [
        "How do I reset my {x} password?",
        "Why can't I connect to the {x}?",
        "How do I install the {x} on my laptop?",
        "Who do I contact when the {x} is down?",
        "How do I get access to the {x}?",
    ],
    "slots": ["VPN", "email", "wifi", "printer", "CRM", "shared drive", "expense tool"],
}
ASTRO = {
    "templates": [
        "How far is {x} from the Sun?",
        "What is the surface temperature of {x}?",
        "How many moons does {x} have?",
        "How long is a day on {x}?",
        "What is the atmosphere of {x} made of?",
    ],
    "slots": ["Mars", "Venus", "Jupiter", "Saturn", "Mercury", "Neptune", "Uranus"],
}
COOKING = {
    "templates": [
        "How long should I bake {x} bread?",
        "What temperature do I need to roast {x}?",
        "Can I freeze leftover {x}?",
        "How do I brew {x} coffee at home?",
    ],
    "slots": ["sourdough", "rye", "chicken", "vegetables", "espresso", "cold brew", "lasagna"],
}


def queries(rng: random.Random, mix: list[tuple[dict, float]], n: int) -> list[str]:
    out = []
    for _ in range(n):
        topic = rng.choices([t for t, _ in mix], weights=[w for _, w in mix])[0]
        out.append(rng.choice(topic["templates"]).format(x=rng.choice(topic["slots"])))
    return out


def write_window(
    store: SQLiteTraceStore,
    rng: random.Random,
    qs: list[str],
    vectors: np.ndarray,
    start_ns: int,
    *,
    answer_mean: float,
    abstain: float,
    negative: float,
    prefix: int,
) -> None:
    """One window of ``ask`` traces. Most carry their query vector (as a dense search
    stores it); every 8th does not, so drift embeds its stored text itself."""
    records, feedback = [], []
    for i, q in enumerate(qs):
        trace_id = f"{prefix:08x}{i:024x}"
        records.append(
            make_trace(
                trace_id,
                name="ask",
                start_ns=start_ns + i * 60 * 10**9,
                query=q,
                children=1,
                embedding=None if i % 8 == 0 else vectors[i],
                answer_length=max(1, int(rng.gauss(answer_mean, answer_mean / 5))),
                abstained=rng.random() < abstain,
            )
        )
        if rng.random() < negative:
            feedback.append(FeedbackRecord(trace_id, "thumbs", -1.0))
        elif rng.random() < 0.3:
            feedback.append(FeedbackRecord(trace_id, "thumbs", 1.0))
    store.write_traces(records)
    store.add_feedback(feedback)


N = 80  # queries per window


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(EmbedderSettings())


@pytest.fixture(scope="module")
def traffic(tmp_path_factory, embedder):
    """Baseline 20..10 days ago; the same traffic 8..6 days ago; shifted traffic 4..0 days
    ago (other topics, longer answers, more abstentions and thumbs down)."""
    home = tmp_path_factory.mktemp("drift-home")
    now = time.time_ns()
    rng = random.Random(7)
    base_mix = [(HR, 0.6), (IT, 0.4)]
    shifted_mix = [(ASTRO, 0.5), (COOKING, 0.3), (HR, 0.2)]
    texts = [queries(rng, base_mix, N), queries(rng, base_mix, N), queries(rng, shifted_mix, N)]
    vectors = embedder.embed([q for qs in texts for q in qs])
    store = SQLiteTraceStore(home / "ragline.db")
    for i, (start, answer_mean, abstain, negative) in enumerate(
        [
            (now - 20 * DAY, 300, 0.1, 0.1),
            (now - 8 * DAY, 300, 0.1, 0.1),
            (now - 4 * DAY, 420, 0.35, 0.3),
        ]
    ):
        write_window(
            store,
            rng,
            texts[i],
            vectors[i * N : (i + 1) * N],
            start,
            answer_mean=answer_mean,
            abstain=abstain,
            negative=negative,
            prefix=i + 1,
        )
    windows = {
        "baseline": Window(now - 20 * DAY, now - 10 * DAY),
        "same": Window(now - 8 * DAY, now - 6 * DAY),
        "shifted": Window(now - 4 * DAY, now),
    }
    yield home, store, windows
    store.close()


def test_unshifted_traffic_is_not_flagged(traffic, embedder):
    _, store, w = traffic
    report = detect_drift(store, w["baseline"], w["same"], embed=embedder.embed)
    verdicts = {t.name: t.shifted for t in report.tests}
    assert verdicts == {
        "query_embeddings": False,
        "answer_length": False,
        "abstention_rate": False,
        "negative_feedback_rate": False,
    }, report.to_dict()
    emb = report.test("query_embeddings")
    assert emb.statistic < emb.threshold and emb.n_baseline == emb.n_current == N


def test_shifted_traffic_is_flagged_on_every_statistic(traffic, embedder):
    _, store, w = traffic
    report = detect_drift(store, w["baseline"], w["shifted"], embed=embedder.embed)
    assert report.shifted
    for t in report.tests:
        assert t.shifted, t
        assert t.statistic > t.threshold and t.p_value < 0.05
    assert report.test("abstention_rate").current > report.test("abstention_rate").baseline
    assert report.test("answer_length").current > report.test("answer_length").baseline


def test_cli_reports_and_exits_1_on_drift(traffic, monkeypatch):
    monkeypatch.setenv("RAGLINE_HOME", str(traffic[0]))
    runner = CliRunner()
    res = runner.invoke(app, ["drift", "--baseline", "20d..10d", "--current", "4d", "--json"])
    assert res.exit_code == 1, res.output
    assert '"shifted": true' in res.stdout
    res = runner.invoke(app, ["drift", "--baseline", "20d..10d", "--current", "8d..6d"])
    assert res.exit_code == 0, res.output
    assert "no drift detected" in res.stdout and "query_embeddings" in res.stdout


def test_too_little_data_is_reported_not_guessed(traffic, embedder):
    _, store, w = traffic
    empty = Window(w["baseline"].since_ns - 100 * DAY, w["baseline"].since_ns - 99 * DAY)
    report = detect_drift(store, empty, w["same"], embed=embedder.embed)
    assert all(t.shifted is None and "needs" in t.note for t in report.tests)
    assert not report.shifted


def test_mmd_and_proportion_tests_on_known_distributions():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 5)), rng.normal(size=(80, 5))
    stat, thr, p = mmd_permutation_test(x, y, permutations=300)
    assert stat < thr and p > 0.05
    stat, thr, p = mmd_permutation_test(x, y + 0.8, permutations=300)
    assert stat > thr and p < 0.01
    z, crit, p = proportion_test(10, 100, 30, 100, alpha=0.05)
    assert z > crit and p < 0.01
    z, crit, p = proportion_test(10, 100, 12, 100, alpha=0.05)
    assert z < crit and p > 0.05
