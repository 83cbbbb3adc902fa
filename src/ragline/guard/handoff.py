"""The human handoff inbox behind the answer flow: :class:`StoreHandoffSink`.

On a ``handoff`` decision the flow calls :meth:`StoreHandoffSink.open`, which opens an item in
the :class:`~ragline.store.handoff_base.HandoffStore` (the question as the flow saw it,
already redacted; the guard and its reason; the decision's flags, never the flagged text
beyond the question; the trace id) and returns its id for the user. A person answers it with
``ragline handoff reply``, ``POST /api/handoff/{id}/reply`` or the web UI's Handoff page; the
user's client polls ``GET /api/handoff/{id}/messages`` for the reply.

The item's owner is the API key whose answer opened it: the flow knows no keys, so the
server claims the item for the calling key when the answer's ``handoff_id`` passes through
(:meth:`~ragline.store.handoff_base.HandoffStore.claim`); ``owner=`` sets one up front.

>>> sink = StoreHandoffSink(open_handoffs(settings))          # doctest: +SKIP
>>> item_id = sink.open(question=q, decision=d, context=GuardContext("docs"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from ragline.guard.base import Decision, GuardContext
from ragline.store.handoff_base import HandoffStore


class StoreHandoffSink:
    """A :class:`~ragline.guard.base.HandoffSink` on a handoff store (which it does not own)."""

    def __init__(
        self, store: HandoffStore | Callable[[], HandoffStore], *, owner: str | None = None
    ) -> None:
        #: the store, or a function that opens it on first use (``Ragline.handoffs``)
        self._store = store
        self.owner = owner

    @property
    def store(self) -> HandoffStore:
        if hasattr(self._store, "open_item"):
            return self._store  # type: ignore[return-value]
        return self._store()  # type: ignore[operator]

    def open(
        self,
        *,
        question: str,
        decision: Decision,
        context: GuardContext,
        trace_id: str | None = None,
    ) -> str:
        guard = decision.decided_by
        reason = decision.reason or (f"{guard} guard" if guard else "")
        item = self.store.open_item(
            question=question,
            kind="handoff",
            collection=context.collection,
            conversation_id=context.conversation_id,
            owner=self.owner,
            guard=guard,
            reason=reason,
            trace_id=trace_id,
            details=decision.to_dict(),
        )
        return item.id


__all__ = ["StoreHandoffSink"]
