"""Intent routing: which way a message goes before anything is retrieved.

A small classifier sends each message to one of four routes:

``documents``     answer from the documents (the normal flow, and the safe default)
``chitchat``      a greeting, thanks or small talk: a short reply, no retrieval
``out_of_scope``  a request the assistant does not do (write a poem, today's weather):
                  declined politely
``handoff``       the user asks for a person: the conversation goes to the human handoff
                  inbox (a :class:`~ragline.guard.base.HandoffSink`)

The classifier is a logistic regression on the MiniLM sentence embeddings
(``ragline.models.embedder``) of labelled example messages, read from a YAML file the user
edits (``route.intents``; shipped: ``route/intents.yaml``) whose keys are route names and
whose values are lists of example messages. It is trained when first needed -- one embedding
per example, about 2 s for the shipped 121 on a busy 2-core machine -- and kept per process,
keyed by the file's contents and the embedder. A message whose best route scores under
``route.min_confidence`` goes to ``documents``: a missed chit-chat costs a retrieval, a
document question sent elsewhere costs the answer.

The question's embedding is the one retrieval needs too: :meth:`IntentRouter.classify_vector`
takes a vector already computed, and :meth:`IntentRouter.classify` embeds the text itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_args

import numpy as np

from ragline.errors import ConfigError

if TYPE_CHECKING:
    from ragline.config import RouteSettings
    from ragline.models.embedder import Embedder

#: The routes a message can take (the keys of an intents file).
RouteName = Literal["documents", "chitchat", "out_of_scope", "handoff"]
ROUTES: tuple[RouteName, ...] = get_args(RouteName)
#: Where a message goes when the classifier is not sure.
DEFAULT_ROUTE: RouteName = "documents"

SHIPPED_INTENTS = Path(__file__).with_name("intents.yaml")


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where one message goes, and how sure the classifier was."""

    kind: ClassVar[str] = "route"
    route: RouteName
    #: The probability of the classifier's best route (0-1).
    score: float
    #: The classifier's best route, before the low-confidence default was applied.
    predicted: RouteName
    #: Every route's probability.
    scores: dict[str, float] = field(default_factory=dict)
    #: True when the score was under ``route.min_confidence`` and ``documents`` was taken.
    defaulted: bool = False
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "score": round(self.score, 4),
            "predicted": self.predicted,
            "defaulted": self.defaulted,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
        }


@dataclass(frozen=True, slots=True)
class IntentExamples:
    """Example messages per route, as read from an intents file."""

    examples: dict[RouteName, tuple[str, ...]]
    source: str
    digest: str

    def pairs(self) -> tuple[list[str], list[RouteName]]:
        texts: list[str] = []
        labels: list[RouteName] = []
        for route, messages in self.examples.items():
            texts += messages
            labels += [route] * len(messages)
        return texts, labels


def parse_intents(text: str, source: str = "<intents>") -> IntentExamples:
    """Read an intents file's text: ``{route: [message, ...]}``.

    Raises :class:`~ragline.errors.ConfigError` naming the problem: malformed YAML, not a
    mapping, an unknown route name, a route whose examples are not a list of non-empty
    strings, no ``documents`` examples, or fewer than two routes with examples."""
    import yaml

    fix = f"fix {source}: a mapping of route name to a list of example messages"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"the intents file {source} is not valid YAML{where}", hint=fix) from exc
    if data is None:
        raise ConfigError(f"the intents file {source} is empty", hint=fix)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the intents file {source} must map route names to example lists, "
            f"not be a {type(data).__name__}",
            hint=fix,
        )
    examples: dict[RouteName, tuple[str, ...]] = {}
    for route, messages in data.items():
        if route not in ROUTES:
            raise ConfigError(
                f"the intents file {source} names an unknown route {route!r}",
                hint=f"routes are: {', '.join(ROUTES)}",
            )
        if messages is None:
            continue  # a route listed without examples: not trained, never predicted
        if not isinstance(messages, list) or not all(
            isinstance(m, str) and m.strip() for m in messages
        ):
            raise ConfigError(
                f"route {route!r} in {source} must be a list of non-empty example messages",
                hint=fix,
            )
        cleaned = tuple(dict.fromkeys(m.strip() for m in messages))
        if cleaned:
            examples[route] = cleaned
    if DEFAULT_ROUTE not in examples:
        raise ConfigError(
            f"the intents file {source} has no {DEFAULT_ROUTE!r} examples",
            hint="add typical questions about your documents under `documents:`",
        )
    if len(examples) < 2:
        raise ConfigError(
            f"the intents file {source} has examples for one route only; there is nothing to "
            "choose between",
            hint=f"add examples for another route ({', '.join(ROUTES[1:])}), or set "
            "route.enabled = false",
        )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return IntentExamples(examples, source, digest)


