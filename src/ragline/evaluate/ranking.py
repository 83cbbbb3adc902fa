"""Rank systems from pairwise comparisons: Elo, Bradley–Terry and TrueSkill.

The input is a list of :class:`Comparison` (``left``, ``right``, ``winner`` in
``{"left", "right", "tie"}``), e.g. the verdicts of a pairwise LLM judge or of crowd workers.

* :func:`elo` — sequential Elo over the comparisons in the order given; the initial rating,
  logistic base and scale, the K factor and the score a tie is worth are configurable.
* :func:`bradley_terry` — maximum-likelihood Bradley–Terry strengths by the MM algorithm
  (Hunter 2004), ties counted as half a win for each side, scores normalised to sum to 1;
  optional bootstrap confidence intervals (:func:`bradley_terry_bootstrap`).
* :func:`trueskill_ratings` — TrueSkill (``trueskill`` library) with ``mu``, ``sigma`` and
  the conservative ``mu - 3 sigma``.

Every result is a :class:`Ranking`: items with scores, best first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragline.errors import ConfigError, MalformedInputError, MissingDependencyError

Winner = Literal["left", "right", "tie"]
_WINNERS = ("left", "right", "tie")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One pairwise verdict between two items."""

    left: str
    right: str
    winner: Winner

    def __post_init__(self) -> None:
        if self.winner not in _WINNERS:
            raise ConfigError(
                f"winner must be one of {', '.join(_WINNERS)}, got {self.winner!r}",
                hint="use 'left', 'right' or 'tie'",
            )


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One item of a ranking. ``low``/``high`` bound ``score`` when intervals were computed."""

    item: str
    score: float
    rank: int
    low: float | None = None
    high: float | None = None
    #: extra per-item values (TrueSkill: ``mu``, ``sigma``)
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ranking:
    """Items ordered by score, best first (ties in score keep the items' sorted order)."""

    method: str
    items: tuple[RankedItem, ...]
    #: parameters the method ran with, and diagnostics (iterations, converged, ...)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, float]:
        return {r.item: r.score for r in self.items}

    def __getitem__(self, item: str) -> RankedItem:
        for ranked in self.items:
            if ranked.item == item:
                return ranked
        raise KeyError(item)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "info": self.info,
            "items": [
                {
                    "rank": r.rank,
                    "item": r.item,
                    "score": r.score,
                    **({"low": r.low, "high": r.high} if r.low is not None else {}),
                    **r.extra,
                }
                for r in self.items
            ],
        }


def _rank(
    method: str,
    scores: dict[str, float],
    info: dict[str, Any],
    intervals: dict[str, tuple[float, float]] | None = None,
    extra: dict[str, dict[str, float]] | None = None,
) -> Ranking:
    order = sorted(scores, key=lambda item: (-scores[item], item))
    items = tuple(
        RankedItem(
            item=item,
            score=scores[item],
            rank=position,
            low=intervals[item][0] if intervals else None,
            high=intervals[item][1] if intervals else None,
            extra=(extra or {}).get(item, {}),
        )
        for position, item in enumerate(order, 1)
    )
    return Ranking(method=method, items=items, info=info)


def _items(comparisons: Sequence[Comparison]) -> list[str]:
    if not comparisons:
        raise ConfigError("no comparisons to rank", hint="pass at least one comparison")
    return sorted({c.left for c in comparisons} | {c.right for c in comparisons})


# --- Elo ------------------------------------------------------------------------------


def elo(
    comparisons: Sequence[Comparison],
    *,
    initial: float = 1000.0,
    base: float = 10.0,
    scale: float = 400.0,
    k: float = 4.0,
    tie: float = 0.5,
) -> Ranking:
    """Sequential Elo ratings.

    For each comparison in order, the left item's expected score is
    ``1 / (1 + base ** ((r_right - r_left) / scale))``; its actual score is 1 for a win,
    0 for a loss and ``tie`` for a tie, and both ratings move by ``k`` times the surprise.
    """
    if base <= 1 or scale <= 0 or k < 0 or not 0 <= tie <= 1:
        raise ConfigError(
            f"bad Elo parameters (base={base}, scale={scale}, k={k}, tie={tie})",
            hint="need base > 1, scale > 0, k >= 0 and 0 <= tie <= 1",
        )
    ratings = dict.fromkeys(_items(comparisons), float(initial))
    for c in comparisons:
        expected = 1.0 / (1.0 + base ** ((ratings[c.right] - ratings[c.left]) / scale))
        actual = 1.0 if c.winner == "left" else 0.0 if c.winner == "right" else tie
        delta = k * (actual - expected)
        ratings[c.left] += delta
        ratings[c.right] -= delta
    info = {"initial": initial, "base": base, "scale": scale, "k": k, "tie": tie}
    return _rank("elo", ratings, info)


