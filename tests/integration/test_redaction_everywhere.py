"""A request that carries an API key (in a header and in the question) and settings that hold
provider secrets: neither reaches the stored trace (the SQLite bytes), the OTLP export (the
bytes on the wire), the Prometheus exporter, the log, an error body, or an eval report.

Real parts throughout: uvicorn on 127.0.0.1, the SQLite store, an OTLP/HTTP receiver on
loopback; the chat model is the fake, since no answer text is needed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.server import create_app
from ragline.server.runner import ServerThread
from ragline.store.factory import open_keys, open_traces
from ragline.store.traces_base import TraceQuery
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import write_corpus
from ragline.testing.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.integration

INLINE_SECRET = "sk-inline-provider-secret-0123456789abcdef"
ENV_SECRET = "env-provider-secret-9876543210"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything ragline's and uvicorn's loggers emit, formatted as a handler prints it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(n) for n in ("ragline", "uvicorn", "uvicorn.access")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield out
    for lg, level in old:
        lg.removeHandler(handler)
        lg.setLevel(level)


def _assert_clean(name: str, data: bytes | str, secrets: list[str]) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for secret in secrets:
        assert secret.encode() not in raw, f"{name} contains {secret[:12]}…"


def test_no_key_or_provider_secret_leaves_the_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OtlpReceiver,
    log_output: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROVIDER_KEY", ENV_SECRET)
    home = tmp_path / "home"
    settings = load_settings(
        home=home,
        trace={"otlp_endpoint": receiver.endpoint, "flush_interval_s": 0.05},
        gateway={
            "endpoints": {
                "remote": {"base_url": "http://127.0.0.1:9/v1", "api_key": INLINE_SECRET},
                "other": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "PROVIDER_KEY"},
            }
        },
    )
    with Ragline(settings) as rag:
        rag.ingest([write_corpus(tmp_path / "corpus")], collection="docs")
    with closing(open_keys(settings)) as keys:
        key = keys.create_key("tester", "admin").secret
    secrets = [key, INLINE_SECRET, ENV_SECRET]

    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Venus [1]."])})
    app = create_app(settings, gateway=gateway)
    headers = {"Authorization": f"Bearer {key}", "Cookie": f"session={key}"}
    question = f"hottest planet? my key is {key}, the provider's {INLINE_SECRET} {ENV_SECRET}"
    with (
        ServerThread(app, log_level="info") as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=60) as client,
    ):
        r = client.post("/api/collections/docs/search", json={"query": question, "mode": "bm25"})
        assert r.status_code == 200, r.text
        # an error that echoes what it was given: the collection name is a secret
        errors = [
            client.post(f"/api/collections/{s}/search", json={"query": "x", "mode": "bm25"})
            for s in (key, INLINE_SECRET)
        ]
        # the access log records the query string
        assert client.get(f"/api/collections?api_key={key}").status_code == 200
        metrics = client.get("/metrics")
        tracer = app.state.ragline.rag.tracer
        assert tracer.flush(10)
    assert receiver.got.wait(10)

    # error bodies: the detail quoted the secret, and the quote was redacted
    for e in errors:
        assert e.status_code in (404, 422), e.text
        _assert_clean("an error body", e.text, secrets)
        assert "[REDACTED]" in e.text
    # the OTLP export, on the wire
    exported = b"".join(receiver.bodies)
    assert b"hottest planet" in exported
    _assert_clean("the OTLP export", exported, secrets)
    # the stored trace: the SQLite files themselves, and the trace as read back
    stored = b"".join(p.read_bytes() for p in home.glob("ragline.db*"))
    assert b"hottest planet" in stored
    _assert_clean("the SQLite store", stored, secrets)
    with closing(open_traces(settings)) as traces:
        summaries = traces.list_traces(TraceQuery(names=("search",), limit=5))
        trace = next(
            t
            for t in (traces.get_trace(s.trace_id) for s in summaries)
            if t is not None and "hottest" in str(t.summary.query)
        )
    dumped = json.dumps([s.attributes for s in trace.spans]) + str(trace.summary.query)
    assert "hottest planet" in dumped and "[REDACTED]" in dumped
    _assert_clean("the stored trace", dumped, secrets)
    # the Prometheus exporter
    assert metrics.status_code == 200, metrics.text
    _assert_clean("/metrics", metrics.text, secrets)
    # the log: ragline's records, and uvicorn's access lines as its own handlers print them
    printed = capfd.readouterr()
    logged = log_output.getvalue() + printed.out + printed.err
    assert "GET /api/collections?api_key=[REDACTED]" in logged, logged[-2000:]
    _assert_clean("the log", logged, secrets)


def test_logging_and_reports_use_the_one_redaction_function(tmp_path: Path, caplog) -> None:
    from ragline.evaluate.report import write_json
    from ragline.trace.redact import install_log_redaction, redact, redact_text

    load_settings(gateway={"endpoints": {"x": {"base_url": "http://h", "api_key": INLINE_SECRET}}})
    key = "rl_0123abcd_" + "A" * 43
    install_log_redaction()
    with caplog.at_level(logging.WARNING, logger="ragline.test"):
        try:
            raise RuntimeError(f"provider refused {INLINE_SECRET}")
        except RuntimeError:
            logging.getLogger("ragline.test").warning(
                "call with %s failed", {"Authorization": f"Bearer {key}"}, exc_info=True
            )
    text = caplog.text
    assert "call with" in text and "provider refused" in text
    _assert_clean("a log record with a traceback", text, [key, INLINE_SECRET])

    path = write_json(tmp_path / "report.json", {"question": f"{key} and {INLINE_SECRET}"})
    report = json.loads(path.read_text())  # still valid JSON
    assert report["question"] == "[REDACTED] and [REDACTED]"

    assert redact({"headers": {"X-API-Key": key, "x-auth-token": "abc12345"}}) == {
        "headers": {"X-API-Key": "[REDACTED]", "x-auth-token": "[REDACTED]"}
    }
    for line, kept in (
        (f"Authorization: Basic {'dXNlcjpwYXNzd29yZA=='}", "Authorization: "),
        ("Cookie: session=abcdef; theme=dark", "Cookie: "),
        ("Proxy-Authorization: Bearer abcdefgh12345", "Proxy-Authorization: "),
        ("db_password=hunter2hunter2", "db_password="),
    ):
        out = redact_text(line)
        assert out.startswith(kept) and "[REDACTED]" in out, out
    # ordinary text and token counts stay
    assert redact({"max_tokens": 12, "gen_ai.usage.input_tokens": 3}) == {
        "max_tokens": 12,
        "gen_ai.usage.input_tokens": 3,
    }
