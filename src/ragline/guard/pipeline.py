"""The guard pipeline: run a direction's guards on a text and decide what happens to it.

:class:`GuardPipeline` is built once per process (``Ragline`` builds it and hands it to the
answer flow, ingestion and ``ragline guard scan``). Guards are found by name through the
plugin registry (group ``ragline.guards``: ``factory(settings) -> Guard``; the built-ins
``pii``, ``injection``, ``topic``, ``toxicity`` and ``leak`` register there like any plugin),
each built on first use, so a guard that cannot be loaded fails only the checks that use it.

:meth:`GuardPipeline.check` runs the guards of a direction (``guard.input``, ``guard.output``,
``guard.documents``), times each, and turns their results into one
:class:`~ragline.guard.base.Decision`:

* each guard that flagged the text brings its action: ``guard.actions[name]``, overridden
  for a collection by ``guard.collections[collection].actions[name]``;
* the strictest action wins (:data:`~ragline.guard.base.ACTION_ORDER`: allow < warn <
  redact < block < handoff), and ``decided_by`` names its guard;
* the spans flagged by guards whose action is ``redact`` are replaced by placeholders
  (``<PERSON_1>``, through ``ragline.guard.redaction`` when present: one placeholder map per
  conversation), whatever the final action, so a blocked or handed-off text is redacted too;
* a guard that crashes (or cannot be loaded) is reported in its result's ``error`` and fails
  *closed* when its action is block or handoff (the text is refused); with another action
  the decision is at least a warning, so it is never silently skipped;
* the ``reason`` names the guard and what it found (its flag labels and details), never the
  text itself.

``guard.enabled = false`` allows everything without running any guard.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ragline.config import Settings
from ragline.errors import ConfigError
from ragline.guard.base import (
    ACTION_ORDER,
    Action,
    Decision,
    Flag,
    Guard,
    GuardContext,
    GuardDirection,
    GuardResult,
)
from ragline.guard.redaction import Placeholders, redact

DIRECTIONS: tuple[GuardDirection, ...] = ("input", "output", "document")
#: The chunk metadata key a document guard's finding is kept under.
DOCUMENT_KEY = "guard"
#: Conversations whose placeholder maps are kept (least recently used go first).
_MAX_CONVERSATIONS = 10_000
_ERROR_CHARS = 300  # an error message in a result is cut here (it may quote the text)


class GuardPipeline:
    """The configured guards of every direction, and the decision over their results.

    ``guards``: use exactly these (each for the directions it declares) instead of the names
    in settings; for tests and embedding applications. Thread-safe: guards are stateless
    per call and are built once, under a lock.
    """

    def __init__(self, settings: Settings, guards: Iterable[Guard] | None = None) -> None:
        self.settings = settings
        self.config = settings.guard
        self._given: dict[str, Guard] | None = None
        if guards is not None:
            self._given = {}
            for g in guards:
                if g.name in self._given:
                    raise ConfigError(f"two guards are named {g.name!r}")
                self._given[g.name] = g
        self._built: dict[str, Guard] = {}
        self._lock = threading.Lock()
        # One placeholder map per conversation (the same value keeps its <PERSON_1>), the
        # most recent conversations only.
        self._placeholders: OrderedDict[str, Placeholders] = OrderedDict()

    # ------------------------------------------------------------------ redaction

    def placeholders(self, conversation_id: str | None) -> Placeholders:
        """The conversation's placeholder map (a fresh one for a text outside any)."""
        reversible = self.config.pii_reversible
        if conversation_id is None:
            return Placeholders(reversible=reversible)
        with self._lock:
            found = self._placeholders.get(conversation_id)
            if found is None:
                found = self._placeholders[conversation_id] = Placeholders(reversible=reversible)
                while len(self._placeholders) > _MAX_CONVERSATIONS:
                    self._placeholders.popitem(last=False)
            else:
                self._placeholders.move_to_end(conversation_id)
            return found

    def redact(self, text: str, flags: Sequence[Flag], conversation_id: str | None) -> str:
        """``text`` with the flagged spans replaced by the conversation's placeholders."""
        return redact(text, flags, self.placeholders(conversation_id))

    # ------------------------------------------------------------------ configuration

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def names(self, direction: GuardDirection) -> list[str]:
        """The guards that scan ``direction`` (settings, or the guards given)."""
        if direction not in DIRECTIONS:
            raise ConfigError(
                f"unknown guard direction {direction!r}", hint=f"one of: {', '.join(DIRECTIONS)}"
            )
        if self._given is not None:
            return [n for n, g in self._given.items() if direction in g.directions]
        cfg = self.config
        listed = {"input": cfg.input, "output": cfg.output, "document": cfg.documents}
        return list(dict.fromkeys(listed[direction]))

    def active(self, direction: GuardDirection) -> bool:
        """Whether a check of ``direction`` would run any guard."""
        return self.enabled and bool(self.names(direction))

    def action_of(self, name: str, collection: str | None = None) -> Action:
        """The action for a flag of guard ``name`` (the collection's policy first)."""
        policy = self.config.collections.get(collection) if collection else None
        if policy is not None and name in policy.actions:
            return Action(policy.actions[name])
        if name in self.config.actions:
            return Action(self.config.actions[name])
        raise ConfigError(
            f"the guard {name!r} has no action in guard.actions",
            hint=f"set guard.actions.{name} to allow, warn, redact, block or handoff, e.g. "
            f'RAGLINE_GUARD__ACTIONS=\'{{"{name}": "block"}}\' (with the other guards\' actions)',
        )

    def guard(self, name: str) -> Guard:
        """The guard ``name``: a given one, else built from the ``ragline.guards`` registry
        on first use (``factory(settings)``). Raises what loading raises."""
        if self._given is not None:
            if name not in self._given:
                raise ConfigError(
                    f"no guard named {name!r} in this pipeline",
                    hint=f"given: {', '.join(self._given) or 'none'}",
                )
            return self._given[name]
        with self._lock:
            found = self._built.get(name)
            if found is None:
                from ragline import plugins

                factory = plugins.load("guards", name)
                found = factory(self.settings)
                self._built[name] = found
            return found

    def load(self, direction: GuardDirection | None = None) -> list[str]:
        """Build the guards of ``direction`` (all directions: None) now, so models load once
        up front (batch scans); returns their names. Errors propagate."""
        dirs = DIRECTIONS if direction is None else (direction,)
        names = list(dict.fromkeys(n for d in dirs for n in self.names(d)))
        for name in names:
            self.guard(name)
        return names

    # ------------------------------------------------------------------ documents

    def admissible(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a chunk may go into a prompt: not when a document guard flagged it at
        ingestion (``metadata["guard"]``) and ``guard.document_action`` is ``exclude`` or
        ``quarantine`` (decided now, so changing the setting needs no re-ingestion)."""
        if not self.enabled or self.config.document_action == "flag":
            return True
        return not metadata.get(DOCUMENT_KEY)

    def document_flag(self, text: str, collection: str | None = None) -> dict[str, Any] | None:
        """A chunk's document check as its ``metadata["guard"]`` entry (None: nothing to
        note). A chunk is flagged when the decision is not ALLOW: a guard whose action is
        ``allow`` does not flag documents; a crashed refusing guard does (fail closed)."""
        decision = self.check(text, "document", GuardContext(collection=collection))
        if decision.action is Action.ALLOW:
            return None
        return {
            "action": self.config.document_action,
            "decided_by": decision.decided_by,
            "reason": decision.reason,
            "flags": [
                {k: v for k, v in f.to_dict().items() if k != "detail"} for f in decision.flags
            ],
            "errors": {r.guard: r.error for r in decision.results if r.error} or None,
        }

    # ------------------------------------------------------------------ checking

    def scan(
        self,
        name: str,
        text: str,
        direction: GuardDirection,
        context: GuardContext | None = None,
    ) -> GuardResult:
        """One guard's result, timed; a crash (or a guard that cannot load) is its ``error``."""
        t0 = time.perf_counter()
        try:
            result = self.guard(name).scan(text, direction=direction, context=context)
            if not isinstance(result, GuardResult):
                raise TypeError(f"scan() returned {type(result).__name__}, not a GuardResult")
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            error = f"{type(exc).__name__}: {message}"[:_ERROR_CHARS]
            return GuardResult(name, (), (time.perf_counter() - t0) * 1000, error)
        latency = result.latency_ms or (time.perf_counter() - t0) * 1000
        if result.guard != name or result.latency_ms != latency:
            result = GuardResult(name, result.flags, latency, result.error)
        return result

    def check(
        self,
        text: str,
        direction: GuardDirection,
        context: GuardContext | None = None,
        *,
        only: Sequence[str] | None = None,
    ) -> Decision:
        """Run ``direction``'s guards (``only``: just these names) on ``text`` and decide."""
        context = context or GuardContext()
        if not self.enabled:
            return Decision(Action.ALLOW, text, direction, reason="guards are disabled")
        names = self.names(direction) if only is None else list(dict.fromkeys(only))
        results = tuple(self.scan(n, text, direction, context) for n in names)
        return self.decide(text, direction, results, context)

    def decide(
        self,
        text: str,
        direction: GuardDirection,
        results: Sequence[GuardResult],
        context: GuardContext | None = None,
    ) -> Decision:
        """The decision over guards' ``results`` for ``text`` (see the module docstring)."""
        context = context or GuardContext()
        action, decided_by = Action.ALLOW, None
        redact: list[Flag] = []
        reasons: dict[str, str] = {}
        for r in results:
            if not r.triggered:
                continue
            configured = self.action_of(r.guard, context.collection)
            if r.error is not None:
                # fail closed for refusing policies; otherwise at least a warning
                if configured in (Action.BLOCK, Action.HANDOFF):
                    effective = configured
                else:  # a crashed redaction cannot redact: warn instead
                    effective = Action.ALLOW if configured is Action.ALLOW else Action.WARN
                reasons[r.guard] = f"the {r.guard} guard failed ({_error_kind(r.error)})"
            else:
                effective = configured
                reasons[r.guard] = _describe(r)
                if configured is Action.REDACT:
                    redact += [f for f in r.flags if f.start is not None and f.end is not None]
            if ACTION_ORDER[effective] > ACTION_ORDER[action]:
                action, decided_by = effective, r.guard
        out = self.redact(text, redact, context.conversation_id) if redact else text
        reason = _reason(action, decided_by, reasons)
        extra: dict[str, Any] = {}
        if redact:
            extra["redacted"] = len(redact)
        return Decision(action, out, direction, tuple(results), decided_by, reason, extra)


# ---------------------------------------------------------------------- helpers


def _error_kind(error: str) -> str:
    return error.split(":", 1)[0] or "error"


def _describe(result: GuardResult) -> str:
    """What a guard found, in words: its labels (and details), never the flagged text."""
    labels = list(dict.fromkeys(f.label for f in result.flags))
    details = list(dict.fromkeys(f.detail for f in result.flags if f.detail))
    what = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    text = f"the {result.guard} guard found {what} (score {result.score:.2f})"
    if details:
        text += ": " + "; ".join(details[:3])
    return text


_VERB = {
    Action.WARN: "warning",
    Action.REDACT: "redacted",
    Action.BLOCK: "blocked",
    Action.HANDOFF: "handed to a person",
}


def _reason(action: Action, decided_by: str | None, reasons: Mapping[str, str]) -> str:
    if action is Action.ALLOW or decided_by is None:
        return "; ".join(reasons.values())
    first = reasons[decided_by]
    others = [v for k, v in reasons.items() if k != decided_by]
    return f"{_VERB[action]}: {first}" + (f" (also: {'; '.join(others)})" if others else "")


__all__ = ["DIRECTIONS", "DOCUMENT_KEY", "GuardPipeline"]
