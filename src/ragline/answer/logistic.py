"""A small logistic regression: the extractive reader's and the answerability model's scorer.

Both are trained offline on the tuning half of the SQuAD 2.0 benchmark set
(``benchmarks/train_qa.py``) and shipped as one JSON file of a few kilobytes,
``answer/qa_weights.json``: feature names, the standardisation (mean, scale) and the
coefficients. numpy only: fitting is plain gradient descent on the L2-regularised log loss,
deterministic (no random start), so the training script is reproducible.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import ConfigError

WEIGHTS_FILE = "qa_weights.json"


@dataclass(frozen=True, slots=True)
class Logistic:
    """``p = sigmoid(bias + coef · (x - mean) / scale)`` over named features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    bias: float

    def logit(self, x: Mapping[str, float]) -> float:
        z = self.bias
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += c * (float(x.get(name, 0.0)) - m) / s
        return z

    def probability(self, x: Mapping[str, float]) -> float:
        z = self.logit(x)
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "coef": [round(v, 6) for v in self.coef],
            "bias": round(self.bias, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Logistic:
        try:
            model = cls(
                tuple(data["features"]),
                tuple(float(v) for v in data["mean"]),
                tuple(float(v) for v in data["scale"]),
                tuple(float(v) for v in data["coef"]),
                float(data["bias"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"malformed logistic weights: {exc}",
                hint="regenerate them with benchmarks/train_qa.py",
            ) from exc
        sizes = {len(model.features), len(model.mean), len(model.scale), len(model.coef)}
        if len(sizes) != 1:
            raise ConfigError(
                "malformed logistic weights: features, mean, scale and coef differ in length",
                hint="regenerate them with benchmarks/train_qa.py",
            )
        return model


def fit(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    features: Sequence[str],
    *,
    l2: float = 1e-2,
    steps: int = 3000,
    lr: float = 0.5,
) -> Logistic:
    """Fit on ``rows`` (feature dicts) and 0/1 ``labels``: standardise, then full-batch
    gradient descent from zero (deterministic)."""
    x = np.array([[float(r.get(f, 0.0)) for f in features] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    w = np.zeros(z.shape[1])
    b = 0.0
    n = len(y)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / n + l2 * w)
        b -= lr * float(g.mean())
    return Logistic(
        tuple(features),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in w),
        float(b),
    )


@cache
def shipped_weights(path: str | None = None) -> dict[str, Any]:
    """The weights file (default: the one shipped in the package), parsed once."""
    try:
        if path is None:
            text = resources.files("ragline.answer").joinpath(WEIGHTS_FILE).read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the QA weights {path or WEIGHTS_FILE}: {exc}",
            hint="reinstall ragline, or regenerate them with benchmarks/train_qa.py",
        ) from exc
    return data


def load(name: str, path: str | None = None) -> Logistic:
    """One model (``reader`` or ``answerability``) of the weights file."""
    data = shipped_weights(path)
    if name not in data:
        raise ConfigError(
            f"the QA weights have no {name!r} model",
            hint="regenerate them with benchmarks/train_qa.py",
        )
    return Logistic.from_dict(data[name])


__all__ = ["WEIGHTS_FILE", "Logistic", "fit", "load", "shipped_weights"]
