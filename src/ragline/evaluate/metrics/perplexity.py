"""Perplexity and bits per byte of a text under a causal language model (llama.cpp).

The text is tokenised without special tokens and preceded by the model's BOS token (when it
has one) so that every token of the text is predicted. For each predicted token the model's
logits give ``log_softmax(logits)[token]``; with ``NLL`` the sum of their negatives (nats):

* ``perplexity = exp(NLL / predicted tokens)`` — depends on the tokenizer;
* ``bits_per_byte = NLL / ln 2 / UTF-8 bytes of the text`` — comparable across tokenizers.

A text longer than the context window is scored in sliding windows: each window after the
first starts ``n_ctx - stride`` tokens before the previous one ends, so every token after
the first window is predicted with at least that much context, and each token is scored
once. The default model is the embedded SmolLM2-135M GGUF; any GGUF file works by path.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import ConfigError, ModelError

DEFAULT_N_CTX = 512


@dataclass(frozen=True, slots=True)
class PerplexityResult:
    """Perplexity of one text: its NLL (nats), tokens predicted and UTF-8 bytes."""

    nll: float
    tokens: int
    bytes: int
    windows: int = 1

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.tokens) if self.tokens else math.nan

    @property
    def bits_per_byte(self) -> float:
        return self.nll / math.log(2) / self.bytes if self.bytes else math.nan

    @property
    def mean_nll(self) -> float:
        return self.nll / self.tokens if self.tokens else math.nan


def token_nll(logits: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """``-log_softmax(logits[i])[targets[i]]`` for each row (computed in float64)."""
    x = np.asarray(logits, dtype=np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
    idx = np.asarray(targets, dtype=np.int64)
    return lse - x[np.arange(len(idx)), idx]


def windows(length: int, n_ctx: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_target)`` windows over a sequence of ``length`` tokens.

    Positions ``first_target .. end - 1`` are scored in window ``[begin, end)``; together the
    windows score positions ``1 .. length - 1`` once each.
    """
    if n_ctx < 2 or not 0 < stride <= n_ctx - 1:
        raise ConfigError("need n_ctx >= 2 and 0 < stride < n_ctx")
    out: list[tuple[int, int, int]] = []
    begin, first = 0, 1
    while first < length:
        end = min(begin + n_ctx, length)
        out.append((begin, end, first))
        first = end
        begin = end - (n_ctx - stride)
    return out


class PerplexityScorer:
    """A llama.cpp model loaded with ``logits_all`` (its own instance; calls are serialised)."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        stride: int | None = None,
        n_threads: int = 0,
        llm: Any = None,
    ) -> None:
        self.n_ctx = n_ctx
        self.stride = stride or n_ctx // 2
        if llm is None:
            llm, lock = _load(model_path, n_ctx, n_threads)
        else:
            lock = threading.Lock()
        self.llm = llm
        # shared by every scorer on the same cached model: a llama.cpp context is not re-entrant
        self._lock = lock

    def tokens(self, text: str) -> list[int]:
        """The token sequence scored: BOS (if the model has one), then the text's tokens."""
        ids = list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        bos = self.llm.token_bos()
        return [bos, *ids] if bos is not None and bos >= 0 else ids

    def score(self, text: str) -> PerplexityResult:
        """NLL of ``text`` (every token predicted when the model has a BOS token)."""
        seq = self.tokens(text)
        nbytes = len(text.encode("utf-8"))
        if len(seq) < 2:
            return PerplexityResult(0.0, 0, nbytes, 0)
        total, count = 0.0, 0
        spans = windows(len(seq), self.n_ctx, self.stride)
        with self._lock:
            for begin, end, first in spans:
                try:
                    self.llm.reset()
                    self.llm.eval(seq[begin:end])
                    logits = self.llm.scores[first - 1 - begin : end - 1 - begin]
                except (RuntimeError, ValueError) as exc:
                    raise ModelError(f"llama.cpp evaluation failed: {exc}") from exc
                nll = token_nll(logits, seq[first:end])
                total += float(nll.sum())
                count += len(nll)
        return PerplexityResult(total, count, nbytes, len(spans))

    def perplexity(self, text: str) -> float:
        return self.score(text).perplexity

    def bits_per_byte(self, text: str) -> float:
        return self.score(text).bits_per_byte


_MODELS: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def _load(path: str | Path | None, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    import os

    from ragline.models.llamacpp import _import_llama_cpp, default_model_path

    file = Path(path).expanduser().resolve() if path is not None else default_model_path()
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    key = (str(file), n_ctx, threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            if not file.is_file():
                raise ModelError(f"GGUF model {file} does not exist")
            llama_cpp = _import_llama_cpp()
            try:
                llm = llama_cpp.Llama(
                    model_path=str(file),
                    n_ctx=n_ctx,
                    n_batch=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    logits_all=True,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelError(f"llama.cpp could not load {file}: {exc}") from exc
            _MODELS[key] = (llm, threading.Lock())
        return _MODELS[key]


def get_perplexity_scorer(
    model_path: str | Path | None = None, *, n_ctx: int = DEFAULT_N_CTX, stride: int | None = None
) -> PerplexityScorer:
    """A scorer on the (cached) model: the embedded SmolLM2 unless ``model_path`` is given."""
    return PerplexityScorer(model_path, n_ctx=n_ctx, stride=stride)


def perplexity(text: str, *, scorer: PerplexityScorer | None = None) -> float:
    """Perplexity of ``text`` under the embedded model (or ``scorer``'s)."""
    return (scorer or get_perplexity_scorer()).score(text).perplexity


def bits_per_byte(text: str, *, scorer: PerplexityScorer | None = None) -> float:
    """Bits per UTF-8 byte of ``text`` under the embedded model (or ``scorer``'s)."""
    return (scorer or get_perplexity_scorer()).score(text).bits_per_byte


__all__ = [
    "DEFAULT_N_CTX",
    "PerplexityResult",
    "PerplexityScorer",
    "bits_per_byte",
    "get_perplexity_scorer",
    "perplexity",
    "token_nll",
    "windows",
]
