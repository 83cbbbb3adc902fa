"""The toxicity / abuse guard: ``alt-profanity-check`` (a linear SVM on word n-grams), offline.

The text is scored whole and sentence by sentence; the highest probability decides, so one
abusive sentence in a long message is not averaged away. Flagged at
``guard.toxicity_threshold``; the flag's span is the worst sentence. Measured in
``benchmarks/bench_guard_classifiers.py`` (precision/recall on a labelled sample, and how
often XSTest's safe prompts, which use violent words harmlessly, are flagged).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from ragline.errors import MissingDependencyError
from ragline.guard.base import Flag, GuardContext, GuardDirection, GuardResult
from ragline.text.sentences import split_sentences

if TYPE_CHECKING:
    from ragline.config import Settings

#: Sentences scored per text at most (the whole text is scored too).
_MAX_SENTENCES = 200

_model: Any = None
_model_lock = threading.Lock()


def _predict_prob() -> Any:
    global _model
    with _model_lock:
        if _model is None:
            try:
                import profanity_check
            except ImportError as exc:
                raise MissingDependencyError(
                    "the toxicity guard needs alt-profanity-check",
                    hint="pip install alt-profanity-check",
                ) from exc
            _model = profanity_check.predict_prob
    return _model


class ToxicityGuard:
    """Flags abusive or profane text in user input and in the model's answer."""

    name: ClassVar[str] = "toxicity"
    directions: ClassVar[frozenset[str]] = frozenset({"input", "output"})

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def scores(self, text: str) -> list[tuple[float, int | None, int | None]]:
        """``(probability, start, end)`` for the whole text (span None) and each sentence."""
        head = text[: self._settings.guard.scan_chars]
        if not head.strip():
            return []
        spans = split_sentences(head, lines=True)[:_MAX_SENTENCES]
        parts = [text] + [head[s:e] for s, e in spans] if len(spans) > 1 else [text]
        probs = _predict_prob()(parts)
        out: list[tuple[float, int | None, int | None]] = [(float(probs[0]), None, None)]
        if len(parts) > 1:
            out += [(float(p), s, e) for p, (s, e) in zip(probs[1:], spans, strict=True)]
        return out

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult:
        t0 = time.perf_counter()
        if not isinstance(text, str):
            raise TypeError(f"the toxicity guard scans str, not {type(text).__name__}")
        scored = self.scores(text)
        flags: tuple[Flag, ...] = ()
        threshold = self._settings.guard.toxicity_threshold
        if scored:
            prob, start, end = max(scored, key=lambda x: x[0])
            if prob >= threshold:
                where = "the text" if start is None else f"the sentence at {start}-{end}"
                flags = (
                    Flag(
                        guard=self.name,
                        label="toxic",
                        score=prob,
                        start=start,
                        end=end,
                        detail=f"profanity/abuse classifier {prob:.2f} on {where} "
                        f"(threshold {threshold:.2f})",
                    ),
                )
        return GuardResult(self.name, flags, (time.perf_counter() - t0) * 1000)
