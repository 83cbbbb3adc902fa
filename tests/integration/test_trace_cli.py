"""Traces end to end: searches and gateway calls traced into the store, then read back with
``ragline traces``, ``ragline feedback`` and ``ragline stats --latency``."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.api import Ragline
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.errors import InvalidQueryError
from ragline.feedback.export import read_dataset
from ragline.models.gateway import Gateway
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.store.traces_base import TraceQuery
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.trace_conformance import make_trace

pytestmark = pytest.mark.integration
runner = CliRunner()


def cli(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_traces_feedback_and_latency_from_the_command_line(tmp_path: Path):
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    cli("ingest", str(docs), "-c", "s")
    cli("search", "how hot is Venus", "-c", "s", "-k", "2")
    cli("search", "espresso", "-c", "s", "--mode", "bm25")

    listed = json.loads(cli("traces", "--json"))
    assert [t["name"] for t in listed] == ["search", "search"]
    assert [t["query"] for t in listed] == ["espresso", "how hot is Venus"]
    hybrid_id = listed[1]["trace_id"]
    tree = cli("traces", hybrid_id[:8])
    for step in ("search", "embed", "retrieve.bm25", "retrieve.dense", "fusion", "fetch"):
        assert step in tree
    assert "rerank" not in tree  # no reranker configured: no step to time
    assert "retrieve.dense" not in cli("traces", listed[0]["trace_id"][:8])
    shown = json.loads(cli("traces", hybrid_id, "--json"))
    assert len(shown["spans"]) == 6 and shown["summary"]["has_embedding"] is True
    root = shown["spans"][0]["attributes"]
    assert root["hits"][0]["source"].endswith("solar-system.md") and root["results"] == 2
    assert json.loads(cli("traces", "--since", "1h", "--json", "-n", "1"))[0]["query"] == "espresso"
    assert json.loads(cli("traces", "--slow", "--json")) == [
        t for t in listed if t["duration_s"] >= 1.0
    ]
    table = cli("traces")
    assert "how hot is Venus" in table and hybrid_id[:12] in table

    out = cli("feedback", "add", hybrid_id[:10], "--down", "--rating", "2", "-m", "too vague")
    assert "recorded thumbs, rating, comment" in out
    kinds = [f["kind"] for f in json.loads(cli("feedback", "list", "--json"))]
    assert kinds == ["thumbs", "rating", "comment"]
    export = tmp_path / "out" / "feedback.jsonl"
    assert "wrote 1 judged answers" in cli("feedback", "export", "-o", str(export))
    (example,) = read_dataset(export)
    assert example.question == "how hot is Venus" and example.label == "negative"
    assert example.rating == 2 and example.contexts and example.collection == "s"

    for args in (["feedback", "add", "ffffffff", "--up"], ["traces", "ffffffff"]):
        bad = runner.invoke(app, args)  # main() maps the error to exit code 2
        assert isinstance(bad.exception, InvalidQueryError) and bad.exception.exit_code == 2
        assert "no trace" in bad.exception.message

    latency = json.loads(cli("stats", "--latency", "--json"))
    (row,) = latency["rows"]
    assert row["operation"] == "search" and row["requests"] == 2
    assert row["metrics"]["latency_s"]["p99"] >= row["metrics"]["latency_s"]["p50"] > 0
    assert "latency ms p50/p90/p95/p99" in cli("stats", "--latency")


def test_gateway_calls_feed_the_latency_table(tmp_path: Path):
    settings = load_settings(gateway={"default_model": "fake:model"})
    with Ragline(settings) as rag:
        gw = Gateway(
            settings,
            models={"fake:model": FakeChatModel(["one two three four five"], token_delay_s=0.002)},
            tracer=rag.tracer,
        )
        for _ in range(5):
            list(gw.stream("hello"))
        gw.generate("hello")
    report = json.loads(cli("stats", "--latency", "--json", "--since", "1h"))
    (row,) = report["rows"]
    assert (row["operation"], row["model"], row["requests"]) == ("generation", "fake:model", 6)
    assert row["metrics"]["ttft_s"]["count"] == 6 and row["metrics"]["tpot_s"]["count"] == 6
    assert row["goodput"] == 1.0 and row["output_tokens"] == 30
    assert row["metrics"]["tokens_per_s"]["p50"] > 0
    text = cli("stats", "--latency")
    assert "fake:model" in text and "100% of 6" in text


def test_retention_prunes_old_traces_and_tracing_can_be_off(tmp_path: Path, monkeypatch):
    settings = load_settings(trace={"retention_days": 7})
    store = SQLiteTraceStore(settings.database_path)
    old = time.time_ns() - 8 * 86400 * 10**9
    store.write_traces([make_trace("a" * 32, start_ns=old), make_trace("b" * 32)])
    with Ragline(settings) as rag:
        rag.tracer.trace("search").end()  # starts the writer, which prunes first
        assert rag.tracer.flush()
    ids = {t.trace_id for t in store.list_traces(TraceQuery())}
    assert "a" * 32 not in ids and "b" * 32 in ids

    monkeypatch.setenv("RAGLINE_TRACE__ENABLED", "false")
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    cli("ingest", str(docs), "-c", "s")
    cli("search", "espresso", "-c", "s", "--mode", "bm25")
    assert len(store.list_traces(TraceQuery())) == 2  # no new trace
    store.close()
