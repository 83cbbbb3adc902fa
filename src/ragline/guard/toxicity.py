"""The toxicity / abuse guard: ``alt-profanity-check`` (a linear SVM on word n-grams), offline.

The text is scored whole and sentence by sentence; the highest probability decides, so one
abusive sentence in a long message is not averaged away. Flagged at
``guard.toxicity_threshold``; the flag's span is the worst sentence. Measured in
``benchmarks/bench_guard_classifiers.py`` (precision/recall on a labelled sample, and how
often XSTest's safe prompts, which use violent words harmlessly, are flagged).
"""

from __future__ import annotations

import re
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


class _LinearProfanity:
    """alt-profanity-check's own model, scored without scikit-learn's per-call overhead.

    The package's model is a TF-IDF vectorizer (word unigrams, l2 norm) and a
    ``CalibratedClassifierCV`` of linear SVMs with sigmoid calibration. Its probability is the
    mean over the folds of ``expit(-(a * (x . w + c) + b))``; computing that from the fitted
    arrays gives the same numbers (checked against ``predict_prob`` in the tests) in a few
    microseconds instead of ~7 ms a call, which is what let the output guards fit in their
    per-sentence budget.
    """

    def __init__(self, vectorizer: Any, model: Any) -> None:
        import numpy as np

        self._token = re.compile(vectorizer.token_pattern)
        self._lower = bool(vectorizer.lowercase)
        vocab: dict[str, int] = vectorizer.vocabulary_
        weights, intercepts, slopes, offsets = [], [], [], []
        for fold in model.calibrated_classifiers_:
            (calibrator,) = fold.calibrators
            weights.append(np.asarray(fold.estimator.coef_, dtype=np.float64).ravel())
            intercepts.append(float(fold.estimator.intercept_[0]))
            slopes.append(float(calibrator.a_))
            offsets.append(float(calibrator.b_))
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        w = np.stack(weights, axis=1)  # (features, folds)
        # Per word: its idf and its idf-scaled weight in each fold.
        self._vocab = {word: (float(idf[i]), w[i] * idf[i]) for word, i in vocab.items()}
        self._c = np.asarray(intercepts)
        self._a = np.asarray(slopes)
        self._b = np.asarray(offsets)
        self._np = np

    def __call__(self, texts: list[str]) -> list[float]:
        np = self._np
        out = []
        for text in texts:
            counts: dict[str, int] = {}
            for tok in self._token.findall(text.lower() if self._lower else text):
                if tok in self._vocab:
                    counts[tok] = counts.get(tok, 0) + 1
            decision = self._c
            if counts:
                norm = 0.0
                dot = np.zeros_like(self._c)
                for tok, n in counts.items():
                    idf, wrow = self._vocab[tok]
                    norm += (n * idf) ** 2
                    dot = dot + n * wrow
                decision = self._c + dot / norm**0.5
            out.append(float(np.mean(1.0 / (1.0 + np.exp(self._a * decision + self._b)))))
        return out


def _fast_or_none(vectorizer: Any, model: Any) -> _LinearProfanity | None:
    """The fast scorer when the package's model has the expected shape, else None."""
    try:
        params = vectorizer.get_params()
        if (
            params.get("analyzer") != "word"
            or tuple(params.get("ngram_range", ())) != (1, 1)
            or params.get("norm") != "l2"
            or not params.get("use_idf")
            or params.get("sublinear_tf")
            or params.get("binary")
            or params.get("preprocessor") is not None
            or params.get("tokenizer") is not None
            or params.get("strip_accents") is not None
            or getattr(model, "method", None) != "sigmoid"
            or len(getattr(model, "classes_", ())) != 2
        ):
            return None
        return _LinearProfanity(vectorizer, model)
    except (AttributeError, ValueError, TypeError):
        return None


def _predict_prob() -> Any:
    global _model
    with _model_lock:
        if _model is None:
            try:
                from profanity_check import profanity_check
            except ImportError as exc:
                raise MissingDependencyError(
                    "the toxicity guard needs alt-profanity-check",
                    hint="pip install alt-profanity-check",
                ) from exc
            fast = _fast_or_none(profanity_check.vectorizer, profanity_check.model)
            _model = fast if fast is not None else profanity_check.predict_prob
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
