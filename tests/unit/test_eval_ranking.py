"""Elo, Bradley–Terry (MM) and TrueSkill rankings from pairwise comparisons."""

from __future__ import annotations

import pytest

from ragline.errors import ConfigError, MalformedInputError
from ragline.evaluate.ranking import (
    Comparison,
    bradley_terry,
    bradley_terry_bootstrap,
    comparisons_from_records,
    elo,
    load_comparisons,
    trueskill_ratings,
)


def _games() -> list[Comparison]:
    return comparisons_from_records(
        [
            {"left": "a", "right": "b", "winner": "left"},
            {"left": "b", "right": "c", "winner": "left"},
            {"left": "a", "right": "c", "winner": "left"},
            {"left": "c", "right": "a", "winner": "tie"},
            {"left": "b", "right": "a", "winner": "right"},
            {"left": "c", "right": "b", "winner": "left"},
        ]
    )


def test_elo_single_game_by_hand() -> None:
    ranking = elo([Comparison("x", "y", "left")], initial=1500, k=32)
    assert ranking.scores == {"x": pytest.approx(1516.0), "y": pytest.approx(1484.0)}
    tie = elo([Comparison("x", "y", "tie")], initial=1500, k=32)
    assert tie.scores["x"] == pytest.approx(1500.0)
    assert [r.item for r in ranking.items] == ["x", "y"]
    assert ranking.items[0].rank == 1
    with pytest.raises(ConfigError):
        elo(_games(), base=1.0)


def test_elo_is_zero_sum() -> None:
    ranking = elo(_games())
    assert sum(ranking.scores.values()) == pytest.approx(3 * 1000.0)
    assert ranking.items[0].item == "a"


def test_bradley_terry_satisfies_the_likelihood_equations() -> None:
    games = _games()
    ranking = bradley_terry(games)
    p = ranking.scores
    assert sum(p.values()) == pytest.approx(1.0)
    assert ranking.info["converged"]
    # MLE: each item's (tie-halved) wins equal its expected wins
    for item in p:
        wins = expected = 0.0
        for g in games:
            if item not in (g.left, g.right):
                continue
            other = g.right if item == g.left else g.left
            won = {"tie": 0.5}.get(
                g.winner, 1.0 if (g.winner == "left") == (item == g.left) else 0.0
            )
            wins += won
            expected += p[item] / (p[item] + p[other])
        assert wins == pytest.approx(expected, abs=1e-8)


def test_bootstrap_intervals_cover_the_point_estimate() -> None:
    ranking = bradley_terry_bootstrap(_games() * 5, rounds=200, seed=1)
    for r in ranking.items:
        assert r.low is not None and r.high is not None
        assert r.low <= r.score <= r.high
    again = bradley_terry_bootstrap(_games() * 5, rounds=200, seed=1)
    assert again.to_dict() == ranking.to_dict()
    with pytest.raises(ConfigError):
        bradley_terry_bootstrap(_games(), rounds=0)


def test_trueskill_orders_a_clear_winner_first() -> None:
    games = [Comparison("strong", "weak", "left")] * 10 + [Comparison("weak", "mid", "right")] * 5
    ranking = trueskill_ratings(games)
    assert [r.item for r in ranking.items] == ["strong", "mid", "weak"]
    top = ranking["strong"]
    assert top.score == pytest.approx(top.extra["mu"] - 3 * top.extra["sigma"])
    with pytest.raises(ConfigError):
        trueskill_ratings([Comparison("a", "b", "tie")], draw_probability=0.0)


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        Comparison("a", "b", "draw")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        elo([])
    with pytest.raises(ConfigError):
        comparisons_from_records([{"left": "a", "winner": "left"}])


def test_load_comparisons(tmp_path) -> None:
    good = tmp_path / "c.csv"
    good.write_text("left,right,winner,extra\na,b,left,1\nb,a,tie,2\n")
    assert load_comparisons(good) == [Comparison("a", "b", "left"), Comparison("b", "a", "tie")]
    bad = tmp_path / "bad.csv"
    bad.write_text("left,right\na,b\n")
    with pytest.raises(MalformedInputError):
        load_comparisons(bad)
    worse = tmp_path / "worse.csv"
    worse.write_text("left,right,winner\na,b,maybe\n")
    with pytest.raises(MalformedInputError):
        load_comparisons(worse)
