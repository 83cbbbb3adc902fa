"""The topic-policy guard: a collection's allowed and denied topics, by meaning and by keyword.

A collection's policy (``guard.collections[NAME].allowed_topics`` / ``denied_topics``) lists
topics, each a few description sentences plus keywords. A message's MiniLM vector is compared
with every description sentence; a topic's similarity is the highest cosine among its
sentences.

* A denied topic matches on one of its keywords (whole words, any case), or when its
  similarity reaches ``guard.topic_min_similarity`` and beats the best allowed topic by
  ``guard.topic_margin``: flag ``denied:NAME``.
* With allowed topics, a message that matches none of them (no keyword, every similarity under
  ``guard.topic_min_similarity``) and no denied topic either: flag ``off_topic``.
* No policy for the collection (or no ``GuardContext.collection``): nothing is flagged.

Topic vectors are computed once per policy and cached.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ragline.guard.base import Flag, GuardContext, GuardDirection, GuardResult
from ragline.text.sentences import sentences

if TYPE_CHECKING:
    from ragline.config import GuardCollectionPolicy, GuardTopic, Settings
    from ragline.models.embedder import Embedder


@dataclass(frozen=True, slots=True)
class _Topic:
    name: str
    vectors: np.ndarray  # (sentences, dim), unit rows
    keywords: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """How near a message is to one topic."""

    name: str
    side: str  # "allowed" or "denied"
    similarity: float
    keyword: tuple[int, int] | None  # span of the first keyword hit


def _keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    words = [k.strip() for k in keywords if k.strip()]
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class TopicGuard:
    """Keeps a collection's conversations on its allowed topics and off its denied ones."""

    name: ClassVar[str] = "topic"
    directions: ClassVar[frozenset[str]] = frozenset({"input"})

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self._settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str, tuple[str, ...]], _Topic] = {}

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._embedder is None:
                from ragline.models.embedder import get_embedder

                self._embedder = get_embedder(self._settings.embedder)
            embedder = self._embedder
        return embedder.embed(texts)

    def _topic(self, side: str, topic: GuardTopic) -> _Topic:
        key = (side, topic.name, topic.description, tuple(topic.keywords))
        cached = self._cache.get(key)
        if cached is None:
            described = sentences(topic.description) or [topic.description]
            cached = _Topic(topic.name, self._embed(described), _keyword_pattern(topic.keywords))
            with self._lock:
                self._cache[key] = cached
        return cached

    def policy(self, context: GuardContext | None) -> GuardCollectionPolicy | None:
        if context is None or context.collection is None:
            return None
        return self._settings.guard.collections.get(context.collection)

    def matches(self, text: str, policy: GuardCollectionPolicy) -> list[TopicMatch]:
        """The message's similarity (and keyword hit) for every topic of ``policy``."""
        topics = [("allowed", self._topic("allowed", t)) for t in policy.allowed_topics] + [
            ("denied", self._topic("denied", t)) for t in policy.denied_topics
        ]
        if not topics:
            return []
        head = text[: self._settings.guard.scan_chars]
        vector = self._embed([head])[0]
        out = []
        for side, topic in topics:
            hit = topic.keywords.search(head) if topic.keywords else None
            out.append(
                TopicMatch(
                    topic.name,
                    side,
                    float((topic.vectors @ vector).max()),
                    (hit.start(), hit.end()) if hit else None,
                )
            )
        return out

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult:
        t0 = time.perf_counter()
        if not isinstance(text, str):
            raise TypeError(f"the topic guard scans str, not {type(text).__name__}")
        policy = self.policy(context)
        flags: list[Flag] = []
        if policy is not None and text.strip():
            flags = self._flags(self.matches(text, policy), policy)
        return GuardResult(self.name, tuple(flags), (time.perf_counter() - t0) * 1000)

    def _flags(self, found: list[TopicMatch], policy: GuardCollectionPolicy) -> list[Flag]:
        margin = self._settings.guard.topic_margin
        floor = self._settings.guard.topic_min_similarity
        allowed = [m for m in found if m.side == "allowed"]
        best_allowed = max((m.similarity for m in allowed), default=0.0)
        flags = []
        for m in found:
            if m.side != "denied":
                continue
            if m.keyword is not None:
                flags.append(
                    Flag(
                        "topic",
                        f"denied:{m.name}",
                        1.0,
                        *m.keyword,
                        detail=f"keyword rule of denied topic {m.name!r}",
                    )
                )
            elif m.similarity >= floor and m.similarity >= best_allowed + margin:
                flags.append(
                    Flag(
                        "topic",
                        f"denied:{m.name}",
                        m.similarity,
                        detail=f"similar to denied topic {m.name!r} ({m.similarity:.2f}; best "
                        f"allowed topic {best_allowed:.2f}, margin {margin:.2f})",
                    )
                )
        on_topic = any(m.keyword is not None or m.similarity >= floor for m in allowed)
        if allowed and not on_topic and not flags:
            names = ", ".join(repr(t.name) for t in policy.allowed_topics)
            flags.append(
                Flag(
                    "topic",
                    "off_topic",
                    1.0 - best_allowed,
                    detail=f"not near an allowed topic ({names}; best similarity "
                    f"{best_allowed:.2f} < {floor:.2f})",
                )
            )
        return flags
