"""Context packing: the relevance gate, then a few short numbered passages for the prompt.

A 135M model answers best from little text: the passages are the ``max_passages`` most
relevant retrieved chunks, each cut to its ``passage_sentences`` sentences closest to the
question, kept in document order and under ``passage_max_tokens``. Relevance is the MiniLM
cosine of question and chunk (from the hybrid search when it has one, else computed); the
gate declines before any generation when the best passage falls under ``min_relevance``
(and, when set, its BM25 score under ``min_bm25``).

Packing runs before the first token, so it is kept cheap. By default the excerpt is the
``passage_sentences`` sentences sharing most words with the question (and its headings):
nothing is embedded before generation. With ``excerpt_candidates`` above that, those
candidates are embedded with the question in one batch and ranked by cosine plus the
lexical bonus; on the benchmark questions both gave the same accuracy, and the embeddings
cost 30-50 ms of time to first token. Sentence vectors are cached (``SentenceVectors``, an
LRU shared with the citation checker), so a sentence met again costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragline.answer.text import passage_sentences
from ragline.config import AnswerSettings
from ragline.models.embedder import Embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.types import Hit, Passage

#: Weight of the share of question words a sentence (with its headings) contains.
LEXICAL_BONUS = 0.3
#: Sentences whose vectors are kept (LRU, per process: 1.5 kB each, 12 MB in all).
SENTENCE_CACHE_SIZE = 8192


class SentenceVectors:
    """Embeddings of sentences, cached per sentence text (an LRU, per process).

    :meth:`embed` returns vectors for every text, embedding only the missing ones, in one
    batch. Thread-safe: the answer flow checks sentences on a worker thread.
    """

    def __init__(self, embedder: Embedder, size: int = SENTENCE_CACHE_SIZE) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self.embedder.embed(missing), strict=True)) if missing else {}
        with self._lock:
            for text, vec in fresh.items():
                self._cache[text] = vec
            out = []
            for text in texts:
                vec = fresh.get(text)
                if vec is None:
                    vec = self._cache[text]
                    self._cache.move_to_end(text)
                out.append(vec)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 1), np.float32)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


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
        #: Sentence vectors, shared with the citation checker.
        self.vectors = SentenceVectors(embedder)

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

    def pack(
        self,
        question: str,
        hits: Sequence[Hit],
        qvec: np.ndarray | None = None,
        max_passages: int | None = None,
    ) -> Context:
        """Gate ``hits`` (best first) and cut the admitted ones into numbered passages
        (at most ``max_passages``, default ``answer.max_passages``)."""
        s = self.settings
        limit = max_passages or s.max_passages
        if not hits:
            return Context((), (), False, 0.0)
        if qvec is None and any("dense" not in h.scores for h in hits):
            qvec = self.embedder.embed([question])[0]  # BM25-only hits: relevance computed here
        rel = self.relevance(qvec, hits) if qvec is not None else [h.scores["dense"] for h in hits]
        order = sorted(range(len(hits)), key=lambda i: -rel[i])
        best = tuple(
            Passage(n, hits[i].chunk, hits[i].chunk.text, rel[i], dict(hits[i].scores))
            for n, i in enumerate(order[:limit], start=1)
        )
        admitted = [i for i in order if self.is_relevant(hits[i], rel[i])]
        if not admitted:
            return Context((), best, False, rel[order[0]])
        top = rel[admitted[0]]
        chosen = [i for i in admitted if rel[i] >= top - s.passage_margin][:limit]
        excerpts, qvec = self._excerpts(question, qvec, [hits[i] for i in chosen])
        passages = tuple(
            Passage(n, hits[i].chunk, text, rel[i], dict(hits[i].scores))
            for n, (i, text) in enumerate(zip(chosen, excerpts, strict=True), start=1)
        )
        return Context(passages, best, True, top, qvec)

    # ------------------------------------------------------------------ excerpts

    def clear_cache(self) -> None:
        """Forget the cached sentence vectors (benchmarks measure the cold path with it)."""
        self.vectors.clear()

    def _excerpts(
        self, question: str, qvec: np.ndarray | None, hits: Sequence[Hit]
    ) -> tuple[list[str], np.ndarray | None]:
        """Each hit cut to its sentences nearest the question, in their original order
        (and the question's vector, when it was embedded).

        Only the ``excerpt_candidates`` sentences of a chunk sharing most words with the
        question are embedded now (with the question, in one batch): that is all the choice
        needs; the rest of a chunk is embedded later by the citation checker, after the first
        token. When there are no more candidates than ``passage_sentences`` (the default),
        the choice is lexical and nothing is embedded before generation.
        """
        s = self.settings
        qterms = set(self.analyzer.terms(question))
        per_hit: list[list[str]] = []
        shares: list[list[float]] = []
        for h in hits:
            sents = passage_sentences(h.chunk.text) or [" ".join(h.chunk.text.split())]
            heading = " ".join((h.chunk.title, *h.chunk.heading_path))
            per_hit.append(sents)
            shares.append(
                [
                    len(qterms & set(self.analyzer.terms(f"{t} {heading}"))) / len(qterms)
                    if qterms
                    else 0.0
                    for t in sents
                ]
            )
        picked = [
            sorted(range(len(sents)), key=lambda i: (-sh[i], i))[: s.excerpt_candidates]
            for sents, sh in zip(per_hit, shares, strict=True)
        ]
        texts = [per_hit[h][i] for h, idx in enumerate(picked) for i in idx]
        by_embedding = s.excerpt_candidates > s.passage_sentences
        vecs = np.zeros((len(texts), 1), np.float32)
        if by_embedding:
            vecs = self.vectors.embed(texts if qvec is not None else [question, *texts])
            if qvec is None:
                qvec, vecs = vecs[0], vecs[1:]
        out: list[str] = []
        start = 0
        for sents, sh, idx in zip(per_hit, shares, picked, strict=True):
            part = vecs[start : start + len(idx)]
            cos = part @ qvec if by_embedding and qvec is not None else np.zeros(len(idx))
            start += len(idx)
            scores = {i: float(c) + LEXICAL_BONUS * sh[i] for i, c in zip(idx, cos, strict=True)}
            keep: list[int] = []
            used = 0
            for i in sorted(scores, key=lambda i: -scores[i]):
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


__all__ = [
    "LEXICAL_BONUS",
    "SENTENCE_CACHE_SIZE",
    "Context",
    "ContextPacker",
    "SentenceVectors",
]
