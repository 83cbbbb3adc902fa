"""Data contamination: n-gram overlap between an evaluation set and a (training) corpus.

The GPT-3 paper's test (Brown et al. 2020, appendix C) flags an evaluation item as
contaminated when one of its n-grams (n = 13 by default) also occurs in the corpus. Texts
are lowercased and split into ``\\w+`` words; the corpus n-grams are kept as 64-bit hashes,
so a large corpus fits in memory (a hash collision is possible in principle, at odds of
about one in 10^19 per lookup).

For each item the report gives how many of its n-grams occur in the corpus and that share;
an item is contaminated when the share reaches ``min_overlap`` (default: any overlap). Items
shorter than n words have no n-grams and are never flagged; they are counted in ``short``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ragline.errors import ConfigError

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lowercased ``\\w+`` words of ``text``."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    """Contiguous n-grams of ``tokens`` (none when there are fewer than n)."""
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _key(gram: tuple[str, ...]) -> int:
    digest = hashlib.blake2b("\x1f".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class NgramIndex:
    """The set of n-grams of a corpus, stored as stable 64-bit hashes."""

    def __init__(self, n: int = 13) -> None:
        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        self.n = n
        self._keys: set[int] = set()
        self.documents = 0

    def add(self, text: str) -> None:
        self._keys.update(_key(g) for g in ngrams(words(text), self.n))
        self.documents += 1

    def update(self, texts: Iterable[str]) -> NgramIndex:
        for text in texts:
            self.add(text)
        return self

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, gram: object) -> bool:
        return isinstance(gram, tuple) and _key(gram) in self._keys

    def overlap(self, text: str) -> tuple[int, int]:
        """``(n-grams of text, how many of them are in the index)``."""
        grams = [_key(g) for g in ngrams(words(text), self.n)]
        return len(grams), sum(1 for g in grams if g in self._keys)


@dataclass(frozen=True, slots=True)
class ItemContamination:
    """Overlap of one evaluation item with the corpus."""

    item_id: str
    ngrams: int
    overlapping: int
    contaminated: bool

    @property
    def overlap_ratio(self) -> float:
        return self.overlapping / self.ngrams if self.ngrams else 0.0


@dataclass(frozen=True, slots=True)
class ContaminationReport:
    """Per-item overlaps and the overall picture."""

    n: int
    min_overlap: float
    items: tuple[ItemContamination, ...]
    #: items shorter than n words (no n-grams, never flagged)
    short: int
    corpus_ngrams: int

    @property
    def contaminated(self) -> tuple[str, ...]:
        return tuple(i.item_id for i in self.items if i.contaminated)

    @property
    def contaminated_fraction(self) -> float:
        """Share of the items that are contaminated (short items included in the base)."""
        return len(self.contaminated) / len(self.items) if self.items else 0.0

    @property
    def ngram_overlap(self) -> float:
        """Share of all evaluation n-grams that occur in the corpus."""
        total = sum(i.ngrams for i in self.items)
        return sum(i.overlapping for i in self.items) / total if total else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "min_overlap": self.min_overlap,
            "items": len(self.items),
            "short_items": self.short,
            "contaminated": len(self.contaminated),
            "contaminated_fraction": self.contaminated_fraction,
            "ngram_overlap": self.ngram_overlap,
            "contaminated_ids": list(self.contaminated),
        }


def contamination(
    eval_items: Sequence[str] | Mapping[str, str],
    corpus: Iterable[str] | NgramIndex,
    *,
    n: int = 13,
    min_overlap: float = 0.0,
) -> ContaminationReport:
    """Check each evaluation item for n-gram overlap with ``corpus``.

    ``eval_items`` is a list (ids are the positions) or a mapping id -> text; ``corpus`` is
    an iterable of texts or a prebuilt :class:`NgramIndex` (whose ``n`` then applies).
    """
    if not 0.0 <= min_overlap <= 1.0:
        raise ConfigError(f"min_overlap must be in [0, 1], got {min_overlap}")
    index = corpus if isinstance(corpus, NgramIndex) else NgramIndex(n).update(corpus)
    pairs = (
        list(eval_items.items())
        if isinstance(eval_items, Mapping)
        else [(str(i), t) for i, t in enumerate(eval_items)]
    )
    results = []
    short = 0
    for item_id, text in pairs:
        total, hits = index.overlap(text)
        short += total == 0
        ratio = hits / total if total else 0.0
        flagged = hits > 0 and ratio >= min_overlap
        results.append(ItemContamination(str(item_id), total, hits, flagged))
    return ContaminationReport(
        n=index.n,
        min_overlap=min_overlap,
        items=tuple(results),
        short=short,
        corpus_ngrams=len(index),
    )


__all__ = [
    "ContaminationReport",
    "ItemContamination",
    "NgramIndex",
    "contamination",
    "ngrams",
    "words",
]
