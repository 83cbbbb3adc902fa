"""The prompt (KV) prefix cache of the embedded engine: the fixed part of a prompt is
evaluated once per process and its llama.cpp state reused.

A RAG prompt starts with the same tokens every time -- the chat template's header, the system
text, the instructions above the passages -- and only then differs (passages, question). The
fixed part is found from the traffic itself, so it works for any prompt file and any
template: the longest common token prefix of a prompt with one of the last few prompts the
model saw (at least :data:`MIN_PREFIX` tokens). The first time a prefix is seen twice, its
llama.cpp state (the KV cache of those tokens) is saved; a later prompt that starts with it
restores that state and evaluates only the rest. llama-cpp-python already reuses the tokens
its context still holds from the previous call; the cache adds the prefixes of *other*
prompts (the answer prompt after a rewrite prompt, another collection's prompt, another
conversation's), a few of them per model, least recently used dropped first.

The state is the model's own KV cache for those tokens, so the output is the same with or
without the cache (``tests/integration/test_prefix_cache.py``); ``gateway.prefix_cache``
turns it off. ``benchmarks/bench_prefix_cache.py`` measures the first-token time both ways.

Used under the model's lock (:class:`ragline.models.llamacpp.LoadedModel`): not thread-safe by
itself.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Shorter shared prefixes are not worth a state copy (evaluating them takes milliseconds).
MIN_PREFIX = 32
#: Prefix states kept per model (each a few MB for SmolLM2 / Qwen2.5-0.5B).
CAPACITY = 8
#: Recent prompts compared with a new one to find the fixed part.
HISTORY = 8


def common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class _State:
    data: bytes
    n_tokens: int


@dataclass(frozen=True, slots=True)
class PrefixUse:
    """What the cache did for one prompt (for spans and the benchmark)."""

    #: ``resident``: the context already held the longest prefix; ``restored``: a saved
    #: state was loaded; ``saved``: a new prefix was evaluated and saved; ``none``.
    action: str
    #: Prompt tokens that did not need evaluating.
    reused: int


class PrefixCache:
    """Saved llama.cpp states keyed by prompt prefix; see the module docstring."""

    def __init__(self, capacity: int = CAPACITY, min_prefix: int = MIN_PREFIX) -> None:
        self.capacity = capacity
        self.min_prefix = min_prefix
        self._states: OrderedDict[tuple[int, ...], _State] = OrderedDict()
        self._recent: deque[tuple[int, ...]] = deque(maxlen=HISTORY)
        self.hits = 0
        self.saves = 0

    def __len__(self) -> int:
        return len(self._states)

    def prepare(self, llm: Any, prompt: Sequence[int]) -> PrefixUse:
        """Put the longest known prefix of ``prompt`` into ``llm``'s context, so that
        ``llm.generate(prompt)`` evaluates only the rest."""
        tokens = tuple(prompt)
        try:
            return self._prepare(llm, tokens)
        finally:
            self._recent.append(tokens)

    def _prepare(self, llm: Any, tokens: tuple[int, ...]) -> PrefixUse:
        # generate() always evaluates at least the prompt's last token
        usable = len(tokens) - 1
        resident = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens[:usable])
        best: tuple[int, ...] = ()
        for key in self._states:
            if len(best) < len(key) <= usable and tokens[: len(key)] == key:
                best = key
        if best and len(best) > resident:
            self._load(llm, best, self._states[best])
            self._states.move_to_end(best)
            self.hits += 1
            return PrefixUse("restored", len(best))
        shared = max((common_prefix(r, tokens[:usable]) for r in self._recent), default=0)
        if shared >= self.min_prefix and shared > len(best):
            key = tokens[:shared]
            if resident >= shared:  # keep just the prefix in the context
                llm._ctx.kv_cache_seq_rm(-1, shared, -1)
                llm.n_tokens = shared
            else:
                llm.reset()
                llm.eval(list(key))
            self._states[key] = self._save(llm)
            self.saves += 1
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
            return PrefixUse("saved", min(resident, shared))
        if resident:
            return PrefixUse("resident", resident)
        return PrefixUse("none", 0)

    @staticmethod
    def _save(llm: Any) -> _State:
        import llama_cpp

        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_get_data(ctx, buffer, size)
        return _State(ctypes.string_at(buffer, n), llm.n_tokens)

    @staticmethod
    def _load(llm: Any, key: tuple[int, ...], state: _State) -> None:
        import llama_cpp

        buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state.data)) != len(state.data):
            raise RuntimeError("llama.cpp could not restore a saved prompt prefix")
        # the state holds the KV cache; generate() compares the prompt with input_ids
        llm.input_ids[: len(key)] = key
        llm.n_tokens = state.n_tokens
        llm._requires_eval = True


__all__ = ["CAPACITY", "MIN_PREFIX", "PrefixCache", "PrefixUse", "common_prefix"]
