"""How an LLM judge behaved over a run: the diagnostics of ``ragline eval`` reports.

* :func:`rating_diagnostics` — for 1–5 judges: verdicts, unparsed and repaired replies, the
  rating distribution, variance across repeats (within an item, and of the run mean) and,
  when human labels exist, agreement: accuracy, quadratic-weighted Cohen's κ, Spearman's ρ;
* :func:`pairwise_diagnostics` — for pairwise judges: wins and ties, position consistency
  (both orders agree), the first-position win rate, length bias (the longer answer's win
  rate and the Spearman correlation of preference with the length difference), the flip
  rate across repeats and agreement with human preferences;
* :func:`pair_score` and :func:`comparisons_from_details` — a system's pairwise score, and
  the judged pairs as :class:`~ragline.evaluate.ranking.Comparison` for Elo / BT / TrueSkill.

They read the ``details`` a judge metric stores per item (see :mod:`ragline.evaluate.scoring`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ragline.evaluate.judge import Winner, as_rating
from ragline.evaluate.metrics.agreement import accuracy, cohen_kappa, spearman
from ragline.evaluate.ranking import Comparison


@dataclass(frozen=True, slots=True)
class Agreement:
    """Judge vs human labels: accuracy, Cohen's κ (quadratic for ratings) and Spearman's ρ."""

    n: int
    accuracy: float
    kappa: float
    spearman: float | None = None
    spearman_p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RatingDiagnostics:
    """How a 1–5 judge behaved over a run."""

    name: str
    items: int
    verdicts: int
    unparsed: int
    errors: int
    repaired: int
    mean: float | None
    distribution: dict[str, int]
    repeats: int
    #: mean over items of the standard deviation of an item's ratings across repeats
    within_item_std: float | None
    #: standard deviation of the run mean across repeats
    between_repeat_std: float | None
    agreement: Agreement | None = None

    @property
    def unparsed_rate(self) -> float:
        return self.unparsed / self.verdicts if self.verdicts else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["unparsed_rate"] = self.unparsed_rate
        out["kind"] = "rating"
        return out


@dataclass(frozen=True, slots=True)
class PairwiseDiagnostics:
    """How a pairwise judge behaved over a run (see the module docstring)."""

    name: str
    pairs: int
    unparsed: int
    errors: int
    left_wins: int
    right_wins: int
    ties: int
    #: share of fully parsed pairs whose two orders agree
    position_consistency: float | None
    #: of decisive single-order verdicts, the share that picked the answer shown first
    first_position_win_rate: float | None
    #: of decisive final verdicts between answers of different length, the longer's win rate
    longer_win_rate: float | None
    #: Spearman's ρ of preference (+1 left, 0 tie, -1 right) and length(left) - length(right)
    length_correlation: float | None
    repeats: int
    #: share of (item, pair) whose final verdict changes across repeats
    repeat_flip_rate: float | None
    agreement: Agreement | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = "pairwise"
        return out


def _safe_spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    corr = spearman(x, y)
    if math.isnan(corr.statistic):
        return None, None
    return corr.statistic, corr.pvalue


def _kappa(a: Sequence[Any], b: Sequence[Any], **kw: Any) -> float:
    try:
        k = cohen_kappa(a, b, **kw)
    except Exception:  # a label outside the fixed set: agreement is still reported
        return math.nan
    return k


def rating_of(details: dict[str, Any]) -> float | None:
    """An item's judge score: the mean of its parsed ratings, None when there is none."""
    values = [v["value"] for v in details.get("verdicts", []) if v.get("value") is not None]
    return sum(values) / len(values) if values else None


def human_rating(value: Any) -> int | None:
    return as_rating(value)


def rating_diagnostics(name: str, details: Iterable[dict[str, Any]]) -> RatingDiagnostics:
    """Summarise the ``details[name]`` of every item judged by a 1–5 judge."""
    rows = [d for d in details if d]
    verdicts = [v for d in rows for v in d.get("verdicts", [])]
    values = [v["value"] for v in verdicts if v.get("value") is not None]
    repeats = max((len(d.get("verdicts", [])) for d in rows), default=0)
    stds = []
    for d in rows:
        vals = [v["value"] for v in d.get("verdicts", []) if v.get("value") is not None]
        if len(vals) >= 2:
            stds.append(statistics.pstdev(vals))
    per_repeat = []
    for r in range(repeats):
        vals = [
            d["verdicts"][r]["value"]
            for d in rows
            if len(d.get("verdicts", [])) > r and d["verdicts"][r].get("value") is not None
        ]
        if vals:
            per_repeat.append(sum(vals) / len(vals))
    pairs = [
        (human_rating(d.get("human")), rating_of(d))
        for d in rows
        if human_rating(d.get("human")) is not None and rating_of(d) is not None
    ]
    agreement = None
    if pairs:
        humans = [h for h, _ in pairs]
        judged = [min(5, max(1, round(j))) for _, j in pairs]  # type: ignore[arg-type]
        rho, p = _safe_spearman([float(h) for h in humans], [float(j) for _, j in pairs])  # type: ignore[misc]
        agreement = Agreement(
            n=len(pairs),
            accuracy=accuracy(humans, judged),
            kappa=_kappa(humans, judged, weights="quadratic", labels=[1, 2, 3, 4, 5]),
            spearman=rho,
            spearman_p=p,
        )
    return RatingDiagnostics(
        name=name,
        items=len(rows),
        verdicts=len(verdicts),
        unparsed=sum(1 for v in verdicts if v.get("value") is None),
        errors=sum(1 for v in verdicts if v.get("error")),
        repaired=sum(1 for v in verdicts if v.get("repaired") and v.get("value") is not None),
        mean=sum(values) / len(values) if values else None,
        distribution={str(k): Counter(values).get(k, 0) for k in range(1, 6)},
        repeats=repeats,
        within_item_std=sum(stds) / len(stds) if stds else None,
        between_repeat_std=statistics.pstdev(per_repeat) if len(per_repeat) >= 2 else None,
        agreement=agreement,
    )