def load_intents(path: Path | None = None) -> IntentExamples:
    """The intents file at ``path`` (None: the shipped one)."""
    file = Path(path).expanduser() if path is not None else SHIPPED_INTENTS
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the intents file {file} does not exist",
            hint="set route.intents to an existing YAML file, or leave it unset for the "
            "shipped one",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the intents file {file}: {exc}") from exc
    return parse_intents(text, str(file))


class IntentRouter:
    """The trained classifier; see the module docstring. Thread-safe once built."""

    def __init__(
        self, embedder: Embedder, examples: IntentExamples, *, min_confidence: float = 0.5
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        self.embedder = embedder
        self.examples = examples
        self.min_confidence = min_confidence
        texts, labels = examples.pairs()
        vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
        # Balanced: the documents route usually has the most examples; C=10: the embeddings
        # are unit vectors, so the default C=1 regularises the scores towards uniform.
        model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
        model.fit(vectors, labels)
        self._coef = model.coef_.astype(np.float32)
        self._intercept = model.intercept_.astype(np.float32)
        # plain str (sklearn keeps numpy strings): the names go into JSON and spans
        self.routes = cast("tuple[RouteName, ...]", tuple(str(c) for c in model.classes_))

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        """The probability of each of :attr:`routes` for one embedding (numpy, no sklearn
        call on the request path)."""
        z = self._coef @ np.asarray(vector, dtype=np.float32).reshape(-1) + self._intercept
        if len(self.routes) == 2:  # binary: one row of coefficients, for routes[1]
            p = 1.0 / (1.0 + np.exp(-float(z[0])))
            return np.array([1.0 - p, p])
        e = np.exp(z - z.max())
        return e / e.sum()

    def classify_vector(self, vector: np.ndarray) -> RouteDecision:
        started = time.perf_counter()
        probs = self.probabilities(vector)
        best = int(np.argmax(probs))
        predicted = self.routes[best]
        score = float(probs[best])
        defaulted = score < self.min_confidence and predicted != DEFAULT_ROUTE
        return RouteDecision(
            route=DEFAULT_ROUTE if defaulted else predicted,
            score=score,
            predicted=predicted,
            scores={r: float(p) for r, p in zip(self.routes, probs, strict=True)},
            defaulted=defaulted,
            latency_ms=(time.perf_counter() - started) * 1e3,
        )

    def classify(self, message: str) -> RouteDecision:
        """Embed ``message`` and route it."""
        started = time.perf_counter()
        vector = self.embedder.embed([message])[0]
        decision = self.classify_vector(vector)
        latency = (time.perf_counter() - started) * 1e3
        return _with_latency(decision, latency)


def _with_latency(decision: RouteDecision, latency_ms: float) -> RouteDecision:
    from dataclasses import replace

    return replace(decision, latency_ms=latency_ms)


_ROUTERS: dict[tuple[str, str, float], IntentRouter] = {}
_ROUTERS_LOCK = threading.Lock()


def intent_router(settings: RouteSettings, embedder: Embedder) -> IntentRouter:
    """The intent router for these settings, trained once per process (per intents file
    contents, embedder and threshold)."""
    examples = load_intents(settings.intents)
    key = (examples.digest, embedder.name, settings.min_confidence)
    with _ROUTERS_LOCK:
        router = _ROUTERS.get(key)
        if router is None:
            router = IntentRouter(embedder, examples, min_confidence=settings.min_confidence)
            _ROUTERS[key] = router
        return router


__all__ = [
    "DEFAULT_ROUTE",
    "ROUTES",
    "SHIPPED_INTENTS",
    "IntentExamples",
    "IntentRouter",
    "RouteDecision",
    "RouteName",
    "intent_router",
    "load_intents",
    "parse_intents",
]
