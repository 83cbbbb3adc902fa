"""Train the injection guard's logistic model; writes ``src/ragline/guard/injection_weights.json``.

Reads only the *train* side of ``injection_data.py``'s splits (the held-out side is what
``bench_guard_classifiers.py`` reports on). Deterministic: the same data, the same features
(MiniLM vectors rounded to 1e-4) and scikit-learn's lbfgs from zero give the same file,
byte for byte (``tests/unit/test_guard_injection.py`` retrains and compares).

Rows: each prompt as a whole (the embedder reads its first 256 tokens); each passage as a
whole and as the sentence windows the guard scores (a window holding the planted
instruction is positive, every other window negative). Classes are balanced by weight.

The threshold: the lowest that keeps the false-positive rate of out-of-fold scores (5 folds
grouped by near-duplicate family / article) at most 0.5% on benign prompts and 2% on benign
passages; it is written beside the weights and is the default of ``guard.injection_threshold``.

    python benchmarks/train_injection.py [--cache emb.npz] [--output PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import REPO, bench_data
from injection_data import Example, documents, prompts

WINDOW_WORDS = 32  # a sentence or two: a planted instruction fills most of one window
C = 1.0  # L2 strength; features are unit vectors and 0/1 flags
FOLDS = 5
MAX_FP_PROMPTS = 0.005
MAX_FP_PASSAGES = 0.02
OUTPUT = REPO / "src" / "ragline" / "guard" / "injection_weights.json"


class CachedEmbedder:
    """The real embedder, with vectors cached by text hash in an .npz file (optional)."""

    def __init__(self, inner: Any, path: Path | None) -> None:
        self.inner, self.path = inner, path
        self.cache: dict[str, np.ndarray] = {}
        self.dirty = 0
        if path and path.exists():
            with np.load(path) as z:
                self.cache = {k: z[k] for k in z.files}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if self.key(t) not in self.cache})
        for i in range(0, len(missing), 256):
            batch = missing[i : i + 256]
            for t, v in zip(batch, self.inner.embed(batch), strict=True):
                self.cache[self.key(t)] = v
            self.dirty += len(batch)
            if len(missing) > 256:
                print(f"  embedded {min(i + 256, len(missing))}/{len(missing)}", flush=True)
            if self.dirty >= 256:
                self.save()
        return np.stack([self.cache[self.key(t)] for t in texts])

    def save(self) -> None:
        if self.path and self.dirty:
            np.savez(self.path, **self.cache)
        self.dirty = 0


def rows(examples: list[Example], planted: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """One row per scored segment: ``{text, label, example}`` (example: index)."""
    from ragline.guard.injection import segments

    out = []
    for i, ex in enumerate(examples):
        for seg in segments(ex.text, window_words=WINDOW_WORDS, max_chars=8000):
            if ex.kind == "prompt" and seg.kind != "text":
                continue  # a prompt is one row; windows of a jailbreak are not labelled
            label = ex.label
            if seg.kind == "window":
                s, e = planted.get(ex.text, (-1, -1))
                overlap = max(0, min(e, seg.end or 0) - max(s, seg.start or 0))
                label = int(e > s and overlap >= 0.6 * (e - s))
            out.append({"text": seg.text, "label": label, "example": i})
    return out


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, tol=1e-8)
    model.fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def score(x: np.ndarray, coef: np.ndarray, bias: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ coef + bias)))


def example_scores(row_scores: np.ndarray, row_example: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    np.maximum.at(out, row_example, row_scores)
    return out


def choose_threshold(scores: np.ndarray, examples: list[Example]) -> float:
    benign_p = np.array(
        [s for s, e in zip(scores, examples, strict=True) if not e.label and e.kind == "prompt"]
    )
    benign_d = np.array(
        [s for s, e in zip(scores, examples, strict=True) if not e.label and e.kind != "prompt"]
    )
    for t in np.round(np.arange(0.05, 1.0, 0.01), 2):
        if (benign_p >= t).mean() <= MAX_FP_PROMPTS and (benign_d >= t).mean() <= MAX_FP_PASSAGES:
            return float(t)
    return 0.99


def table(data: Path, limit: int = 0) -> tuple[list[Example], list[dict[str, Any]], str]:
    """The training examples, their rows, and the rows' sha256 (no embedding: fast)."""
    docs = [p for p in documents(data) if p.example.split == "train"]
    examples = [e for e in prompts(data) if e.split == "train"] + [p.example for p in docs]
    if limit:
        examples = sorted(examples, key=lambda e: hashlib.sha256(e.text.encode()).digest())
        examples = examples[:limit]
    planted = {p.example.text: (p.start, p.end) for p in docs if p.start >= 0}
    out = rows(examples, planted)
    digest = hashlib.sha256(json.dumps([[r["text"], r["label"]] for r in out]).encode())
    return examples, out, digest.hexdigest()


def train(data: Path, cache: Path | None = None, limit: int = 0) -> dict[str, Any]:
    from sklearn.model_selection import GroupKFold

    from ragline.config import Settings
    from ragline.guard.heuristics import HEURISTICS
    from ragline.guard.injection import features
    from ragline.models.embedder import get_embedder

    examples, tab, digest = table(data, limit)
    print(f"{len(examples)} examples, {len(tab)} rows, data sha256 {digest[:16]}", flush=True)
    settings = Settings()
    embedder = CachedEmbedder(get_embedder(settings.embedder), cache)
    x = features(embedder, [r["text"] for r in tab])  # type: ignore[arg-type]
    embedder.save()
    y = np.array([r["label"] for r in tab])
    ex_of_row = np.array([r["example"] for r in tab])
    groups = np.array([examples[r["example"]].group for r in tab])

    oof = np.zeros(len(y))
    for tr, te in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        coef, bias = fit(x[tr], y[tr])
        oof[te] = score(x[te], coef, bias)
    ex_oof = example_scores(oof, ex_of_row, len(examples))
    threshold = choose_threshold(ex_oof, examples)
    by_source: dict[str, dict[str, float]] = {}
    for src in sorted({e.source for e in examples}):
        s = np.array([v for v, e in zip(ex_oof, examples, strict=True) if e.source == src])
        by_source[src] = {"n": len(s), "flagged": round(float((s >= threshold).mean()), 4)}
    print(f"threshold {threshold}; out-of-fold flag rate by source: {by_source}")

    coef, bias = fit(x, y)
    return {
        "model": "logistic regression on [MiniLM vector (rounded 1e-4), heuristics]",
        "embedder": get_embedder(settings.embedder).name,
        "heuristics": list(HEURISTICS),
        "window_words": WINDOW_WORDS,
        "threshold": threshold,
        "bias": round(bias, 6),
        "coef": [round(float(c), 6) for c in coef],
        "training": {
            "script": "benchmarks/train_injection.py",
            "C": C,
            "examples": len(examples),
            "rows": len(tab),
            "positive_rows": int(y.sum()),
            "data_sha256": digest,
            "out_of_fold_flag_rate": by_source,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="embedding cache (.npz), for reruns")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--limit", type=int, default=0, help="train on N examples (a test)")
    args = parser.parse_args()
    weights = train(bench_data(), args.cache, args.limit)
    args.output.write_text(json.dumps(weights, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
