"""Tools and function calling with real parts: the embedded SmolLM2-135M constrained by the
grammar of the tools' schemas, the built-in search and read_document over a real collection,
and ``ragline tools call`` / ``tools list`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import require_smollm2
from ragline.agent.calling import function_calls, tool_definitions
from ragline.agent.tools import ToolRegistry
from ragline.api import Ragline
from ragline.cli.main import app as cli
from ragline.config import load_settings
from ragline.testing.live_server import write_corpus

pytestmark = pytest.mark.integration

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "name": "math.factorial",
        "description": "Factorial of a non-negative integer.",
        "parameters": {
            "type": "dict",
            "properties": {"n": {"type": "integer", "description": "the number"}},
            "required": ["n"],
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an e-mail to someone.",
            "parameters": {
                "type": "object",
                "properties": {
                    "to": {"type": "string", "description": "recipient address"},
                    "subject": {"type": "string"},
                    "body": {"type": "string"},
                },
                "required": ["to", "subject", "body"],
            },
        },
    },
]


def test_the_135m_model_emits_only_calls_that_exist_and_validate():
    require_smollm2()
    settings = load_settings(gateway={"default_model": "embedded"})
    tools = {t.name: t for t in tool_definitions(TOOLS)}
    requests = [
        "Compute the factorial of 7.",
        "What is the weather like in Tokyo in fahrenheit?",
    ]
    got = []
    for text in requests:
        out = function_calls("embedded", text, TOOLS, settings=settings)
        # valid on the first reply; a call with a value the request lacks is withheld
        # (tools.grounded_calls): the 135M model writes "to": "); " for an e-mail here
        assert out.via in ("grammar", "grounding") and len(out.attempts) == 1
        for call in [*out.calls, *(c for c, _ in out.withheld)]:
            assert call.name in tools
            tools[call.name].validate(call.arguments)  # raises if it does not validate
        got.append([c.to_dict() for c in out.calls])
    assert got[0] == [{"name": "math.factorial", "arguments": {"n": 7}}]
    # which tool, and whether any, is the model's choice (measured on BFCL by bench_agent.py)


def test_search_and_read_document_over_a_real_collection(tmp_path: Path):
    with Ragline() as rag:
        rag.ingest([write_corpus(tmp_path / "docs")], collection="docs")
        reg = ToolRegistry.default(
            rag.settings, collection="docs", retriever=rag.retriever, plugins=False
        )
        assert reg.names() == ["calculator", "now", "read_document", "search"]
        found = reg.call("search", {"query": "hottest planet", "k": 2})
        assert found.ok and len(found.output) == 2
        top = found.output[0]
        assert Path(top["source"]).name == "venus.md" and "Venus" in top["text"]
        doc = reg.call("read_document", {"doc_id": top["doc_id"]})
        assert doc.ok and "465 degrees Celsius" in doc.output["text"]
        assert doc.output["truncated"] is False
        missing = reg.call("read_document", {"doc_id": "no-such-doc"})
        assert missing.error_type == "ToolExecutionError" and "search result" in missing.error
        empty = reg.call("search", {"query": "  "})
        assert not empty.ok and "empty" in empty.error


def test_tools_call_cli_writes_one_record_per_line(tmp_path: Path):
    require_smollm2()
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "\n".join(
            [
                json.dumps({"id": "q1", "text": "Compute the factorial of 7."}),
                "{not json",
                json.dumps({"id": "q3"}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(
        cli,
        ["tools", "call", "--tools", str(tools), "--input", str(requests), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0] == {"id": "q1", "calls": [{"name": "math.factorial", "arguments": {"n": 7}}]}
    assert records[1]["id"] == "line 2" and "not JSON" in records[1]["error"]
    assert records[2]["id"] == "q3" and "no 'text'" in records[2]["error"]
    assert "1 with calls, 0 with none, 2 errors" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x", "parameters": {"type": "object", "properties": 1}}]))
    failed = CliRunner().invoke(
        cli, ["tools", "call", "--tools", str(bad), "--input", str(requests)]
    )
    assert failed.exit_code != 0 and "not a valid JSON schema" in str(failed.exception)

    listed = CliRunner().invoke(cli, ["tools", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = [t["name"] for t in json.loads(listed.output)["tools"]]
    assert {"calculator", "now", "search", "read_document"} <= set(names)
