"""Conversation memory (issue 17): the short-term window and long-term facts per user.

- :mod:`ragline.memory.window`: which earlier turns reach the prompt (``last_n``,
  ``summary``, ``summary_retrieval``; ``memory.window``).
- :mod:`ragline.memory.facts`: facts and preferences read from user turns (the
  :class:`~ragline.memory.facts.FactExtractor` Protocol, the rule extractor, "forget …"
  requests).
- :mod:`ragline.memory.longterm`: remember, recall, supersede and forget facts per user on a
  :class:`~ragline.store.memory_base.MemoryStore`.

The answer flow uses both (``answer/flow.py``); ``ragline memory`` and ``/api/memory`` list
and forget a user's facts. docs/memory.md explains it with examples.
"""
