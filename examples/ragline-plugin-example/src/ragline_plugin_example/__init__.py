"""An example ragline plugin: one reranker, one chat model and one tool, found through
entry points.

Nothing here is imported by ragline until a setting names it: ``retrieval.reranker =
"example-shortest"`` or a model name ``example:upper`` / ``example:reverse``. The tool
``word_count`` joins every agent's default tools (``ragline tools list`` shows it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ragline.errors import ConfigError
from ragline.models.chat import (
    ChatResult,
    StreamDone,
    TokenDelta,
    Usage,
    normalize_messages,
)


class ShortestFirstReranker:
    """Reorders the fused hits shortest text first (ties keep their fused order)."""

    name = "example-shortest"

    def __init__(self, settings: Any) -> None:  # the whole ragline Settings
        self.settings = settings

    def rerank(self, query: str, hits: list[Any], k: int) -> list[Any]:
        ordered = sorted(hits, key=lambda h: len(h.chunk.text))[:k]
        return [dataclasses.replace(h, rank=i + 1) for i, h in enumerate(ordered)]


_STYLES = {"upper": str.upper, "reverse": lambda text: " ".join(reversed(text.split()))}


class TransformChatModel:
    """Answers with the last user message transformed; no model file, no network."""

    def __init__(self, name: str, style: str) -> None:
        self.name = name
        self._fn = _STYLES[style]

    def _answer(self, messages: Any) -> ChatResult:
        msgs = normalize_messages(messages)
        last = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
        text = self._fn(last)
        usage = Usage(
            prompt_tokens=sum(len(m["content"].split()) for m in msgs),
            completion_tokens=len(text.split()),
        )
        return ChatResult(text=text, usage=usage, model=self.name)

    def generate(self, messages: Any, params: Any = None, **overrides: Any) -> ChatResult:
        return self._answer(messages)

    async def agenerate(self, messages: Any, params: Any = None, **overrides: Any) -> ChatResult:
        return self._answer(messages)

    def stream(self, messages: Any, params: Any = None, **overrides: Any) -> Iterator[Any]:
        result = self._answer(messages)
        for i, word in enumerate(result.text.split(" ")):
            yield TokenDelta(word if i == 0 else " " + word)
        yield StreamDone(result)

    async def astream(
        self, messages: Any, params: Any = None, **overrides: Any
    ) -> AsyncIterator[Any]:
        for event in self.stream(messages):
            yield event


def create_chat_model(spec: Any) -> TransformChatModel:
    """The ``ragline.chat_models`` factory: ``spec`` is a ``ChatModelSpec``
    (``spec.model`` is what follows ``example:``)."""
    style = spec.model or "upper"
    if style not in _STYLES:
        raise ConfigError(
            f"unknown example model {spec.name!r}",
            hint=f"use example:{' or example:'.join(sorted(_STYLES))}",
        )
    return TransformChatModel(f"example:{style}", style)


def word_count(text: str, unique: bool = False) -> dict[str, int]:
    """Count the words of a text.

    Args:
        text: the text whose words to count
        unique: count each distinct word (case-insensitive) once
    """
    words = text.split()
    n = len({w.lower().strip(".,;:!?") for w in words}) if unique else len(words)
    return {"words": n}
