"""The output leak guard: an answer that repeats the system prompt.

Two signals, both cheap (well under a millisecond per sentence, ``benchmarks/bench_guard.py``):

* **canary**: a random token (:func:`new_canary`, one per process) planted in the system
  prompt when ``guard.canary`` is on. The model has no reason to write it, so an answer
  sentence that contains it (also with its separators dropped or changed) copied the prompt:
  flagged with score 1.
* **similarity**: word trigrams of the answer sentence against each sentence of the prompt's
  instructions (:attr:`GuardContext.system_prompt`): the trigrams they share, over the
  smaller of the two sets (the overlap coefficient: a copied clause inside a long prompt
  sentence counts as much as a whole copied sentence). At least five shared trigrams (so the
  decline phrase a prompt tells the model to use is not a leak), and
  a prompt sentence of four words or more; a score at ``guard.leak_threshold`` or more is
  flagged with that score.

It scans output only. It needs the context's ``system_prompt`` and ``canary``; without them
it finds nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from functools import lru_cache
from typing import ClassVar

from ragline.config import Settings
from ragline.guard.base import Flag, GuardContext, GuardDirection, GuardResult
from ragline.text.sentences import sentences

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MIN_WORDS = 4  # shorter prompt sentences ("Be brief.") are everyday words, not a leak
_MIN_SHARED = 5  # trigrams in common: fewer is a phrase (the decline a prompt asks for)
_CANARY_PREFIX = "rlcanary"


def new_canary() -> str:
    """A fresh random canary token (``rlcanary-`` and 16 hex digits)."""
    return f"{_CANARY_PREFIX}-{secrets.token_hex(8)}"


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _trigrams(words: list[str]) -> frozenset[tuple[str, ...]]:
    if len(words) < 3:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + 3]) for i in range(len(words) - 2))


@lru_cache(maxsize=64)
def _prompt_sentences(prompt: str) -> tuple[frozenset[tuple[str, ...]], ...]:
    """The trigram sets of the prompt's sentences of at least four words (cached: one prompt
    serves many answers)."""
    out = []
    for line in prompt.splitlines():
        for s in sentences(line):
            words = _words(s)
            if len(words) >= _MIN_WORDS:
                out.append(_trigrams(words))
    return tuple(out)


def _squash(text: str) -> str:
    return "".join(_words(text))


class LeakGuard:
    """Flags an answer sentence that carries the canary or repeats the system prompt."""

    name: ClassVar[str] = "leak"
    directions: ClassVar[frozenset[str]] = frozenset({"output"})

    def __init__(self, settings: Settings) -> None:
        self.threshold = settings.guard.leak_threshold

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult:
        t0 = time.perf_counter()
        flags: list[Flag] = []
        ctx = context or GuardContext()
        if ctx.canary:
            at = text.find(ctx.canary)
            if at >= 0:
                flags.append(
                    Flag(self.name, "canary", 1.0, at, at + len(ctx.canary), "the canary token")
                )
            elif _squash(ctx.canary) in _squash(text):
                flags.append(Flag(self.name, "canary", 1.0, detail="the canary token, respelled"))
        if ctx.system_prompt and not flags:
            answer = _trigrams(_words(text))
            best = 0.0
            for grams in _prompt_sentences(ctx.system_prompt):
                shared = len(grams & answer)
                if shared >= _MIN_SHARED:
                    best = max(best, shared / min(len(grams), len(answer)))
            if best >= self.threshold:
                flags.append(
                    Flag(
                        self.name,
                        "system_prompt",
                        best,
                        detail=f"{best:.0%} of its word trigrams match a system-prompt sentence",
                    )
                )
        return GuardResult(self.name, tuple(flags), (time.perf_counter() - t0) * 1000)


__all__ = ["LeakGuard", "new_canary"]
