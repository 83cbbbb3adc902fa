"""Short-term memory: which earlier turns of a conversation reach the prompt.

Three strategies (``memory.window``):

``last_n``
    The last ``answer.history_turns`` turns; older ones are gone.
``summary``
    A running summary of the older turns, written by the chat model through the gateway
    (the ``summary`` prompt file), plus the recent turns. Incremental: the older turns are
    folded in ``memory.summary_every`` at a time, each fold one model call that updates the
    summary with the new batch; turns not yet folded stay in the prompt as turns, so nothing
    falls between the summary and the window.
``summary_retrieval``
    The summary, plus the folded turns most similar to the new question (MiniLM cosine at
    least ``memory.min_turn_similarity``, at most ``memory.retrieved_turns``): a detail the
    summary dropped ("my flight number is LH 1234") comes back when it is asked about.

The state (summary, turns folded, turn embeddings) lives with the conversation in a
:class:`WindowState`, so each turn costs at most one fold and one embedding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from ragline.config import MemorySettings
from ragline.errors import ModelError
from ragline.models.chat import SamplingParams
from ragline.models.gateway import Gateway
from ragline.prompts import Prompt

WindowStrategy = Literal["last_n", "summary", "summary_retrieval"]
WINDOW_STRATEGIES: tuple[WindowStrategy, ...] = ("last_n", "summary", "summary_retrieval")


class TurnLike(Protocol):
    """An earlier exchange: what the user asked and what was answered."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


#: Updates a summary with new turns: (summary so far, turns) -> the new summary.
Summarize = Callable[[str, Sequence[TurnLike]], str]


@dataclass(slots=True)
class WindowState:
    """What a conversation keeps between turns for its window."""

    summary: str = ""
    #: How many of the first turns are folded into ``summary``.
    covered: int = 0
    #: Embeddings of turns (question and answer), by index, for ``summary_retrieval``.
    vectors: list[np.ndarray] = field(default_factory=list)
    #: Model calls made for the summary (each fold is one).
    folds: int = 0

    def reset(self) -> None:
        self.summary, self.covered, self.folds = "", 0, 0
        self.vectors.clear()


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """The earlier context of one answer: a summary (maybe empty) and turns by index, oldest
    first; ``retrieved``: those of them chosen by similarity rather than recency."""

    strategy: WindowStrategy
    summary: str
    turns: tuple[int, ...]
    retrieved: tuple[int, ...] = ()


def turn_text(turn: TurnLike) -> str:
    return f"User: {turn.question}\nAssistant: {turn.answer}".strip()


class ConversationWindow:
    """Chooses a conversation's earlier context for a new question (module docstring).

    ``recent``: how many last turns are always kept (``answer.history_turns``);
    ``summarize``: the summary writer (:class:`ModelSummarizer`; needed by the summary
    strategies); ``embed``: texts -> unit vectors (needed by ``summary_retrieval``)."""

    def __init__(
        self,
        settings: MemorySettings,
        *,
        recent: int,
        summarize: Summarize | None = None,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        strategy: WindowStrategy | None = None,
    ) -> None:
        self.settings = settings
        self.strategy: WindowStrategy = strategy or settings.window
        self.recent = recent
        self.summarize = summarize
        self.embed = embed

    def select(
        self,
        turns: Sequence[TurnLike],
        question: str,
        state: WindowState,
        *,
        question_vector: np.ndarray | None = None,
    ) -> WindowChoice:
        n = len(turns)
        recent_from = max(0, n - self.recent) if self.recent else n
        if self.strategy == "last_n" or self.summarize is None:
            return WindowChoice("last_n", "", tuple(range(recent_from, n)))
        every = self.settings.summary_every
        while recent_from - state.covered >= every:  # fold the older turns, a batch at a time
            batch = turns[state.covered : state.covered + every]
            try:
                state.summary = self.summarize(state.summary, batch).strip() or state.summary
            except ModelError:
                break  # the turns stay in the prompt as turns; folded at the next turn
            state.covered += every
            state.folds += 1
        kept = tuple(range(min(state.covered, recent_from), n))
        if self.strategy == "summary" or not state.covered:
            return WindowChoice(self.strategy, state.summary, kept)
        retrieved = self._nearest(turns, question, state, question_vector)
        return WindowChoice(
            self.strategy, state.summary, tuple(sorted({*retrieved, *kept})), retrieved
        )

    def _nearest(
        self,
        turns: Sequence[TurnLike],
        question: str,
        state: WindowState,
        question_vector: np.ndarray | None,
    ) -> tuple[int, ...]:
        cfg = self.settings
        if self.embed is None or cfg.retrieved_turns == 0:
            return ()
        if len(state.vectors) < state.covered:
            new = [turn_text(t) for t in turns[len(state.vectors) : state.covered]]
            state.vectors.extend(self.embed(new))
        q = question_vector if question_vector is not None else self.embed([question])[0]
        scores = np.array([float(v @ q) for v in state.vectors[: state.covered]])
        order = [int(i) for i in np.argsort(-scores) if scores[i] >= cfg.min_turn_similarity]
        return tuple(sorted(order[: cfg.retrieved_turns]))


class ModelSummarizer:
    """Writes the running summary with the chat model through the gateway (``memory.
    summary_prompt``: slots ``summary``, the summary so far, and ``turns``, the new ones)."""

    def __init__(
        self,
        gateway: Gateway,
        template: Prompt,
        *,
        max_tokens: int,
        model: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.template = template
        self.model = model
        self.params: SamplingParams = gateway.defaults.with_(temperature=0.0, max_tokens=max_tokens)

    def __call__(self, summary: str, turns: Sequence[TurnLike]) -> str:
        messages = self.template.render(
            summary=summary or "(nothing yet)",
            turns="\n".join(turn_text(t) for t in turns),
        )
        text = self.gateway.generate(messages, self.params, model=self.model).text
        return " ".join(text.split())


__all__ = [
    "WINDOW_STRATEGIES",
    "ConversationWindow",
    "ModelSummarizer",
    "Summarize",
    "TurnLike",
    "WindowChoice",
    "WindowState",
    "WindowStrategy",
    "turn_text",
]
