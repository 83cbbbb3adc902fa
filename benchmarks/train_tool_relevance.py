"""Fit the tool-relevance gate (``src/ragline/agent/tool_relevance.json``).

Training data: BFCL v4's *live* categories only, from the ``bfcl-eval`` package: every
``live_irrelevance`` case (no offered function fits: label 0) against every ``live_simple``,
``live_multiple`` and ``live_parallel`` case (one does: label 1). These are requests users
contributed, a different source from the categories ``bench_agent_calling.py`` reports
(``simple``, ``multiple``, ``parallel``, ``irrelevance``), which are never read here.

A logistic regression (scikit-learn, lbfgs, C = 1) over :data:`ragline.agent.relevance.FEATURES`
(computed by the same code the gate runs). The threshold maximises Youden's J (abstentions on
irrelevant cases + calls kept on relevant ones − 1) on 5-fold out-of-fold probabilities.

    python benchmarks/train_tool_relevance.py [--check]

``--check`` refits and compares with the shipped file instead of writing it (exit 1 if the
weights differ by more than 1e-6).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ragline.agent.relevance import FEATURES, RelevanceModel, ToolRelevance, embedder_id
from ragline.config import load_settings
from ragline.evaluate.bfcl import bfcl_data_dir
from ragline.models.embedder import get_embedder

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "ragline" / "agent" / "tool_relevance.json"
NEGATIVE = ("BFCL_v4_live_irrelevance.json",)
POSITIVE = ("BFCL_v4_live_simple.json", "BFCL_v4_live_multiple.json", "BFCL_v4_live_parallel.json")


def user_text(question: list) -> str:
    turns = question[0] if question and isinstance(question[0], list) else question
    return " ".join(t.get("content", "") for t in turns if t.get("role") == "user")


def read(name: str) -> list[tuple[str, list[dict]]]:
    out = []
    for line in (bfcl_data_dir() / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((user_text(row["question"]), row["function"]))
    return out


def youden_threshold(p_neg: np.ndarray, p_pos: np.ndarray) -> tuple[float, float, float]:
    """(threshold, abstention on negatives, calls kept on positives) maximising J."""
    best = (0.5, 0.0, 0.0, -1.0)
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        abstain = float((p_neg < t).mean())
        kept = float((p_pos >= t).mean())
        if abstain + kept - 1 > best[3]:
            best = (float(t), abstain, kept, abstain + kept - 1)
    return best[0], best[1], best[2]


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped weights")
    args = ap.parse_args()
    settings = load_settings()
    placeholder = RelevanceModel((0.0,) * len(FEATURES), 0.0, 0.5, "", {})
    gate = ToolRelevance(get_embedder(settings.embedder), placeholder)
    t0 = time.perf_counter()
    rows = [(r, f, 0) for name in NEGATIVE for r, f in read(name)]
    rows += [(r, f, 1) for name in POSITIVE for r, f in read(name)]
    x = np.array([gate.features(r, f) for r, f, _ in rows])
    y = np.array([label for _, _, label in rows])
    print(
        f"{len(rows)} cases ({int((y == 0).sum())} irrelevant), features in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(x[train], y[train])
        oof[test] = clf.predict_proba(x[test])[:, 1]
    threshold, abstain, kept = youden_threshold(oof[y == 0], oof[y == 1])
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    out = {
        "features": list(FEATURES),
        "weights": [round(float(w), 8) for w in clf.coef_[0]],
        "bias": round(float(clf.intercept_[0]), 8),
        "threshold": threshold,
        "embedder": embedder_id(settings),
        "fitted_on": {
            "data": "bfcl-eval live categories: " + ", ".join(NEGATIVE + POSITIVE),
            "irrelevant": int((y == 0).sum()),
            "relevant": int((y == 1).sum()),
        },
        "out_of_fold_at_threshold": {
            "irrelevant_abstained": round(abstain, 4),
            "relevant_kept": round(kept, 4),
        },
    }
    print(json.dumps(out, indent=1))
    if args.check:
        shipped = json.loads(SHIPPED.read_text())
        same = (
            np.allclose(shipped["weights"], out["weights"], atol=1e-6)
            and abs(shipped["bias"] - out["bias"]) <= 1e-6
            and shipped["threshold"] == out["threshold"]
        )
        print("same as shipped" if same else "DIFFERENT from the shipped weights")
        return 0 if same else 1
    SHIPPED.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {SHIPPED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
