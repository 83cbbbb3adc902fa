"""OTLP export to a real collector stand-in: an HTTP server on 127.0.0.1 that decodes
``ExportTraceServiceRequest`` protobufs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from conftest import REPO
from ragline.api import Ragline
from ragline.config import TraceSettings, load_settings
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.otlp_receiver import OtlpReceiver as Receiver
from ragline.trace import Tracer
from ragline.trace.otlp import OtlpExporter, encode, traces_url

pytestmark = pytest.mark.integration


class Reverse:
    """A reranker that reverses the fused order (something for the rerank span to time)."""

    name = "reverse"

    def rerank(self, query, hits, k):
        return [replace(h, rank=i + 1) for i, h in enumerate(reversed(hits[:k]))]


def attrs(span: Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(x, x.WhichOneof("value")) for x in v.array_value.values]
        else:
            out[kv.key] = getattr(v, kind)
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_search_and_gateway_traces_arrive_with_genai_conventions(tmp_path: Path, receiver):
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    settings = load_settings(
        trace={
            "otlp_endpoint": receiver.endpoint,
            "otlp_headers": {"authorization": "Bearer otlp-secret"},
            "flush_interval_s": 0.05,
            "service_name": "ragline-test",
        },
        gateway={"default_model": "fake:model"},
    )
    with Ragline(settings, reranker=Reverse()) as rag:
        rag.ingest([docs], collection="s")
        rag.search("how hot is Venus", collection="s", k=3)
        gw = Gateway(
            settings, models={"fake:model": FakeChatModel(["About 465 C."])}, tracer=rag.tracer
        )
        gw.generate("How hot is Venus?", temperature=0.0)
        assert rag.tracer.flush()
    assert receiver.headers[0]["authorization"] == "Bearer otlp-secret"
    assert receiver.headers[0]["Content-Type"] == "application/x-protobuf"
    resource = {
        kv.key: kv.value.string_value
        for kv in receiver.requests[0].resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "ragline-test"
    spans = receiver.spans()
    by_name = {s.name: s for s in spans}
    search = by_name["search"]
    assert search.parent_span_id == b"" and len(search.trace_id) == 16 and len(search.span_id) == 8
    for child in ("retrieve.bm25", "retrieve.dense", "fusion", "fetch", "rerank"):
        assert by_name[child].parent_span_id == search.span_id
        assert by_name[child].trace_id == search.trace_id
        assert search.start_time_unix_nano <= by_name[child].start_time_unix_nano
        assert by_name[child].end_time_unix_nano <= search.end_time_unix_nano
    assert attrs(by_name["rerank"])["ragline.reranker"] == "reverse"
    embed = by_name["embeddings all-MiniLM-L6-v2-onnx-int8"]
    assert (
        embed.kind == Span.SPAN_KIND_CLIENT
        and attrs(embed)["gen_ai.operation.name"] == "embeddings"
    )
    assert attrs(search)["ragline.query"] == "how hot is Venus"
    chat = by_name["chat fake:model"]
    a = attrs(chat)
    assert chat.kind == Span.SPAN_KIND_CLIENT and chat.parent_span_id == b""
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "fake:model"
    assert a["gen_ai.response.model"] == "fake:model" and a["gen_ai.request.temperature"] == 0.0
    assert a["gen_ai.usage.output_tokens"] == 3 and a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert "ragline.ttft_s" in a


def test_errors_and_feedback_events_are_encoded():
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [])
    records = []

    class Keep:
        def export(self, traces):
            records.extend(traces)

        def close(self):
            pass

    tracer.sinks.append(Keep())
    with pytest.raises(RuntimeError), tracer.trace("chat") as root:
        root.add_signal("early_stop", value=4.0)
        raise RuntimeError("model crashed")
    tracer.close()
    req = ExportTraceServiceRequest()
    req.ParseFromString(encode(records))
    (span,) = req.resource_spans[0].scope_spans[0].spans
    assert span.status.code == Status.STATUS_CODE_ERROR and "model crashed" in span.status.message
    assert attrs(span)["error.type"] == "RuntimeError"
    (event,) = span.events
    assert event.name == "ragline.feedback.early_stop"


def test_exporter_retries_transient_failures_then_gives_up_without_raising():
    with Receiver(fail_first=1) as flaky:
        exporter = OtlpExporter(flaky.endpoint, retries=2)
        tracer = Tracer(TraceSettings(flush_interval_s=0.01), [exporter])
        with tracer.trace("search", query="q"):
            pass
        assert tracer.flush(10)
        assert exporter.exported == 1 and exporter.failures == 0 and len(flaky.requests) == 1
        tracer.close()
    with Receiver(fail_first=10, status=400) as broken:
        exporter = OtlpExporter(broken.endpoint, retries=2)
        tracer = Tracer(TraceSettings(flush_interval_s=0.01), [exporter])
        with tracer.trace("search"):
            pass
        assert tracer.flush(10)
        assert exporter.failures == 1 and broken.fail_first == 9  # 4xx: not retried
        tracer.close()


def test_unreachable_collector_never_reaches_the_caller():
    exporter = OtlpExporter("http://127.0.0.1:9", retries=0, timeout_s=0.5)
    assert "secret" not in repr(OtlpExporter("http://x", headers={"authorization": "secret"}))
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [exporter])
    with tracer.trace("search"):
        pass
    assert tracer.flush(10) and exporter.failures == 1
    tracer.close()


def test_traces_url():
    assert traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert traces_url("http://h/custom/v1/traces") == "http://h/custom/v1/traces"
