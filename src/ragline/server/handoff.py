"""Who may see and answer the human handoff inbox over HTTP, and whose an item is.

* The **owner** of an item is the API key whose answer opened it: the answer flow knows no
  keys, so :func:`claim_handoff` gives the item to the calling key when the answer's
  ``handoff_id`` passes through the server (before the client can learn the id). The owner
  reads its item and its thread, polls for the reply and adds messages.
* An **operator** is a key with the ``admin`` role (:data:`OPERATOR_ROLE`): it lists, reads,
  replies to and closes the items of the collections it may read (an item of no collection:
  an operator of every collection), like :func:`~ragline.server.routes.feedback.trace_visible`
  scopes traces. Replying is a person speaking for the service, so a ``read`` key cannot,
  not even on its own item.
* Anyone else gets the same 404 as for an unknown id, so ids cannot be probed.
* An open server (no key was ever created; loopback only) lets every caller do everything.
"""

from __future__ import annotations

from typing import Any

from ragline.server.auth import Principal
from ragline.store.handoff_base import HandoffItem, HandoffQuery, HandoffStatus, not_found
from ragline.store.keys_base import Role

#: The role that answers the inbox.
OPERATOR_ROLE: Role = "admin"


def is_operator(principal: Principal) -> bool:
    return principal.key is None or principal.key.allows(OPERATOR_ROLE)


def is_owner(principal: Principal, item: HandoffItem) -> bool:
    return principal.key is None or (item.owner is not None and item.owner == principal.key.id)


def may_see(principal: Principal, item: HandoffItem) -> bool:
    """The owner, or an operator who may read the item's collection."""
    return is_owner(principal, item) or (
        is_operator(principal) and principal.may_read(item.collection)
    )


def visible_item(
    store: Any, principal: Principal, item_id: str, *, messages: bool = True
) -> HandoffItem:
    """The item (with its thread unless ``messages=False``), if the caller may see it; else
    the 404 of an unknown id."""
    item = store.get_item(item_id, messages=messages)
    if item is None or item.id != item_id or not may_see(principal, item):
        raise not_found(item_id)
    return item


def owned_item(store: Any, principal: Principal, item_id: str) -> HandoffItem:
    """The item without its thread, if the caller owns it (polling for the reply, adding a
    message); else 404."""
    item = store.get_item(item_id, messages=False)
    if item is None or item.id != item_id or not is_owner(principal, item):
        raise not_found(item_id)
    return item


def listing(
    principal: Principal, status: HandoffStatus | None, limit: int, offset: int
) -> HandoffQuery:
    """What a caller lists: an operator, the items of its collections; anyone else, its own."""
    key = principal.key
    if key is None:
        return HandoffQuery(status=status, limit=limit, offset=offset)
    if is_operator(principal):
        collections = None if key.all_collections else tuple(key.collections)
        return HandoffQuery(status=status, collections=collections, limit=limit, offset=offset)
    return HandoffQuery(status=status, owner=key.id, limit=limit, offset=offset)


def author_of(principal: Principal, given: str | None) -> str:
    """Who signs a reply: the name given, else the key's name, else ``operator``."""
    if given and given.strip():
        return given.strip()
    return principal.key.name if principal.key is not None else "operator"


def handoff_id_of(done: Any) -> str | None:
    """The item id an answer's ``done`` event carries (``Answer.handoff_id``), if any."""
    value = getattr(getattr(done, "answer", None), "handoff_id", None)
    if value is None:
        value = getattr(done, "handoff_id", None)
    return str(value) if value else None


def claim_handoff(rag: Any, done: Any, owner: str | None) -> None:
    """Give the item an answer just opened to the calling key (``owner``), before the
    client hears of it. Nothing to do without an item or without a key."""
    item_id = handoff_id_of(done)
    if item_id and owner:
        rag.handoffs.claim(item_id, owner)


__all__ = [
    "OPERATOR_ROLE",
    "author_of",
    "claim_handoff",
    "handoff_id_of",
    "is_operator",
    "is_owner",
    "listing",
    "may_see",
    "owned_item",
    "visible_item",
]