def pair_score(pairs: Iterable[dict[str, Any]], system: str) -> float | None:
    """The system's mean outcome over its judged pairs: win 1, tie ½, loss 0."""
    outcomes = []
    for p in pairs:
        w = p.get("winner")
        if w is None or system not in (p.get("left"), p.get("right")):
            continue
        side = "left" if p["left"] == system else "right"
        outcomes.append(1.0 if w == side else 0.5 if w == "tie" else 0.0)
    return sum(outcomes) / len(outcomes) if outcomes else None


def human_preference(value: Any, left: str, right: str) -> Winner | None:
    """A human pairwise label as left/right/tie (accepts names, A/B, left/right, tie)."""
    if value is None:
        return None
    v = str(value).strip()
    if v in (left, "left", "A", "a", "output", "system"):
        return "left"
    if v in (right, "right", "B", "b"):
        return "right"
    if v.lower() in ("tie", "draw", "equal"):
        return "tie"
    return None


def pairwise_diagnostics(name: str, details: Iterable[dict[str, Any]]) -> PairwiseDiagnostics:
    """Summarise the ``details[name]`` of every item judged pairwise."""
    rows = [d for d in details if d]
    pairs = [p for d in rows for p in d.get("pairs", [])]
    singles = [v for p in pairs for v in (p["first"], p["second"])]
    decisive_first = 0
    decisive = 0
    for p in pairs:
        for verdict in (p["first"], p["second"]):  # "A" is the answer shown first
            if verdict.get("value") in ("A", "B"):
                decisive += 1
                decisive_first += verdict["value"] == "A"
    parsed = [p for p in pairs if p.get("consistent") is not None]
    finals = [p for p in pairs if p.get("winner") is not None]
    longer = [p for p in finals if p["winner"] != "tie" and p["left_length"] != p["right_length"]]
    longer_wins = sum(
        1 for p in longer if (p["winner"] == "left") == (p["left_length"] > p["right_length"])
    )
    pref = [
        1.0 if p["winner"] == "left" else -1.0 if p["winner"] == "right" else 0.0 for p in finals
    ]
    diff = [float(p["left_length"] - p["right_length"]) for p in finals]
    rho, _ = _safe_spearman(pref, diff)
    repeats = max((p.get("repeat", 0) for p in pairs), default=-1) + 1
    flips, groups = 0, 0
    if repeats > 1:
        for d in rows:
            by_pair: dict[tuple[str, str], set[str]] = {}
            for p in d.get("pairs", []):
                if p.get("winner") is not None:
                    by_pair.setdefault((p["left"], p["right"]), set()).add(p["winner"])
            groups += len(by_pair)
            flips += sum(1 for winners in by_pair.values() if len(winners) > 1)
    labelled: list[tuple[str, str]] = []
    for d in rows:
        first_pairs = [p for p in d.get("pairs", []) if p.get("repeat", 0) == 0]
        if not first_pairs or first_pairs[0].get("winner") is None:
            continue
        p = first_pairs[0]
        human = human_preference(d.get("human"), p["left"], p["right"])
        if human is not None:
            labelled.append((human, p["winner"]))
    agreement = None
    if labelled:
        humans = [h for h, _ in labelled]
        judged = [j for _, j in labelled]
        agreement = Agreement(
            n=len(labelled),
            accuracy=accuracy(humans, judged),
            kappa=_kappa(humans, judged, labels=["left", "tie", "right"]),
        )
    return PairwiseDiagnostics(
        name=name,
        pairs=len(pairs),
        unparsed=len(pairs) - len(finals),
        errors=sum(1 for v in singles if v.get("error")),
        left_wins=sum(1 for p in finals if p["winner"] == "left"),
        right_wins=sum(1 for p in finals if p["winner"] == "right"),
        ties=sum(1 for p in finals if p["winner"] == "tie"),
        position_consistency=(
            sum(1 for p in parsed if p["consistent"]) / len(parsed) if parsed else None
        ),
        first_position_win_rate=decisive_first / decisive if decisive else None,
        longer_win_rate=longer_wins / len(longer) if longer else None,
        length_correlation=rho,
        repeats=max(repeats, 0),
        repeat_flip_rate=flips / groups if groups else None,
        agreement=agreement,
    )


def comparisons_from_details(details: Iterable[dict[str, Any]]) -> list[Comparison]:
    """Every judged pair (each repeat) with a final verdict, as a ranking comparison."""
    return [
        Comparison(p["left"], p["right"], p["winner"])
        for d in details
        if d
        for p in d.get("pairs", [])
        if p.get("winner") is not None
    ]


__all__ = [
    "Agreement",
    "PairwiseDiagnostics",
    "RatingDiagnostics",
    "comparisons_from_details",
    "human_preference",
    "human_rating",
    "pair_score",
    "pairwise_diagnostics",
    "rating_diagnostics",
    "rating_of",
]
