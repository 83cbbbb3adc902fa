"""The server's routes, one module per area; :data:`ROUTERS` is what the app includes."""

from __future__ import annotations

from ragline.server.routes import (
    agent,
    ask,
    collections,
    feedback,
    handoff,
    ingest,
    memory,
    meta,
    openai,
    review,
    search,
)

ROUTERS = [
    meta.router,
    collections.router,
    ingest.router,
    search.router,
    ask.router,
    feedback.router,
    handoff.router,
    agent.router,
    memory.router,
    review.router,
    openai.router,
]

__all__ = ["ROUTERS"]
