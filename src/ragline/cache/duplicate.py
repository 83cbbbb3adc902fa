"""The semantic cache's duplicate classifier: is a new question the cached one, reworded?

A fixed cosine threshold cannot reject "Who built the Eiffel Tower?" for "When was the Eiffel
Tower built?" (MiniLM cosine 0.965, different questions) while accepting "Does European Union
law have primacy over national law?" for "Does EU law take precedence over national law?"
(0.856, the same question). :func:`judge` keeps the near-miss gate's hard rejections as rules
(``negation``, ``number``, ``date``, ``unit``, ``swapped_roles``: a wrong answer every time)
and hands the rest to a small logistic regression over cheap features of the pair
(:data:`FEATURES`: the cosine, the gate's softer reasons, content-word overlap and the words
that differ and are not synonyms, question word and type, length ratio …).

The weights (:file:`duplicate.json`, a few hundred bytes) are fitted by
``benchmarks/train_duplicate.py`` on the tuning half of the cache's pair set only, and its
probability threshold is the lowest keeping false hits within 1% there; the held-out half is
what ``benchmarks/bench_cache.py`` reports. Pure Python and numpy at lookup time (no
scikit-learn): a few tens of microseconds per pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.cache import gate
from ragline.cache.gate import Features, features

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class Pair:
    """One line of a pairs file: two questions, and whether they ask the same thing."""

    q1: str
    q2: str
    duplicate: bool | None
    id: str | None = None
    line: int = 0
    #: The input line's other fields (category, topic …), for reports.
    extra: dict[str, Any] = field(default_factory=dict)


#: Gate reasons that always reject (a different fact is asked for, whatever the wording).
HARD_REASONS = frozenset({"negation", "number", "date", "unit", "swapped_roles"})

WEIGHTS = Path(__file__).with_name("duplicate.json")

FEATURES = (
    "cosine",
    "gate_entity",
    "gate_question_type",
    "gate_substitution",
    "content_jaccard",
    "unmatched_max",
    "unmatched_min",
    "both_sides_differ",
    "same_question_word",
    "same_question_type",
    "length_ratio",
    "same_object_question",
    "same_last_word",
    "content_order",
    "same_entities",
    "cosine_squared",
    "cosine_x_unmatched_max",
    "cosine_x_unmatched_min",
    "cosine_x_content_jaccard",
)


def _unmatched(a: Features, b: Features) -> list[str]:
    """Content words of ``a`` neither in ``b`` nor a synonym or form of one of ``b``'s."""
    bs = set(b.content)
    return [w for w in a.content if w not in bs and not any(gate._is_synonym(w, y) for y in bs)]


