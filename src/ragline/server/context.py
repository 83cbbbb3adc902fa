"""What every request handler shares: the :class:`ServerContext` of one running server.

One :class:`~ragline.api.Ragline` (store, embedder, retriever — all thread-safe), one
gateway, the API-key store, the per-key limits, the address it listens on, and one
generation queue per kind of model: ``local`` for the
embedded llama.cpp model (one generation at a time) and ``remote`` for OpenAI-compatible
endpoints (``server.remote_concurrency`` at once).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from ragline.api import Ragline
from ragline.config import Settings
from ragline.models.gateway import EMBEDDED_NAMES
from ragline.server.queue import GenerationQueue
from ragline.store.keys_base import ApiKeyStore
from ragline.store.limits_base import LimitStore, MemoryLimitStore


def is_local_model(name: str) -> bool:
    """Whether ``name`` runs in this process (llama.cpp), so it must queue for the CPU
    (a local base with a LoRA adapter, ``smollm2-135m+NAME``, too)."""
    from ragline.models.adapters import EMBEDDED_BASE
    from ragline.models.local import LOCAL_MODELS

    head = name.partition(":")[0].partition("+")[0]
    local = head in EMBEDDED_NAMES or head == EMBEDDED_BASE or head in LOCAL_MODELS
    return local or name.startswith("llamacpp:")


@dataclass
class ServerContext:
    settings: Settings
    rag: Ragline
    gateway: Any  # a Gateway: ``stream``/``generate`` with ``model=``, ``resolve``, ``chain``
    keys: ApiKeyStore
    #: Each key's use of its limits (requests, tokens, spend): ``ragline.server.policy``.
    limits: LimitStore = field(default_factory=MemoryLimitStore)
    #: The address the server listens on: only a loopback one may serve without keys.
    #: Whoever binds the socket sets it (``ServerThread``, ``ragline serve``).
    listen_host: str = "127.0.0.1"
    #: Whether a key was ever created in the home (cached once true: the server is closed).
    keys_seen: bool = False
    queues: dict[str, GenerationQueue] = field(default_factory=dict)
    #: The last generations, newest last (``GenerationRecord``): what /metrics and tests read.
    history: deque[Any] = field(default_factory=lambda: deque(maxlen=256))
    started_at: float = field(default_factory=time.time)
    #: The review files of ``server.review_dir`` (a ``ragline.server.review.ReviewFiles``,
    #: passed to ``create_app(review=…)``); None: ``/api/review`` answers 404.
    review: Any = None

    def __post_init__(self) -> None:
        cfg = self.settings.server
        if not self.queues:
            self.queues = {
                "local": GenerationQueue(
                    "embedded",
                    concurrency=1,
                    max_waiting=cfg.max_queue,
                    timeout_s=cfg.queue_timeout_s,
                ),
                "remote": GenerationQueue(
                    "remote",
                    concurrency=cfg.remote_concurrency,
                    max_waiting=cfg.max_queue,
                    timeout_s=cfg.queue_timeout_s,
                    shared=self._shared_slots(),
                ),
            }

    def _shared_slots(self) -> Any:
        """The remote engine's cluster-wide slots (``redis.generation_slots``), or None."""
        cfg = self.settings.redis
        if not cfg.url or cfg.generation_slots is None:
            return None
        from ragline.store.redis_slots import RedisSlots

        return RedisSlots.from_settings(cfg, name="remote")

    @property
    def default_model(self) -> str:
        return str(self.settings.gateway.default_model)

    def queue_for(self, model: str | None) -> GenerationQueue:
        return self.queues["local" if is_local_model(model or self.default_model) else "remote"]

    @property
    def uploads_dir(self) -> Path:
        cfg = self.settings.server
        return Path(cfg.uploads_dir) if cfg.uploads_dir else Path(self.settings.home) / "uploads"


def get_context(request: Request) -> ServerContext:
    """FastAPI dependency: the running server's context."""
    return request.app.state.ragline


__all__ = ["ServerContext", "get_context", "is_local_model"]
