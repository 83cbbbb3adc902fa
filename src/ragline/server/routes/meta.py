"""Health, identity, metrics and the web UI.

``GET /healthz`` (no key needed), ``GET /api/me`` (what the caller's key allows),
``GET /metrics`` (Prometheus text: the tracer's request metrics when tracing offers them,
plus the server's queues), ``GET /`` (the web UI; static files under ``/static``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, PlainTextResponse

from ragline import __version__
from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.schemas import WhoAmI, problems

router = APIRouter()
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", tags=["meta"])
async def healthz(ctx: ServerContext = Depends(get_context)) -> dict[str, Any]:
    """Liveness: answers without a key."""
    return {"status": "ok", "version": __version__}


@router.get("/api/me", response_model=WhoAmI, tags=["meta"], responses=problems(401, 403))
async def whoami(principal: Principal = Depends(need("read"))) -> dict[str, Any]:
    """The caller's key: role and collections (an open server: admin of everything)."""
    key = principal.key
    if key is None:
        return {"auth": False, "key_id": None, "role": "admin", "collections": ["*"]}
    return {"auth": True, "key_id": key.id, "role": key.role, "collections": list(key.collections)}


def server_metrics(ctx: ServerContext) -> str:
    """The server's own gauges and counters, in the Prometheus text format."""
    lines = []
    gauges = {
        "ragline_server_queue_active": ("generations running", "active"),
        "ragline_server_queue_waiting": ("requests waiting for a generation slot", "waiting"),
    }
    counters = {
        "ragline_server_generations_total": ("generations finished", "served"),
        "ragline_server_rejected_full_total": (
            "requests refused: queue full (429)",
            "rejected_full",
        ),
        "ragline_server_rejected_timeout_total": (
            "requests refused: waited too long (503)",
            "rejected_timeout",
        ),
        "ragline_server_cancelled_total": ("generations stopped by a disconnect", "cancelled"),
    }
    for kind, table in (("gauge", gauges), ("counter", counters)):
        for metric, (help_text, attr) in table.items():
            lines.append(f"# HELP {metric} {help_text}")
            lines.append(f"# TYPE {metric} {kind}")
            for name, queue in ctx.queues.items():
                lines.append(f'{metric}{{queue="{name}"}} {getattr(queue.stats, attr)}')
    return "\n".join(lines) + "\n"


@router.get(
    "/metrics", response_class=PlainTextResponse, tags=["meta"], responses=problems(401, 403)
)
async def metrics(
    principal: Principal = Depends(need("read")), ctx: ServerContext = Depends(get_context)
) -> PlainTextResponse:
    """Prometheus metrics: traced request latency, TTFT, tokens, cost; queue depth."""
    text = ""
    live = getattr(getattr(ctx.rag, "tracer", None), "live_metrics", None)
    if callable(live):
        text = live().render().decode()
    return PlainTextResponse(text + server_metrics(ctx), media_type=PROMETHEUS_TEXT)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    page = resources.files("ragline.server").joinpath("static/index.html").read_text("utf-8")
    return HTMLResponse(page, headers={"cache-control": "no-cache"})
