"""The prompt-injection / jailbreak guard: MiniLM embeddings + heuristics + logistic regression.

A text is cut into *segments*: the whole text (its first 256 tokens, as the embedder reads
it) and, when it is longer than one window, sentence windows of at most ``window_words``
words overlapping by half, so an instruction planted in the middle of a long benign passage
(indirect injection) dominates one window instead of being averaged away. Each segment's
features are its MiniLM vector (the embedder ingestion uses, loaded once per process) and the
four heuristics of :mod:`ragline.guard.heuristics`; a logistic model scores each segment and
the text's score is the highest. Base64/hex payloads that decode to readable text, and ROT13
or leetspeak that reveals an attack phrase, are scored as segments of their own.

The weights (``injection_weights.json``, ~10 kB) are trained by
``benchmarks/train_injection.py`` on public data, which reproduces them byte for byte; the
held-out evaluation is ``benchmarks/bench_guard_classifiers.py``. Scoring needs numpy only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ragline.errors import ModelError
from ragline.guard.base import Flag, GuardContext, GuardDirection, GuardResult
from ragline.guard.heuristics import HEURISTIC_REASONS, HEURISTICS, mask_blobs, scan_heuristics
from ragline.text.sentences import split_sentences

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.models.embedder import Embedder

#: The shipped weights (``benchmarks/train_injection.py`` writes them).
WEIGHTS_PATH = Path(__file__).with_name("injection_weights.json")
#: Decoded payloads scored per text at most (each costs one embedding).
_MAX_VARIANTS = 4
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a text the classifier scores; ``start``/``end`` None for the whole text."""

    text: str
    start: int | None
    end: int | None
    kind: str  # "text", "window", "base64", "hex", "rot13", "leet"


def _word_units(text: str, window_words: int) -> list[tuple[int, int, int]]:
    """Sentence spans of ``text`` as ``(start, end, words)``; a sentence longer than a window
    is cut into window-sized runs of words."""
    units: list[tuple[int, int, int]] = []
    for start, end in split_sentences(text, lines=True):
        words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
        for i in range(0, len(words), window_words):
            run = words[i : i + window_words]
            units.append((run[0][0], run[-1][1], len(run)))
    return units


