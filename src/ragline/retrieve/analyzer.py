"""Text analysis for BM25: lowercase, word tokens, English stopwords, Snowball stemming.

The token pattern and stopword list follow the common scikit-learn / bm25s convention;
stemming uses PyStemmer (Snowball, C). Stems are cached: the vocabulary of a corpus is small.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from ragline.errors import ConfigError

_TOKEN = re.compile(r"(?u)\b\w\w+\b")

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't
    have haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out
    over own same shan't she she'd she'll she's should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll
    we're we've were weren't what what's when when's where where's which while who who's
    whom why why's with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves will just also
    """.split()  # noqa: SIM905 - a word list reads best as text
)


class Analyzer:
    """Turns text into BM25 terms."""

    def __init__(self, stemmer: str = "english", stopwords: str = "en") -> None:
        if stemmer and stemmer != "none":
            try:
                import Stemmer
            except ImportError as exc:  # pragma: no cover - core dependency
                raise ConfigError(
                    "PyStemmer is not installed", hint="pip install PyStemmer"
                ) from exc
            try:
                self._stemmer = Stemmer.Stemmer(stemmer)
            except KeyError as exc:
                raise ConfigError(
                    f"unknown stemmer language {stemmer!r}",
                    hint=f"one of {', '.join(Stemmer.algorithms())} or 'none'",
                ) from exc
        else:
            self._stemmer = None
        self._stop = ENGLISH_STOPWORDS if stopwords == "en" else frozenset()
        self._stem = lru_cache(maxsize=200_000)(self._stem_uncached)

    def _stem_uncached(self, word: str) -> str:
        return self._stemmer.stemWord(word) if self._stemmer else word

    def terms(self, text: str) -> list[str]:
        stop = self._stop
        stem = self._stem
        return [stem(w) for w in _TOKEN.findall(text.lower()) if w not in stop]

    def term_freqs(self, text: str) -> dict[str, int]:
        return dict(Counter(self.terms(text)))