def pair_features(q1: str, q2: str, cosine: float, reason: str | bool | None = False) -> np.ndarray:
    """:data:`FEATURES` of a pair, in that order (float64); ``reason``: the gate's verdict on
    the pair when the caller has it already."""
    a, b = features(q1), features(q2)
    soft = gate.compare(q1, q2) if reason is False else reason
    ca, cb = set(a.content), set(b.content)
    union = ca | cb
    ua, ub = _unmatched(a, b), _unmatched(b, a)
    fa = len(ua) / max(1, len(ca))
    fb = len(ub) / max(1, len(cb))
    la, lb = len(a.tokens), len(b.tokens)
    first_a = a.tokens[0] if a.tokens else ""
    first_b = b.tokens[0] if b.tokens else ""
    jaccard = len(ca & cb) / len(union) if union else 1.0
    high, low = max(fa, fb), min(fa, fb)
    return np.array(
        [
            cosine,
            soft == "entity",
            soft == "question_type",
            soft == "substitution",
            jaccard,
            high,
            low,
            bool(ua) and bool(ub),
            first_a == first_b,
            a.qtype == b.qtype,
            min(la, lb) / max(1, la, lb),
            a.object_question == b.object_question,
            a.last == b.last,
            SequenceMatcher(a=a.content, b=b.content, autojunk=False).ratio(),
            a.entities == b.entities,
            cosine * cosine,
            cosine * high,
            cosine * low,
            cosine * jaccard,
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class DuplicateModel:
    """A fitted logistic regression over standardised :data:`FEATURES`."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def probability(
        self, q1: str, q2: str, cosine: float, reason: str | bool | None = False
    ) -> float:
        x = (pair_features(q1, q2, cosine, reason) - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept))))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "coef": [round(float(v), 8) for v in self.coef],
            "intercept": round(float(self.intercept), 8),
            "threshold": round(float(self.threshold), 6),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, object]) -> DuplicateModel:
        if list(obj["features"]) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError(
                f"duplicate classifier weights are for features {obj['features']}, not "
                f"{list(FEATURES)}: run benchmarks/train_duplicate.py to refit them"
            )
        return cls(
            mean=np.asarray(obj["mean"], dtype=np.float64),
            scale=np.asarray(obj["scale"], dtype=np.float64),
            coef=np.asarray(obj["coef"], dtype=np.float64),
            intercept=float(obj["intercept"]),  # type: ignore[arg-type]
            threshold=float(obj["threshold"]),  # type: ignore[arg-type]
        )


@lru_cache(maxsize=1)
def shipped_model() -> DuplicateModel:
    """The weights shipped in the package."""
    return DuplicateModel.from_dict(json.loads(WEIGHTS.read_text(encoding="utf-8")))


def judge(q1: str, q2: str, cosine: float, model: DuplicateModel | None = None) -> str | None:
    """Why ``q2`` must not be served ``q1``'s answer (a hard gate reason, or ``classifier``:
    the duplicate probability is under the model's threshold), or None: the same question."""
    if gate.normalise(q1) == gate.normalise(q2):
        return None
    reason = gate.compare(q1, q2)
    if reason in HARD_REASONS:
        return reason
    m = model or shipped_model()
    return None if m.probability(q1, q2, cosine, reason) >= m.threshold else "classifier"


C_GRID = (0.1, 0.3, 1.0)


def fit(
    pairs: Sequence[Pair],
    cosines: np.ndarray,
    max_false_hits: float,
    seed: int = 0,
    counted: Sequence[bool] | None = None,
) -> tuple[DuplicateModel, dict[str, object]]:
    """Fit a :class:`DuplicateModel` on labelled pairs and their cosines (scikit-learn, only
    here). Pairs the hard rules reject are left out of the fit; the regularisation (from
    :data:`C_GRID`) and the probability threshold are the ones with the most out-of-fold
    hits (5 folds) whose out-of-fold false-hit rate over all the non-duplicates stays within
    ``max_false_hits`` (over the pairs ``counted`` marks, all by default: a fit may learn
    from more pairs than the rate is measured on). Deterministic: the same pairs give the
    same weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    reasons = [gate.compare(p.q1, p.q2) for p in pairs]
    keep = [i for i, r in enumerate(reasons) if r not in HARD_REASONS]
    x = np.stack(
        [pair_features(pairs[i].q1, pairs[i].q2, float(cosines[i]), reasons[i]) for i in keep]
    )
    y = np.array([bool(pairs[i].duplicate) for i in keep], dtype=int)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale

    def model(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, class_weight="balanced", solver="lbfgs", max_iter=5000)

    if counted is None:
        counted = [True] * len(pairs)
    count = np.array([counted[i] for i in keep], dtype=bool)
    # hard-rejected pairs count too, as misses
    n_non = sum(1 for p, c in zip(pairs, counted, strict=True) if c and p.duplicate is False)
    n_dup = sum(1 for p, c in zip(pairs, counted, strict=True) if c and p.duplicate is True)
    best: tuple[int, float, tuple[float, int, int]] | None = None
    for c in C_GRID:  # regularisation chosen by out-of-fold hits, tuning half only
        oof = np.zeros(len(y))
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y):
            oof[test] = model(c).fit(z[train], y[train]).predict_proba(z[test])[:, 1]
        for t in np.round(np.arange(0.05, 0.996, 0.005), 3):
            false = int(((oof >= t) & (y == 0) & count).sum())
            if false / n_non <= max_false_hits:
                found = (float(t), false, int(((oof >= t) & (y == 1) & count).sum()))
                if best is None or found[2] > best[0]:
                    best = (found[2], c, found)
                break
    assert best is not None
    _, c, chosen = best
    final = model(c).fit(z, y)
    m = DuplicateModel(mean, scale, final.coef_[0], float(final.intercept_[0]), chosen[0])
    info = {
        "pairs": len(pairs),
        "fitted_on": len(keep),
        "duplicates": n_dup,
        "non_duplicates": n_non,
        "C": c,
        "threshold": chosen[0],
        "out_of_fold_false_hit_rate": chosen[1] / n_non,
        "out_of_fold_hit_rate": chosen[2] / n_dup,
    }
    return m, info


__all__ = [
    "C_GRID",
    "FEATURES",
    "HARD_REASONS",
    "DuplicateModel",
    "fit",
    "judge",
    "pair_features",
    "shipped_model",
]
