"""Planted near-duplicate sets: real texts, their light copies and their heavy rewrites.

:func:`planted_set` builds a set whose duplicates are known, to choose and check the
deduplication defaults (``benchmarks/bench_data.py`` uses it on a dev half and reports on a
held-out half built from other base texts). From a pool of distinct texts (SciFact abstracts
and SQuAD paragraphs in the benchmark), seeded:

* **originals**: base texts as they are;
* **copies** (duplicates): an original with 1–5% of its words replaced by words drawn from
  the pool's vocabulary or dropped (half each, on average);
* **rewrites** (not duplicates): an original with 40–60% of its words replaced, dropped or
  with a word inserted after them — the same topic and much of the wording, but another text.

Records come shuffled, so a copy may come before its original. Each record has a ``family``:
an original and its copies share one; each rewrite has its own. A deduplicator is right to
remove a record for a kept one of the same family, wrong otherwise (:func:`score_planted`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragline.errors import ConfigError

#: Edit rates (share of words changed) of copies and of rewrites.
COPY_RATE = (0.01, 0.05)
REWRITE_RATE = (0.40, 0.60)


def _edit(words: list[str], rate: float, vocab: Sequence[str], rng: random.Random, ops: str) -> str:
    n = len(words)
    k = max(1, round(rate * n))
    positions = set(rng.sample(range(n), min(k, n)))
    out: list[str] = []
    for i, w in enumerate(words):
        if i not in positions:
            out.append(w)
            continue
        op = rng.choice(ops)
        if op == "r":  # replace by another word of the pool
            out.append(rng.choice(vocab))
        elif op == "i":  # keep it, insert a word after it
            out.extend((w, rng.choice(vocab)))
        # "d": dropped
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class PlantedRecord:
    id: str
    text: str
    family: str
    kind: str  # original | copy | rewrite
    rate: float  # the share of words changed (0 for an original)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "text": self.text,
            "family": self.family,
            "kind": self.kind,
            "rate": self.rate,
        }


def planted_set(
    pool: Sequence[str],
    *,
    size: int,
    seed: int,
    copy_share: float = 0.3,
    rewrite_share: float = 0.2,
    min_words: int = 20,
) -> list[PlantedRecord]:
    """``size`` records: originals from ``pool``, their copies and rewrites (shuffled)."""
    base = [t for t in pool if len(t.split()) >= min_words]
    n_copies = round(size * copy_share)
    n_rewrites = round(size * rewrite_share)
    n_originals = size - n_copies - n_rewrites
    if n_originals < 1 or n_originals > len(base):
        raise ConfigError(
            f"a planted set of {size} needs {n_originals} base texts of {min_words}+ words; "
            f"the pool has {len(base)}"
        )
    rng = random.Random(seed)
    originals = rng.sample(base, n_originals)
    vocab = sorted({w for t in originals for w in t.split()})
    out = [PlantedRecord(f"o{i}", t, f"f{i}", "original", 0.0) for i, t in enumerate(originals)]
    for c in range(n_copies):
        i = rng.randrange(n_originals)
        rate = rng.uniform(*COPY_RATE)
        text = _edit(originals[i].split(), rate, vocab, rng, "rd")
        out.append(PlantedRecord(f"c{c}", text, f"f{i}", "copy", round(rate, 4)))
    for r in range(n_rewrites):
        i = rng.randrange(n_originals)
        rate = rng.uniform(*REWRITE_RATE)
        text = _edit(originals[i].split(), rate, vocab, rng, "rdi")
        out.append(PlantedRecord(f"r{r}", text, f"rw{r}", "rewrite", round(rate, 4)))
    rng.shuffle(out)
    return out


@dataclass(frozen=True, slots=True)
class PlantedScore:
    """Record-level precision and recall of the removals on a planted set."""

    removed: int
    correct: int
    expected: int  # records that should go: each family's size minus one
    rewrites_removed: int

    @property
    def precision(self) -> float:
        return self.correct / self.removed if self.removed else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.expected if self.expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "removed": self.removed,
            "correct": self.correct,
            "expected": self.expected,
            "rewrites_removed": self.rewrites_removed,
        }


def score_planted(records: Sequence[PlantedRecord], kept_of: dict[int, int]) -> PlantedScore:
    """Score removals (removed position -> position of the record kept for it)."""
    sizes: dict[str, int] = {}
    for r in records:
        sizes[r.family] = sizes.get(r.family, 0) + 1
    correct = sum(1 for j, i in kept_of.items() if records[j].family == records[i].family)
    rewrites = sum(1 for j, i in kept_of.items() if "rewrite" in (records[j].kind, records[i].kind))
    return PlantedScore(
        removed=len(kept_of),
        correct=correct,
        expected=sum(s - 1 for s in sizes.values()),
        rewrites_removed=rewrites,
    )


__all__ = [
    "COPY_RATE",
    "REWRITE_RATE",
    "PlantedRecord",
    "PlantedScore",
    "planted_set",
    "score_planted",
]
