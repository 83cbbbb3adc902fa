"""Model routing (weak vs strong, after RouteLLM): send each question to the cheap model when
it is predicted to answer as well as the strong one, and the rest to the strong model.

The prediction is a logistic regression on a few features known before generating: the
retrieval scores of the packed passages (how clearly the documents answer) and the shape of
the question (its length, its question word, whether it asks for a number or a date). The
label it learns is "the weak model's answer is as good as the strong model's" (right, or
both wrong), from per-question answers of both models on the SQuAD tuning half
(``benchmarks/router_answers.py``); ``benchmarks/bench_router.py`` fits it, writes the
weights (shipped: ``route/model_router.json``) and reports on the held-out half.

:meth:`ModelRouter.choose` returns a :class:`ModelChoice`: the weak model when the score is at
or above ``route.model_threshold``, else the strong one -- unless the strong model cannot be
created here (not installed, misconfigured), in which case the weak one answers and the choice
says why. A failure of the chosen model while answering is the gateway's job: its retries and
``gateway.fallback`` chain apply as for any call.

The cascade (``route.model_cascade``, in the answer flow) adds the strongest signal, known
only after the weak model wrote: its draft failing the citation checker. A question routed to
the weak model whose answer is declined goes on to the strong one, so the router's threshold
only has to catch the weak answers that pass the checker yet are wrong.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ragline.errors import ConfigError

SHIPPED_WEIGHTS = Path(__file__).with_name("model_router.json")

Tier = Literal["weak", "strong"]

_WH = ("what", "who", "when", "where", "which", "why", "how")
_NUMERIC = re.compile(
    r"\b(how (many|much|long|old|far|big|tall|large)|what (year|percentage|number|date)|when)\b",
    re.IGNORECASE,
)

#: The features, in order (the weights file names them, and must name exactly these).
FEATURES: tuple[str, ...] = (
    "best_relevance",
    "mean_relevance",
    "top_gap",
    "passages",
    "log_words",
    *(f"wh_{w}" for w in _WH),
    "wh_other",
    "numeric",
    "capitalised",
)


def features(question: str, relevances: Sequence[float]) -> np.ndarray:
    """The router's features of one question and its passages' relevance scores."""
    rel = sorted((float(r) for r in relevances), reverse=True)
    best = rel[0] if rel else 0.0
    words = question.split()
    lowered = question.lower()
    first = next((w for w in _WH if re.search(rf"\b{w}\b", lowered)), None)
    inner = words[1:]
    capitalised = sum(w[:1].isupper() for w in inner) / len(inner) if inner else 0.0
    return np.array(
        [
            best,
            sum(rel) / len(rel) if rel else 0.0,
            best - rel[1] if len(rel) > 1 else best,
            float(len(rel)),
            math.log1p(len(words)),
            *(float(first == w) for w in _WH),
            float(first is None),
            float(bool(_NUMERIC.search(question))),
            capitalised,
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class RouterWeights:
    """A fitted model router: standardisation and logistic-regression weights."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict[str, Any]

    def score(self, x: np.ndarray) -> float:
        """P(the weak model answers as well as the strong one)."""
        z = float(((x - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(self.intercept, 6),
            **self.meta,
        }

    @classmethod
    def fit(
        cls, xs: np.ndarray, labels: Sequence[bool], *, c: float = 1.0, **meta: Any
    ) -> RouterWeights:
        """Fit on feature rows ``xs`` and labels (the weak model was good enough)."""
        from sklearn.linear_model import LogisticRegression

        xs = np.asarray(xs, dtype=np.float64)
        mean = xs.mean(axis=0)
        scale = xs.std(axis=0)
        scale[scale == 0] = 1.0
        y = np.asarray(labels, dtype=int)
        if len(set(y.tolist())) < 2:
            raise ConfigError("the model router needs examples of both labels to be trained")
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit((xs - mean) / scale, y)
        return cls(mean, scale, model.coef_[0].copy(), float(model.intercept_[0]), dict(meta))


def load_weights(path: Path | None = None) -> RouterWeights:
    """Weights from a JSON file (None: the shipped ones); a clear error for a bad file."""
    file = Path(path).expanduser() if path is not None else SHIPPED_WEIGHTS
    hint = "set route.model_weights to a file written by benchmarks/bench_router.py"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"the model router weights {file} do not exist", hint=hint) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the model router weights {file}: {exc}", hint=hint) from exc
    if not isinstance(data, dict) or data.get("features") != list(FEATURES):
        raise ConfigError(
            f"the model router weights {file} are not for this version's features",
            hint=hint,
        )
    try:
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        intercept = float(data["intercept"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the model router weights {file} are malformed: {exc}", hint=hint
        ) from exc
    if any(a.shape != (len(FEATURES),) for a in arrays):
        raise ConfigError(f"the model router weights {file} have the wrong shape", hint=hint)
    meta = {k: v for k, v in data.items() if k not in ("features", "mean", "scale", "coef")}
    meta.pop("intercept", None)
    return RouterWeights(*arrays, intercept, meta)


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """Which model answers one question, and why."""

    kind: ClassVar[str] = "model_route"
    model: str
    tier: Tier
    #: P(the weak model answers as well as the strong one).
    score: float
    threshold: float
    #: Why the tier differs from what the score says (e.g. the strong model is unavailable).
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tier": self.tier,
            "score": round(self.score, 4),
            "threshold": self.threshold,
            "note": self.note,
        }


class ModelRouter:
    """Weak or strong, per question; see the module docstring."""

    def __init__(
        self, weights: RouterWeights, *, weak: str, strong: str, threshold: float = 0.5
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ConfigError(f"the model threshold must be within 0-1, got {threshold}")
        self.weights = weights
        self.weak = weak
        self.strong = strong
        self.threshold = threshold

    def score(self, question: str, relevances: Sequence[float]) -> float:
        return self.weights.score(features(question, relevances))

    def choose(
        self,
        question: str,
        relevances: Sequence[float],
        *,
        available: Callable[[str], bool] | None = None,
    ) -> ModelChoice:
        """The model for this question. ``available(name)``: can that model be used now
        (default: yes); a strong model that cannot is replaced by the weak one."""
        p = self.score(question, relevances)
        if p >= self.threshold:
            return ModelChoice(self.weak, "weak", p, self.threshold)
        if available is not None and not available(self.strong):
            note = f"{self.strong} is not available: the weak model answers"
            return ModelChoice(self.weak, "weak", p, self.threshold, note)
        return ModelChoice(self.strong, "strong", p, self.threshold)


def model_router(
    weak: str | None, strong: str | None, threshold: float, weights: Path | None
) -> ModelRouter | None:
    """The model router these settings ask for (None: model routing is off)."""
    if weak is None and strong is None:
        return None
    if weak is None or strong is None:
        raise ConfigError(
            "model routing needs both route.weak_model and route.strong_model",
            hint="set both (e.g. embedded and qwen2.5-0.5b), or neither to turn it off",
        )
    return ModelRouter(load_weights(weights), weak=weak, strong=strong, threshold=threshold)


__all__ = [
    "FEATURES",
    "SHIPPED_WEIGHTS",
    "ModelChoice",
    "ModelRouter",
    "RouterWeights",
    "Tier",
    "features",
    "load_weights",
    "model_router",
]
