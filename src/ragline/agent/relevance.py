"""Does any offered tool fit the request? A small fitted gate, asked before the model is.

Small models call a tool whenever one is offered: on BFCL's *irrelevance* category (no
offered function fits) qwen2.5-1.5b called one in 32 of 33 cases, and neither its own chat
template nor a yes/no question to it fixed that (docs/benchmarks.md). This gate scores the
request against the offered tools with what ragline already has, the embedded MiniLM
embeddings and a few lexical cues, and answers "no call" when the best tool fits too poorly:

* cosine of the request with each tool's ``name: description``, with its name alone and with
  its parameters' descriptions (the best tool's of each);
* the share of the tool name's words, and of its description's words, found in the request
  (stemmed crudely, stop words left out).

(How far the best tool stands above the others was tried and left out: in the training data
it mostly tells how many tools a case offers, not whether one fits.)
A logistic regression over these five numbers (``tool_relevance.json``) gives the probability
that some tool fits. It was fitted by ``benchmarks/train_tool_relevance.py`` on BFCL's
*live* categories only (user-contributed requests: ``live_irrelevance`` against
``live_simple``, ``live_multiple`` and ``live_parallel``), and its threshold is the one that
maximises abstentions plus kept calls (Youden's J) on those, out of fold. The categories
ragline reports (``simple``, ``multiple``, ``parallel``, ``irrelevance``) were never fitted
on: they measure it (``benchmarks/bench_agent_calling.py``).

The gate applies only with ``tool_choice="auto"`` (a caller that requires a call, or names
one, gets it), only with the embedder it was fitted with, and ``tools.relevance_gate``
turns it off.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ragline.agent.tools import Tool
    from ragline.config import Settings
    from ragline.models.embedder import Embedder

#: The features, in the order of the fitted weights.
FEATURES: tuple[str, ...] = (
    "cos_doc",
    "cos_name",
    "cos_params",
    "name_words_in_request",
    "description_words_in_request",
)
#: Characters of a text embedded for a feature (MiniLM reads 256 tokens at most).
_MAX_CHARS = 1000
_STOP = frozenset(
    {
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "for",
        "on",
        "and",
        "or",
        "is",
        "are",
        "be",
        "with",
        "by",
        "from",
        "at",
        "as",
        "it",
        "this",
        "that",
        "what",
        "which",
        "how",
        "do",
        "does",
        "can",
        "i",
        "you",
        "me",
        "my",
        "we",
        "please",
    }
)
_CAMEL = re.compile(r"([a-z])([A-Z])")
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> set[str]:
    """Content words of ``text``, crudely stemmed (``getCellType`` → cell, type)."""
    out = set()
    for w in _WORD.findall(_CAMEL.sub(r"\1 \2", text).lower()):
        if len(w) < 2 or w in _STOP:
            continue
        for suffix in ("ing", "ies", "es", "s", "ed"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
        out.add(w)
    return out


def _spaced(name: str) -> str:
    return name.replace("_", " ").replace(".", " ")


def _fields(tool: Tool | Mapping[str, Any]) -> tuple[str, str, Any]:
    """(name, description, parameters) of a Tool or of a function document."""
    if isinstance(tool, Mapping):
        return (
            str(tool.get("name", "")),
            str(tool.get("description", "")),
            tool.get("parameters") or {},
        )
    return tool.name, tool.description, tool.parameters


def tool_texts(tool: Tool | Mapping[str, Any]) -> tuple[str, str, str]:
    """(``name: description``, name, its parameters' descriptions) of one tool, as embedded.

    ``tool``: a :class:`~ragline.agent.tools.Tool` or a function document (``name``,
    ``description``, ``parameters``)."""
    name, description, parameters = _fields(tool)
    props = parameters.get("properties") if isinstance(parameters, Mapping) else None
    params = "; ".join(
        f"{key}: {value.get('description', '') if isinstance(value, Mapping) else ''}"
        for key, value in (props or {}).items()
    )
    name_text = _spaced(name)
    return (
        f"{name_text}: {description}"[:_MAX_CHARS],
        name_text[:_MAX_CHARS],
        (params or name_text)[:_MAX_CHARS],
    )


@dataclass(frozen=True, slots=True)
class RelevanceModel:
    """The fitted logistic regression and its threshold (``tool_relevance.json``)."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    embedder: str
    meta: Mapping[str, Any]

    def probability(self, features: np.ndarray) -> float:
        z = float(np.dot(self.weights, features) + self.bias)
        return 1.0 / (1.0 + float(np.exp(-z)))


@lru_cache(maxsize=1)
def shipped_model() -> RelevanceModel:
    """The weights shipped in the package (``benchmarks/train_tool_relevance.py`` writes them)."""
    raw = json.loads(
        resources.files("ragline.agent").joinpath("tool_relevance.json").read_text("utf-8")
    )
    if tuple(raw["features"]) != FEATURES:
        raise ValueError("tool_relevance.json was fitted on other features: refit it")
    return RelevanceModel(
        weights=tuple(float(w) for w in raw["weights"]),
        bias=float(raw["bias"]),
        threshold=float(raw["threshold"]),
        embedder=str(raw["embedder"]),
        meta={k: v for k, v in raw.items() if k not in ("weights", "bias", "threshold")},
    )


def embedder_id(settings: Settings) -> str:
    """What the weights depend on: the embedder provider and its model file (default: none)."""
    e = settings.embedder
    return f"{e.provider}:{e.model_path or 'default'}"


class ToolRelevance:
    """Scores a request against offered tools; tool texts' vectors are kept (LRU)."""

    def __init__(self, embedder: Embedder, model: RelevanceModel, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.model = model
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = np.asarray(self.embedder.embed(missing), dtype=np.float32)
            with self._lock:
                for text, vec in zip(missing, fresh, strict=True):
                    self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            out = []
            for t in texts:
                vec = self._cache.get(t)
                if vec is None:  # evicted by a concurrent caller: embed it again
                    vec = np.asarray(self.embedder.embed([t])[0], dtype=np.float32)
                else:
                    self._cache.move_to_end(t)
                out.append(vec)
        return np.stack(out)

    def features(self, request: str, tools: Sequence[Tool | Mapping[str, Any]]) -> np.ndarray:
        """The :data:`FEATURES` of ``request`` against ``tools`` (zeros: no tools)."""
        if not tools:
            return np.zeros(len(FEATURES))
        texts = [tool_texts(t) for t in tools]
        q = np.asarray(self.embedder.embed([request[:_MAX_CHARS]])[0], dtype=np.float32)
        doc = self._vectors([t[0] for t in texts]) @ q
        name = self._vectors([t[1] for t in texts]) @ q
        params = self._vectors([t[2] for t in texts]) @ q
        asked = words(request)
        name_share, desc_share = [], []
        for tool in tools:
            tname, tdesc, _params = _fields(tool)
            nw, dw = words(tname), words(tdesc)
            name_share.append(len(nw & asked) / max(1, len(nw)))
            desc_share.append(len(dw & asked) / max(1, len(dw)))
        return np.array(
            [
                float(doc.max()),
                float(name.max()),
                float(params.max()),
                max(name_share),
                max(desc_share),
            ]
        )

    def probability(self, request: str, tools: Sequence[Tool | Mapping[str, Any]]) -> float:
        """The probability that one of ``tools`` fits ``request``."""
        return self.model.probability(self.features(request, tools))


_gates: dict[str, ToolRelevance] = {}
_gates_lock = threading.Lock()


def gate_for(settings: Settings) -> ToolRelevance | None:
    """The process's gate for ``settings``' embedder; None when ``tools.relevance_gate`` is
    off or the embedder is not the one the shipped weights were fitted with."""
    if not settings.tools.relevance_gate:
        return None
    model = shipped_model()
    key = embedder_id(settings)
    if key != model.embedder:
        return None
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            from ragline.models.embedder import get_embedder

            gate = _gates[key] = ToolRelevance(get_embedder(settings.embedder), model)
        return gate


__all__ = [
    "FEATURES",
    "RelevanceModel",
    "ToolRelevance",
    "embedder_id",
    "gate_for",
    "shipped_model",
    "tool_texts",
    "words",
]
