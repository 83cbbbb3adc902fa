"""Fit the semantic cache's duplicate classifier (``src/ragline/cache/duplicate.json``).

Training data: the TUNING half only (topics for which ``bench_cache.held_out`` is false) of
``benchmarks/data/cache_pairs.jsonl`` and of the SQuAD same-paragraph pairs (here up to
``--squad-pairs-per-paragraph`` per paragraph: more negatives than the bench scores). Pairs the
gate's hard rules reject (negation, number, date, unit, swapped roles) never reach the
classifier and are left out of its fit. A logistic regression (scikit-learn, balanced class
weights, fixed solver: the same data gives the same weights) over standardised
``duplicate.FEATURES``; the probability threshold is the lowest whose false-hit rate on the
tuning non-duplicates, with 5-fold out-of-fold probabilities, stays within ``--max-false-hits``.

    python benchmarks/train_duplicate.py [--check]

``--check`` refits and compares with the shipped file instead of writing it (exit 1 if the
weights differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cache import PAIRS, held_out, squad_pairs
from ragline.cache.calibrate import Pair, parse_pairs
from ragline.cache.duplicate import WEIGHTS, fit
from ragline.config import load_settings
from ragline.models.embedder import get_embedder


def training_pairs(embedder, per_paragraph: int) -> tuple[list[Pair], list[bool]]:
    """The tuning half's pairs, and which of them ``bench_cache.py`` tunes on (the
    hand-written ones and the most similar SQuAD pair per paragraph): the threshold keeps
    false hits within the limit on those."""
    hand, errors = parse_pairs(PAIRS.read_text().splitlines(), source=str(PAIRS))
    assert not errors, errors
    rag = SimpleNamespace(embedder=embedder)
    squad = squad_pairs(rag, per_paragraph)
    first = {p.id for p in squad_pairs(rag, 1)}
    pairs = [p for p in hand + squad if not held_out(p.extra["topic"])]
    return pairs, [not p.id.startswith("squad-") or p.id in first for p in pairs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad-pairs-per-paragraph", type=int, default=3)
    parser.add_argument("--max-false-hits", type=float, default=0.01)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    pairs, counted = training_pairs(embedder, args.squad_pairs_per_paragraph)
    v1 = embedder.embed([p.q1 for p in pairs])
    v2 = embedder.embed([p.q2 for p in pairs])
    cosines = np.einsum("ij,ij->i", v1, v2)
    m, info = fit(pairs, cosines, args.max_false_hits, counted=counted)
    print(json.dumps(info, indent=1))
    text = json.dumps(m.to_dict(), indent=1) + "\n"
    if args.check:
        same = WEIGHTS.read_text() == text
        print("shipped weights reproduced" if same else "shipped weights differ")
        return 0 if same else 1
    WEIGHTS.write_text(text)
    print(f"wrote {WEIGHTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
