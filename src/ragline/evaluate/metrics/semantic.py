"""Embedding similarity: the cosine of an output and its reference answer(s).

Texts are embedded by an :class:`~ragline.models.embedder.Embedder` (default: the packaged
all-MiniLM-L6-v2, whose vectors are unit length, so the cosine is a dot product). With
several references the best match counts, as for the text metrics. The value lies in
[-1, 1]; MiniLM cosines of paraphrases are typically above 0.7, of unrelated texts near 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ragline.evaluate.metrics.text import References, _check_lengths, _refs
from ragline.models.embedder import Embedder

if TYPE_CHECKING:
    from ragline.config import EmbedderSettings


def default_embedder(settings: EmbedderSettings | None = None) -> Embedder:
    """The configured embedder (loaded once per process): ``settings``, else the user's
    configuration (``embedder`` of :func:`~ragline.config.load_settings`), never the bare
    defaults. Callers that hold a :class:`~ragline.config.Settings` pass its ``embedder``."""
    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder

    return get_embedder(settings if settings is not None else load_settings().embedder)


def cosine_matrix(embedder: Embedder, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """``(len(left), len(right))`` cosines, both sides embedded in one batch."""
    if not left or not right:
        return np.zeros((len(left), len(right)), dtype=np.float64)
    vecs = np.asarray(embedder.embed([*left, *right]), dtype=np.float64)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.clip(norms, 1e-12, None)
    return vecs[: len(left)] @ vecs[len(left) :].T


def semantic_similarity(
    prediction: str, references: References, *, embedder: Embedder | None = None
) -> float:
    """Best cosine between the prediction and a reference (an empty text scores 0)."""
    refs = _refs(references)
    if not prediction.strip():
        return 0.0
    usable = [r for r in refs if r.strip()]
    if not usable:
        return 0.0
    sims = cosine_matrix(embedder or default_embedder(), [prediction], usable)
    return float(np.clip(sims.max(), -1.0, 1.0))


@dataclass(frozen=True, slots=True)
class SemanticSimilarity:
    """Mean best cosine of predictions and references, with the per-example values."""

    score: float
    count: int
    per_example: tuple[float, ...] = ()


def corpus_semantic_similarity(
    predictions: Sequence[str],
    references: Sequence[References],
    *,
    embedder: Embedder | None = None,
) -> SemanticSimilarity:
    """:func:`semantic_similarity` of every pair and their mean."""
    _check_lengths(predictions, references)
    if not predictions:
        return SemanticSimilarity(0.0, 0)
    emb = embedder or default_embedder()
    values = tuple(
        semantic_similarity(p, r, embedder=emb)
        for p, r in zip(predictions, references, strict=True)
    )
    return SemanticSimilarity(sum(values) / len(values), len(values), values)


__all__ = [
    "SemanticSimilarity",
    "corpus_semantic_similarity",
    "cosine_matrix",
    "default_embedder",
    "semantic_similarity",
]