def windows(text: str, window_words: int) -> list[tuple[int, int]]:
    """Sentence windows of ``text``: consecutive sentences up to ``window_words`` words,
    each window starting halfway into the one before. Empty when the text fits one window."""
    units = _word_units(text, window_words)
    if sum(u[2] for u in units) <= window_words:
        return []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, words = i, 0
        while j < len(units) and words + units[j][2] <= window_words:
            words += units[j][2]
            j += 1
        j = max(j, i + 1)
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = max(i + 1, (i + j) // 2)
    return spans


def segments(text: str, *, window_words: int, max_chars: int) -> list[Segment]:
    """The segments the classifier scores for ``text`` (see the module docstring)."""
    head = text[:max_chars]
    if not head.strip():
        return []
    out = [Segment(head, None, None, "text")]
    out += [Segment(head[s:e], s, e, "window") for s, e in windows(head, window_words)]
    return out


@dataclass(frozen=True, slots=True)
class InjectionModel:
    """The logistic model over ``[embedding, heuristics]`` features, and its segmenting."""

    coef: np.ndarray  # (dim + len(HEURISTICS),)
    bias: float
    window_words: int
    embedder: str
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> InjectionModel:
        try:
            data = json.loads(Path(path).read_text())
            coef = np.asarray(data["coef"], dtype=np.float64)
            if list(data["heuristics"]) != list(HEURISTICS):
                raise ValueError(f"heuristics {data['heuristics']} != {list(HEURISTICS)}")
            return cls(
                coef=coef,
                bias=float(data["bias"]),
                window_words=int(data["window_words"]),
                embedder=str(data["embedder"]),
                meta=data,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"cannot load the injection weights {path}: {exc}",
                hint="reinstall ragline, or retrain them: python benchmarks/train_injection.py",
            ) from exc

    def scores(self, features: np.ndarray) -> np.ndarray:
        z = features.astype(np.float64) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def features(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Feature rows of ``texts``: the MiniLM vector of the text with encoded blobs masked
    (rounded to 1e-4, so retraining on another CPU gives the same weights) followed by the
    heuristics (0/1) of the text as it is."""
    vectors = np.round(embedder.embed([mask_blobs(t) for t in texts]).astype(np.float64), 4)
    flags = np.array([scan_heuristics(t).vector() for t in texts], dtype=np.float64)
    return np.hstack([vectors, flags.reshape(len(texts), len(HEURISTICS))])


@lru_cache(maxsize=2)
def _load_model(path: Path) -> InjectionModel:
    return InjectionModel.load(path)


class InjectionGuard:
    """Flags prompt injections and jailbreaks in user input and in document chunks.

    ``InjectionGuard(settings)`` is cheap: the embedder and the weights load on the first
    scan (the embedder is the process-wide one of ``get_embedder``). Thread-safe.
    """

    name: ClassVar[str] = "injection"
    directions: ClassVar[frozenset[str]] = frozenset({"input", "document"})

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        weights: Path | None = None,
    ) -> None:
        self._settings = settings
        self._embedder = embedder
        self._weights = Path(weights) if weights else WEIGHTS_PATH
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self._settings.guard.injection_threshold

    def _parts(self) -> tuple[Embedder, InjectionModel]:
        with self._lock:
            if self._embedder is None:
                from ragline.models.embedder import get_embedder

                self._embedder = get_embedder(self._settings.embedder)
            embedder = self._embedder
        return embedder, _load_model(self._weights)

    def segments(self, text: str) -> list[Segment]:
        """Every segment scored for ``text``, decoded payloads included."""
        _, model = self._parts()
        segs = segments(
            text,
            window_words=model.window_words,
            max_chars=self._settings.guard.scan_chars,
        )
        if not segs:
            return segs
        for encoding, variant in scan_heuristics(segs[0].text).variants[:_MAX_VARIANTS]:
            segs.append(Segment(variant, None, None, encoding))
        return [s for s in segs if s.text.strip()]

    def score_segments(self, segs: list[Segment]) -> np.ndarray:
        embedder, model = self._parts()
        if not segs:
            return np.zeros(0)
        return model.scores(features(embedder, [s.text for s in segs]))

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult:
        t0 = time.perf_counter()
        if not isinstance(text, str):
            raise TypeError(f"the injection guard scans str, not {type(text).__name__}")
        segs = self.segments(text)
        scores = self.score_segments(segs)
        flags: tuple[Flag, ...] = ()
        if len(scores) and float(scores.max()) >= self.threshold:
            best = int(np.argmax(scores))
            flags = (self._flag(text, segs, scores, best, direction),)
        return GuardResult(self.name, flags, (time.perf_counter() - t0) * 1000)

    def _flag(
        self,
        text: str,
        segs: list[Segment],
        scores: np.ndarray,
        best: int,
        direction: GuardDirection,
    ) -> Flag:
        seg = segs[best]
        where = {
            "text": "the text",
            "window": f"characters {seg.start}-{seg.end} (a sentence window)",
        }.get(seg.kind, f"a {seg.kind}-encoded payload, decoded")
        reasons = [f"classifier score {float(scores[best]):.2f} on {where}"]
        hits = scan_heuristics(seg.text).hits
        if seg.kind not in ("text", "window"):
            hits = hits | {"encoded"}
        if hits:
            reasons.append("heuristics: " + ", ".join(HEURISTIC_REASONS[h] for h in sorted(hits)))
        if len(text) > self._settings.guard.scan_chars:
            reasons.append(
                f"classifier read the first {self._settings.guard.scan_chars} "
                f"of {len(text)} characters"
            )
        label = "indirect_injection" if direction == "document" else "injection"
        if seg.kind not in ("text", "window"):
            label = "encoded_injection"
        return Flag(
            guard=self.name,
            label=label,
            score=float(scores[best]),
            start=seg.start,
            end=seg.end,
            detail="; ".join(reasons),
        )
