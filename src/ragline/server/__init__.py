"""The HTTP server of ragline: REST API, OpenAI-compatible API and the web UI.

``ragline serve`` runs :func:`create_app` under uvicorn. Modules:

* ``app`` — the app factory; ``context`` — what handlers share;
* ``routes/`` — one module per area (collections, ingest, search, ask, feedback, openai, meta);
* ``auth`` — API keys and roles; ``problems`` — every error to an RFC 9457 problem, in one place;
* ``queue`` / ``generation`` / ``streaming`` — the bounded generation queue, worker threads
  and server-sent events that stop the model when the client leaves;
* ``answering`` — the grounded answer as events; ``limits`` — body-size limits;
* ``runner`` — run the app (in the foreground, or in a thread for tests and benchmarks);
* ``static/`` — the web UI (plain HTML, CSS and JavaScript, no build step).
"""

from __future__ import annotations

from ragline.server.app import create_app

__all__ = ["create_app"]
