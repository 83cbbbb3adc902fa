"""Context packing: the relevance gate, then a few short numbered passages for the prompt.

A 135M model answers best from little text: the passages are the ``max_passages`` most
relevant retrieved chunks, each cut to its ``passage_sentences`` sentences closest to the
question (embedding cosine plus a bonus for question words), kept in document order and
under ``passage_max_tokens``. Relevance is the MiniLM cosine of question and chunk (from
the hybrid search when it has one, else computed); the gate declines before any
generation when the best passage falls under ``min_relevance`` (and, when set, its BM25
score under ``min_bm25``).

Packing runs before the first token, so it is kept cheap: the question and the sentences of
the admitted chunks are embedded in one batch, and sentence vectors are cached per chunk text
(an LRU of ``SENTENCE_CACHE_CHUNKS``), so a chunk met again costs nothing; the citation
checker reuses the same vectors.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ragline.answer.text import passage_sentences
from ragline.config import AnswerSettings
from ragline.models.embedder import Embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.types import Hit, Passage, content_hash

#: Weight of the share of question words a sentence (with its headings) contains.
LEXICAL_BONUS = 0.3
#: Chunks whose sentence vectors are kept (LRU, per process: about 12 kB a chunk).
SENTENCE_CACHE_CHUNKS = 2048


@dataclass(frozen=True, slots=True)
class Context:
    """What the gate and the packer decided for one question.

    ``passages`` go into the prompt (numbered from 1); ``best`` are the top retrieved
    chunks whatever their relevance, shown when the answer declines.
    """

    passages: tuple[Passage, ...]
    best: tuple[Passage, ...]
    relevant: bool
    best_relevance: float
    #: Chunk id -> vectors of its sentences (``passage_sentences``), reused by the checker.
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: The question's vector, when packing computed it.
    question_vector: np.ndarray | None = None

    def lines(self) -> list[str]:
        """One ``[n] text`` line per passage, as the prompt shows them."""
        return [f"[{p.number}] {' '.join(p.text.split())}" for p in self.passages]

    def render(self) -> str:
        """The numbered passage block of the prompt."""
        return "\n".join(self.lines())


class ContextPacker:
    """Gate and pack retrieved hits. ``count_tokens`` counts in the chat model's tokens."""

    def __init__(
        self,
        settings: AnswerSettings,
        embedder: Embedder,
        analyzer: Analyzer,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.analyzer = analyzer
        self.count_tokens = count_tokens or (lambda text: max(1, round(len(text) / 4)))
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def relevance(self, qvec: np.ndarray, hits: Sequence[Hit]) -> list[float]:
        """Cosine of question and each hit: the search's dense score, or computed here."""
        missing = [i for i, h in enumerate(hits) if "dense" not in h.scores]
        computed: dict[int, float] = {}
        if missing:
            vecs = self.embedder.embed([hits[i].chunk.indexed_text() for i in missing])
            computed = {i: float(v @ qvec) for i, v in zip(missing, vecs, strict=True)}
        return [computed.get(i, h.scores.get("dense", 0.0)) for i, h in enumerate(hits)]

    def is_relevant(self, hit: Hit, relevance: float) -> bool:
        s = self.settings
        if relevance >= s.min_relevance:
            return True
        bm25 = hit.scores.get("bm25")
        return s.min_bm25 is not None and bm25 is not None and bm25 >= s.min_bm25

    def pack(self, question: str, hits: Sequence[Hit], qvec: np.ndarray | None = None) -> Context:
        """Gate ``hits`` (best first) and cut the admitted ones into numbered passages."""
        s = self.settings
        if not hits:
            return Context((), (), False, 0.0)
        if qvec is None and any("dense" not in h.scores for h in hits):
            qvec = self.embedder.embed([question])[0]  # BM25-only hits: relevance computed here
        rel = self.relevance(qvec, hits) if qvec is not None else [h.scores["dense"] for h in hits]
        order = sorted(range(len(hits)), key=lambda i: -rel[i])
        best = tuple(
            Passage(n, hits[i].chunk, hits[i].chunk.text, rel[i], dict(hits[i].scores))
            for n, i in enumerate(order[: s.max_passages], start=1)
        )
        admitted = [i for i in order if self.is_relevant(hits[i], rel[i])]
        if not admitted:
            return Context((), best, False, rel[order[0]])
        top = rel[admitted[0]]
        chosen = [i for i in admitted if rel[i] >= top - s.passage_margin][: s.max_passages]
        vectors: dict[str, np.ndarray] = {}
        excerpts, qvec = self._excerpts(question, qvec, [hits[i] for i in chosen], vectors)
        passages = tuple(
            Passage(n, hits[i].chunk, text, rel[i], dict(hits[i].scores))
            for n, (i, text) in enumerate(zip(chosen, excerpts, strict=True), start=1)
        )
        return Context(passages, best, True, top, vectors, qvec)

    # ------------------------------------------------------------------ excerpts

    def clear_cache(self) -> None:
        """Forget the cached sentence vectors (benchmarks measure the cold path with it)."""
        with self._lock:
            self._cache.clear()

    def sentences(
        self, hits: Sequence[Hit], question: str | None = None
    ) -> tuple[list[list[str]], list[np.ndarray], np.ndarray | None]:
        """Sentences of each hit's chunk and their vectors (and the question's, if given).

        Vectors are cached per chunk text, so a chunk met again costs nothing; what is
        missing is embedded in one batch, the question included.
        """
        per_hit: list[list[str]] = []
        keys = []
        for h in hits:
            keys.append(content_hash(h.chunk.text))
            per_hit.append(passage_sentences(h.chunk.text) or [" ".join(h.chunk.text.split())])
        with self._lock:
            cached = {k: self._cache[k] for k in keys if k in self._cache}
        todo = [k for k in dict.fromkeys(keys) if k not in cached]
        texts = [question] if question is not None else []
        for k in todo:
            texts.extend(per_hit[keys.index(k)])
        fresh = self.embedder.embed(texts) if texts else np.zeros((0, 1), np.float32)
        qvec = fresh[0] if question is not None else None
        start = 1 if question is not None else 0
        with self._lock:
            for k in todo:
                n = len(per_hit[keys.index(k)])
                cached[k] = self._cache[k] = fresh[start : start + n]
                start += n
            for k in keys:
                self._cache.move_to_end(k)
            while len(self._cache) > SENTENCE_CACHE_CHUNKS:
                self._cache.popitem(last=False)
        return per_hit, [cached[k] for k in keys], qvec

    def _excerpts(
        self,
        question: str,
        qvec: np.ndarray | None,
        hits: Sequence[Hit],
        vectors: dict[str, np.ndarray],
    ) -> tuple[list[str], np.ndarray]:
        """Each hit cut to its sentences nearest the question, in their original order
        (and the question's vector)."""
        s = self.settings
        per_hit, per_vecs, fresh_q = self.sentences(hits, question if qvec is None else None)
        qvec = qvec if qvec is not None else fresh_q
        assert qvec is not None
        qterms = set(self.analyzer.terms(question))
        out: list[str] = []
        for hit, sents, svecs in zip(hits, per_hit, per_vecs, strict=True):
            vectors[hit.chunk.id] = svecs
            cos = svecs @ qvec
            heading = " ".join((hit.chunk.title, *hit.chunk.heading_path))
            scores = []
            for sent, c in zip(sents, cos, strict=True):
                terms = set(self.analyzer.terms(sent + " " + heading))
                share = len(qterms & terms) / len(qterms) if qterms else 0.0
                scores.append(float(c) + LEXICAL_BONUS * share)
            keep: list[int] = []
            used = 0
            for i in sorted(range(len(sents)), key=lambda i: -scores[i]):
                if len(keep) >= s.passage_sentences:
                    break
                cost = self.count_tokens(sents[i])
                if keep and used + cost > s.passage_max_tokens:
                    continue
                keep.append(i)
                used += cost
            text = " ".join(sents[i] for i in sorted(keep))
            out.append(self._fit(text, s.passage_max_tokens))
        return out, qvec

    def _fit(self, text: str, budget: int) -> str:
        """``text`` cut at a word boundary to ``budget`` tokens (rarely needed)."""
        if self.count_tokens(text) <= budget:
            return text
        words = text.split()
        lo, hi = 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count_tokens(" ".join(words[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo]) + " …"


__all__ = ["LEXICAL_BONUS", "SENTENCE_CACHE_CHUNKS", "Context", "ContextPacker"]