# --- Bradley–Terry --------------------------------------------------------------------


def _win_matrix(comparisons: Sequence[Comparison], index: dict[str, int]) -> np.ndarray:
    """``W[i, j]``: wins of i over j, ties counting ½ for each side."""
    n = len(index)
    left = np.fromiter((index[c.left] for c in comparisons), dtype=np.intp)
    right = np.fromiter((index[c.right] for c in comparisons), dtype=np.intp)
    outcome = np.fromiter(
        (1.0 if c.winner == "left" else 0.0 if c.winner == "right" else 0.5 for c in comparisons),
        dtype=float,
    )
    wins = np.zeros((n, n))
    np.add.at(wins, (left, right), outcome)
    np.add.at(wins, (right, left), 1.0 - outcome)
    return wins


def _mm(wins: np.ndarray, tolerance: float, max_iterations: int) -> tuple[np.ndarray, int, bool]:
    """MM iterations for Bradley–Terry strengths from a win matrix.

    ``p_i <- W_i / sum_j n_ij / (p_i + p_j)``, then normalised to sum 1. Items with no
    comparison get NaN.
    """
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    played = games.sum(axis=1) > 0
    p = np.where(played, 1.0 / max(int(played.sum()), 1), np.nan)
    pairs = games > 0
    for iteration in range(1, max_iterations + 1):
        pp = p[:, None] + p[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(pairs & (pp > 0), games / np.where(pp > 0, pp, 1.0), 0.0)
        denominator = ratio.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(played & (denominator > 0), total_wins / denominator, 0.0)
        new = np.where(played, new, np.nan)
        total = np.nansum(new)
        if total <= 0:
            return new, iteration, False
        new = new / total
        change = np.nansum(np.abs(new - p))
        p = new
        if change < tolerance:
            return p, iteration, True
    return p, max_iterations, False


def bradley_terry(
    comparisons: Sequence[Comparison],
    *,
    tolerance: float = 1e-10,
    max_iterations: int = 10_000,
) -> Ranking:
    """Bradley–Terry strengths by maximum likelihood (MM), normalised to sum 1.

    Ties count as half a win for each side. An item that never wins gets strength 0 (the
    maximum-likelihood estimate does not exist in that case; this is its limit).
    """
    items = _items(comparisons)
    index = {item: i for i, item in enumerate(items)}
    p, iterations, converged = _mm(_win_matrix(comparisons, index), tolerance, max_iterations)
    info = {"iterations": iterations, "converged": converged, "tolerance": tolerance}
    return _rank("bradley_terry", {item: float(p[index[item]]) for item in items}, info)


def bradley_terry_bootstrap(
    comparisons: Sequence[Comparison],
    *,
    rounds: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    tolerance: float = 1e-8,
    max_iterations: int = 1000,
) -> Ranking:
    """Bradley–Terry strengths with percentile bootstrap confidence intervals.

    The point estimates are those of :func:`bradley_terry` on all comparisons; the intervals
    are percentiles of the strengths refitted on ``rounds`` resamples (with replacement) of
    the comparisons. An item missing from a resample is left out of that round. Resamples
    in which some item never wins converge slowly towards 0 for it; ``max_iterations``
    bounds the work spent on them.
    """
    if rounds < 1 or not 0 < confidence < 1:
        raise ConfigError(
            f"bad bootstrap parameters (rounds={rounds}, confidence={confidence})",
            hint="need rounds >= 1 and 0 < confidence < 1",
        )
    point = bradley_terry(comparisons, tolerance=min(tolerance, 1e-10))
    items = [r.item for r in point.items]
    index = {item: i for i, item in enumerate(items)}
    full = np.array([[index[c.left], index[c.right]] for c in comparisons], dtype=np.intp).reshape(
        -1, 2
    )
    outcome = np.array(
        [1.0 if c.winner == "left" else 0.0 if c.winner == "right" else 0.5 for c in comparisons]
    )
    rng = np.random.default_rng(seed)
    n = len(items)
    samples = np.full((rounds, n), np.nan)
    for r in range(rounds):
        pick = rng.integers(0, len(comparisons), size=len(comparisons))
        wins = np.zeros((n, n))
        np.add.at(wins, (full[pick, 0], full[pick, 1]), outcome[pick])
        np.add.at(wins, (full[pick, 1], full[pick, 0]), 1.0 - outcome[pick])
        samples[r], _, _ = _mm(wins, tolerance, max_iterations)
    alpha = (1.0 - confidence) / 2.0
    with np.errstate(all="ignore"):
        low = np.nanquantile(samples, alpha, axis=0)
        high = np.nanquantile(samples, 1.0 - alpha, axis=0)
    intervals = {item: (float(low[index[item]]), float(high[index[item]])) for item in items}
    info = {**point.info, "rounds": rounds, "confidence": confidence, "seed": seed}
    return _rank("bradley_terry", point.scores, info, intervals)


# --- TrueSkill ------------------------------------------------------------------------


def trueskill_ratings(
    comparisons: Sequence[Comparison],
    *,
    mu: float = 25.0,
    sigma: float = 25.0 / 3.0,
    beta: float = 25.0 / 6.0,
    tau: float = 25.0 / 300.0,
    draw_probability: float = 0.10,
) -> Ranking:
    """TrueSkill ratings, updated comparison by comparison (``trueskill.rate_1vs1``).

    The score is the conservative estimate ``mu - 3 * sigma``; ``extra`` carries ``mu`` and
    ``sigma``. A tie needs ``draw_probability > 0``.
    """
    try:
        import trueskill
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "TrueSkill needs the `trueskill` package", hint="pip install trueskill"
        ) from exc
    if draw_probability <= 0 and any(c.winner == "tie" for c in comparisons):
        raise ConfigError(
            "comparisons contain ties but draw_probability is 0",
            hint="set draw_probability > 0",
        )
    env = trueskill.TrueSkill(
        mu=mu, sigma=sigma, beta=beta, tau=tau, draw_probability=draw_probability, backend=None
    )
    ratings = {item: env.create_rating() for item in _items(comparisons)}
    for c in comparisons:
        if c.winner == "right":
            new_right, new_left = trueskill.rate_1vs1(ratings[c.right], ratings[c.left], env=env)
        else:
            new_left, new_right = trueskill.rate_1vs1(
                ratings[c.left], ratings[c.right], drawn=c.winner == "tie", env=env
            )
        ratings[c.left], ratings[c.right] = new_left, new_right
    scores = {item: float(r.mu - 3.0 * r.sigma) for item, r in ratings.items()}
    extra = {item: {"mu": float(r.mu), "sigma": float(r.sigma)} for item, r in ratings.items()}
    info = {
        "mu": mu,
        "sigma": sigma,
        "beta": beta,
        "tau": tau,
        "draw_probability": draw_probability,
    }
    return _rank("trueskill", scores, info, extra=extra)


# --- input ----------------------------------------------------------------------------


def comparisons_from_records(records: Iterable[dict[str, Any]]) -> list[Comparison]:
    """Comparisons from mappings with ``left``, ``right`` and ``winner`` keys."""
    out = []
    for number, record in enumerate(records, 1):
        try:
            out.append(Comparison(str(record["left"]), str(record["right"]), record["winner"]))
        except KeyError as exc:
            raise ConfigError(f"comparison {number} lacks {exc}") from exc
    return out


def load_comparisons(path: str | Path) -> list[Comparison]:
    """Read a CSV file with ``left``, ``right`` and ``winner`` columns (others ignored)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"left", "right", "winner"} - set(reader.fieldnames or ())
        if missing:
            raise MalformedInputError(str(path), f"missing column(s) {sorted(missing)}")
        try:
            return comparisons_from_records(reader)
        except ConfigError as exc:
            raise MalformedInputError(str(path), exc.message) from exc


__all__ = [
    "Comparison",
    "RankedItem",
    "Ranking",
    "Winner",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "comparisons_from_records",
    "elo",
    "load_comparisons",
    "trueskill_ratings",
]
