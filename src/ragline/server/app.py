"""The ASGI app: :func:`create_app` wires settings, models, keys, routes and error mapping.

Everything heavy is built once per app and shared: a :class:`~ragline.api.Ragline` (store,
embedder, retriever), a :class:`~ragline.models.gateway.Gateway`, the API-key store. Tests
and embedders of the app pass their own (a gateway with a fake model, say); what the app
built itself it closes at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from ragline import __version__
from ragline.api import Ragline
from ragline.config import Settings, load_settings
from ragline.server import problems
from ragline.server.context import ServerContext
from ragline.server.limits import BodyLimitMiddleware
from ragline.server.review import ReviewFiles
from ragline.server.routes import ROUTERS
from ragline.store.keys_base import ApiKeyStore
from ragline.store.limits_base import LimitStore
from ragline.trace.redact import install_log_redaction

log = logging.getLogger("ragline.server")
STATIC = Path(__file__).with_name("static")

DESCRIPTION = """Talk to your documents over HTTP.

* **REST** under `/api`: collections, ingestion (file upload, JSON documents), search,
  grounded answers streamed as server-sent events, feedback.
* **OpenAI-compatible** under `/v1`: `models`, `chat/completions` (model `ragline:<collection>`
  answers from a collection with citations; other names go to the model gateway), `embeddings`.
* **Keys**: `Authorization: Bearer rl_…` once any key was created (`ragline keys create`),
  or always when listening beyond loopback. A key may be limited to models, requests and
  tokens per minute (429 with `Retry-After`) and a spend budget.
* **Errors** are `application/problem+json` (RFC 9457) with a `hint` saying what to fix.
"""


def create_app(
    settings: Settings | None = None,
    *,
    rag: Ragline | None = None,
    gateway: Any = None,
    keys: ApiKeyStore | None = None,
    limits: LimitStore | None = None,
    host: str | None = None,
    review: ReviewFiles | None = None,
) -> FastAPI:
    """The server app. Anything not given is built from ``settings`` (and closed with it).

    ``host`` is the address the server will listen on (default ``server.host``): the app
    answers without a key only on a loopback one, and only while no key was ever created
    (:func:`ragline.server.auth.server_open`). Whoever binds the socket may correct it
    (``ServerThread`` does). ``review`` serves ``/api/review`` (``server.review_dir``'s files,
    ``ragline.data.review.ReviewFolder``, a layer above: ``ragline serve`` passes it)."""
    settings = settings or (rag.settings if rag is not None else load_settings())
    owned: list[Any] = []
    if rag is None:
        rag = Ragline(settings)
        owned.append(rag)
    if gateway is None and hasattr(type(rag), "gateway"):
        gateway = rag.gateway  # the grounded-answer flow's own (traced) gateway
    elif gateway is not None and hasattr(type(rag), "gateway"):
        rag.gateway = gateway  # answers and pass-through share the injected models
    if gateway is None:
        from ragline.models.gateway import Gateway

        gateway = Gateway(settings)
        owned.append(gateway)
    if keys is None:
        from ragline.store.factory import open_keys

        keys = open_keys(settings)
        owned.append(keys)
    if limits is None:
        from ragline.store.factory import open_limits

        limits = open_limits(settings)
        owned.append(limits)
    ctx = ServerContext(
        settings=settings,
        rag=rag,
        gateway=gateway,
        keys=keys,
        limits=limits,
        listen_host=host or settings.server.host,
        review=review,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server.threads
        listen = getattr(rag, "listen_for_changes", None)
        if callable(listen):  # other replicas' ingests and deletes drop what we cached
            listen()
        live = getattr(getattr(rag, "tracer", None), "live_metrics", None)
        if callable(live):
            with contextlib.suppress(Exception):  # metrics are optional, serving is not
                live()
        try:
            yield
        finally:
            for thing in reversed(owned):
                with contextlib.suppress(Exception):
                    thing.close()

    app = FastAPI(
        title="ragline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from a PyPI package: FastAPI's default uses a CDN
        redoc_url=None,
    )
    app.state.ragline = ctx
    problems.install(app)
    install_log_redaction()  # ragline's and uvicorn's log records, access log included
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _offline_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        json_limit=settings.server.max_json_bytes,
        upload_limit=settings.server.max_upload_bytes,
    )
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.server.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "x-api-key", "content-type"],
        )
    return app


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` with its assets from the ``swagger-ui-bundle`` package, so the
    API browser works with no network (FastAPI's default page loads them from a CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.responses import HTMLResponse
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="ragline API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="data:,",  # no favicon request
        )


__all__ = ["create_app"]
