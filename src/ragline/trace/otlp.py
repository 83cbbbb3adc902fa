"""Export of traces over OTLP/HTTP (protobuf) to an OpenTelemetry collector.

:func:`encode` turns stored :class:`TraceRecord` s into an ``ExportTraceServiceRequest``
(ids, parentage and timestamps kept as recorded); GenAI spans are named ``chat {model}`` /
``embeddings {model}`` with kind CLIENT and carry the ``gen_ai.*`` attributes of the
OpenTelemetry GenAI semantic conventions, ragline's own attributes go under ``ragline.``.
Implicit feedback recorded with a trace becomes a span event on its root.

:class:`OtlpExporter` is a trace sink: it POSTs one request per batch from the tracer's
writer thread, retrying briefly on 429/5xx and connection errors, and counts failures
instead of raising into the application. Its HTTP transport is injectable.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ragline.errors import MissingDependencyError
from ragline.store.traces_base import TraceRecord
from ragline.trace import semconv as sc

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"


def _version() -> str:
    try:
        return importlib.metadata.version("ragline")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "0+unknown"


_RETRY_STATUS = frozenset({429, 502, 503, 504})


def _pb() -> Any:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2
        from opentelemetry.proto.trace.v1 import trace_pb2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "OTLP export needs the package opentelemetry-proto",
            hint="pip install opentelemetry-proto (a dependency of ragline)",
        ) from exc
    return trace_service_pb2, common_pb2, resource_pb2, trace_pb2


def _any_value(common: Any, value: Any) -> Any:
    if isinstance(value, bool):
        return common.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common.AnyValue(int_value=value)
    if isinstance(value, float):
        return common.AnyValue(double_value=value)
    if isinstance(value, str):
        return common.AnyValue(string_value=value)
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | bool | int | float) for v in value
    ):
        return common.AnyValue(
            array_value=common.ArrayValue(values=[_any_value(common, v) for v in value])
        )
    return common.AnyValue(string_value=json.dumps(value, ensure_ascii=False, default=str))


def _key_values(common: Any, attributes: Mapping[str, Any]) -> list[Any]:
    return [
        common.KeyValue(key=sc.otel_key(k), value=_any_value(common, v))
        for k, v in attributes.items()
        if v is not None
    ]


def encode(traces: Sequence[TraceRecord], *, service_name: str = "ragline") -> bytes:
    """An OTLP ``ExportTraceServiceRequest`` holding ``traces``, serialised."""
    service_pb, common, resource_pb, trace_pb = _pb()
    spans = []
    for t in traces:
        trace_id = bytes.fromhex(t.trace_id)
        for i, s in enumerate(t.spans):
            span = trace_pb.Span(
                trace_id=trace_id,
                span_id=bytes.fromhex(s.span_id),
                parent_span_id=bytes.fromhex(s.parent_id) if s.parent_id else b"",
                name=sc.otel_name(s.name, s.attributes),
                kind=(
                    trace_pb.Span.SPAN_KIND_CLIENT
                    if s.kind == "client"
                    else trace_pb.Span.SPAN_KIND_INTERNAL
                ),
                start_time_unix_nano=s.start_ns,
                end_time_unix_nano=max(s.end_ns, s.start_ns),
                attributes=_key_values(common, s.attributes),
            )
            if s.status == "error":
                span.status.code = trace_pb.Status.STATUS_CODE_ERROR
                span.status.message = s.error or ""
                if s.error:
                    span.attributes.append(
                        common.KeyValue(
                            key="error.type",
                            value=common.AnyValue(string_value=s.error.split(":", 1)[0]),
                        )
                    )
            if i == 0:
                for f in t.signals:
                    span.events.append(
                        trace_pb.Span.Event(
                            time_unix_nano=f.created_ns,
                            name=f"ragline.feedback.{f.kind}",
                            attributes=_key_values(
                                common,
                                {
                                    "feedback.trace_id": f.trace_id,
                                    "feedback.value": f.value,
                                    "feedback.source": f.source,
                                },
                            ),
                        )
                    )
            spans.append(span)
    resource = resource_pb.Resource(
        attributes=_key_values(
            common,
            {
                "service.name": service_name,
                "telemetry.sdk.name": "ragline",
                "telemetry.sdk.language": "python",
                "telemetry.sdk.version": _version(),
            },
        )
    )
    # Resource attributes are namespaced already: undo the ``ragline.`` prefixing.
    for kv in resource.attributes:
        kv.key = kv.key.removeprefix("ragline.")
    request = service_pb.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb.ResourceSpans(
                resource=resource,
                scope_spans=[
                    trace_pb.ScopeSpans(
                        scope=common.InstrumentationScope(name="ragline", version=_version()),
                        spans=spans,
                    )
                ],
            )
        ]
    )
    return request.SerializeToString()


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces`` (a full URL is kept)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


class OtlpExporter:
    """A trace sink that POSTs OTLP/HTTP protobuf to a collector."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        service_name: str = "ragline",
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = traces_url(endpoint)
        self.service_name = service_name
        self.retries = retries
        self.exported = 0
        self.failures = 0
        self._client = httpx.Client(
            timeout=timeout_s,
            transport=transport,
            headers={"Content-Type": "application/x-protobuf", **dict(headers or {})},
        )

    def __repr__(self) -> str:  # never show headers: they may hold credentials
        return f"OtlpExporter({self.url!r})"

    def export(self, traces: Sequence[TraceRecord]) -> None:
        if not traces:
            return
        body = encode(traces, service_name=self.service_name)
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(self.url, content=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    self.exported += len(traces)
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code not in _RETRY_STATUS:
                    break
            if attempt < self.retries:
                time.sleep(0.2 * 2**attempt)
        self.failures += len(traces)
        log.warning("OTLP export to %s failed (%s): %d traces lost", self.url, problem, len(traces))

    def close(self) -> None:
        self._client.close()


__all__ = ["OtlpExporter", "encode", "traces_url"]
