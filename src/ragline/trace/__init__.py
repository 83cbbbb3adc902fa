"""Observability: traces of every request, metrics, drift, OTLP export.

:func:`open_tracer` builds the tracer that :class:`ragline.api.Ragline` uses from
``settings.trace``: traces go to the trace store (same SQLite file) and to an OTLP collector
when ``otlp_endpoint`` is set; ``tracer.live_metrics()`` adds Prometheus metrics (a server
mounts its ``asgi_app()`` at ``/metrics``). Old traces are pruned in the background after
``retention_days``. The gateway is traced by passing the tracer: ``Gateway(settings,
tracer=rag.tracer)``; an answer or chat turn opens ``rag.tracer.trace("ask", ...)`` and
everything it calls nests inside (see ``semconv`` for span and attribute names).

Modules: ``tracer`` (spans, the no-op tracer), ``records`` (summary), ``redact`` (secrets and
PII), ``writer`` (background queue), ``otlp`` (export), ``metrics`` (percentiles, goodput),
``prometheus`` (``/metrics``), ``drift`` (window comparison), ``genai`` (chat-model hooks),
``windows`` (``7d``, ``30d..7d``), ``semconv`` (span and attribute names).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.store.traces_base import TraceRecord, TraceStore
    from ragline.trace.redact import Redactor
    from ragline.trace.tracer import (
        NOOP_SPAN,
        NOOP_TRACER,
        AnySpan,
        AnyTracer,
        NoopTracer,
        Span,
        Tracer,
        TraceSink,
        current_span,
    )

# Loaded on first use, so that ``ragline.trace.redact`` (which the CLI installs for its log
# records) does not pull in the tracer, numpy and the stores.
_LAZY = {
    **dict.fromkeys(
        (
            "NOOP_SPAN",
            "NOOP_TRACER",
            "AnySpan",
            "AnyTracer",
            "NoopTracer",
            "Span",
            "Tracer",
            "TraceSink",
            "current_span",
        ),
        "ragline.trace.tracer",
    ),
    "Redactor": "ragline.trace.redact",
    "configured_secrets": "ragline.trace.redact",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragline.trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class StoreSink:
    """Writes traces to a trace store, opened lazily on the writer thread."""

    def __init__(self, store: Callable[[], TraceStore]) -> None:
        self._factory = store
        self._store: TraceStore | None = None

    @property
    def store(self) -> TraceStore:
        if self._store is None:
            self._store = self._factory()
        return self._store

    def export(self, traces: Sequence[TraceRecord]) -> None:
        self.store.write_traces(traces)

    def close(self) -> None:  # the store belongs to whoever made the factory
        pass


def open_tracer(
    settings: Settings,
    store: Callable[[], TraceStore],
    *,
    extra_sinks: Sequence[TraceSink] = (),
) -> AnyTracer:
    """The tracer ``settings.trace`` describes (the no-op tracer when disabled)."""
    from ragline.trace.redact import Redactor, configured_secrets, install_log_redaction
    from ragline.trace.tracer import NOOP_TRACER, Tracer

    install_log_redaction()
    cfg = settings.trace
    if not cfg.enabled:
        return NOOP_TRACER
    store_sink = StoreSink(store)
    sinks: list[TraceSink] = [store_sink, *extra_sinks]
    if cfg.otlp_endpoint:
        from ragline.trace.otlp import OtlpExporter

        sinks.append(
            OtlpExporter(
                cfg.otlp_endpoint,
                headers={k: v.get_secret_value() for k, v in cfg.otlp_headers.items()},
                timeout_s=cfg.otlp_timeout_s,
                service_name=cfg.service_name,
            )
        )
    redactor = Redactor(
        redact_pii=cfg.redact_pii,
        max_text_chars=cfg.max_text_chars,
        capture_text=cfg.capture_text,
        secrets=configured_secrets(settings),
    )

    def prune() -> None:
        store_sink.store.prune(time.time_ns() - int(cfg.retention_days * 86400e9))

    return Tracer(cfg, sinks, redactor=redactor, periodic=prune)


__all__ = [
    "NOOP_SPAN",
    "NOOP_TRACER",
    "AnySpan",
    "AnyTracer",
    "NoopTracer",
    "Redactor",
    "Span",
    "StoreSink",
    "TraceSink",
    "Tracer",
    "current_span",
    "open_tracer",
]
