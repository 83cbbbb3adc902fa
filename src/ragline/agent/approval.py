"""Approvals: how a person's answer on a handoff item of kind ``approval`` is read.

A step whose tool has ``side_effects=True`` opens an item in the handoff inbox (kind
``approval``; its ``details`` hold the run id, the step, the tool and its arguments) and the
run pauses. A person decides with the tools the inbox already has:

* **close with a resolution**: ``ragline handoff close ID -r approved`` (or ``rejected``),
  ``POST /api/handoff/{id}/close {"resolution": "approved"}``;
* **or reply** (the web UI's Handoff page, ``ragline handoff reply ID approve``,
  ``POST /api/handoff/{id}/reply``) with a text whose first word is one of
  :data:`APPROVE_WORDS` or :data:`REJECT_WORDS`.

The resolution wins over replies; among replies the latest deciding one wins. An item
closed without a deciding word is a rejection (a side effect runs only on an explicit
approval). Anything else is still pending. ``ragline agent resume RUN_ID`` (or
``POST /api/agent/runs/{id}/resume``) then goes on: an approved step runs, a rejected one
stops the run (status ``rejected``). A decision taken through a reply is recorded on the
item when the run resumes: the agent closes it with the resolution it read.
"""

from __future__ import annotations

import re
from typing import Literal

from ragline.store.handoff_base import HandoffItem

ApprovalVerdict = Literal["approved", "rejected", "pending"]
APPROVE_WORDS = frozenset({"approve", "approved", "yes", "ok", "allow", "allowed", "go"})
REJECT_WORDS = frozenset({"reject", "rejected", "no", "deny", "denied", "stop"})
_WORD = re.compile(r"[a-z]+")


def _verdict_of(text: str | None) -> ApprovalVerdict:
    match = _WORD.search((text or "").strip().lower())
    word = match.group(0) if match else ""
    if word in APPROVE_WORDS:
        return "approved"
    if word in REJECT_WORDS:
        return "rejected"
    return "pending"


def verdict(item: HandoffItem) -> ApprovalVerdict:
    """What the person decided on an approval item (see the module docstring)."""
    if item.resolution:
        decided = _verdict_of(item.resolution)
        if decided != "pending":
            return decided
    for message in reversed(item.messages):
        if message.role == "human":
            decided = _verdict_of(message.text)
            if decided != "pending":
                return decided
    return "rejected" if item.status == "closed" else "pending"


__all__ = ["APPROVE_WORDS", "REJECT_WORDS", "ApprovalVerdict", "verdict"]
