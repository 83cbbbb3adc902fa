"""``ragline handoff list|show|reply|close`` on a real store: the operator's round trip, JSON
output, and clear errors (unknown id, empty reply, closed item, bad status) from the real
console entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragline.cli.main import app
from ragline.config import load_settings
from ragline.store.factory import open_handoffs
from ragline.store.handoff_base import HandoffItem

pytestmark = pytest.mark.integration
runner = CliRunner()


def _open(**kw) -> HandoffItem:
    store = open_handoffs(load_settings())
    try:
        return store.open_item(**kw)
    finally:
        store.close()


def _ragline(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point (errors -> message, hint and exit code), as a process."""
    return subprocess.run(
        [sys.executable, "-c", "from ragline.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "RAGLINE_HOME": str(home), "COLUMNS": "200"},
        timeout=120,
    )


def test_list_show_reply_close(ragline_home: Path) -> None:
    a = _open(
        question="Cancel my [bold]contract[/bold]",
        collection="docs",
        guard="topic",
        reason="topic guard: cancellations go to a person",
        trace_id="e" * 32,
    )
    b = _open(question="Second one", collection="docs")

    r = runner.invoke(app, ["handoff", "list"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert a.id in r.output and b.id in r.output
    assert r.output.index(b.id) < r.output.index(a.id)  # newest first
    assert "[bold]contract[/bold]" in r.output  # user text is shown, not read as markup

    r = runner.invoke(app, ["handoff", "reply", a.id, "We have cancelled it.", "--author", "ana"])
    assert r.exit_code == 0, r.output
    assert f"replied to {a.id} as ana (message 3)" in r.output

    r = runner.invoke(app, ["handoff", "show", a.id])
    assert r.exit_code == 0, r.output
    assert "answered" in r.output and "reason: topic guard: cancellations" in r.output
    assert "[3]" in r.output and "human (ana):" in r.output and "We have cancelled it." in r.output

    r = runner.invoke(app, ["handoff", "show", a.id, "--json"])
    shown = json.loads(r.output)
    assert shown["status"] == "answered" and shown["trace_id"] == "e" * 32
    assert [m["role"] for m in shown["messages"]] == ["user", "system", "human"]

    r = runner.invoke(app, ["handoff", "list", "--json"])
    assert [i["id"] for i in json.loads(r.output)] == [b.id]  # a is answered, not open
    r = runner.invoke(app, ["handoff", "list", "--status", "answered", "--json"])
    assert [i["id"] for i in json.loads(r.output)] == [a.id]

    r = runner.invoke(app, ["handoff", "close", a.id, "--resolution", "resolved"])
    assert r.exit_code == 0 and f"closed {a.id} (resolved)" in r.output
    r = runner.invoke(app, ["handoff", "list", "--status", "all", "--json"])
    assert {i["id"]: i["status"] for i in json.loads(r.output)} == {a.id: "closed", b.id: "open"}
    r = runner.invoke(app, ["handoff", "list", "--status", "all", "-c", "other", "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == []
    r = runner.invoke(app, ["handoff", "list", "--status", "closed"])
    assert a.id in r.output and b.id not in r.output


def test_clear_errors(ragline_home: Path) -> None:
    item = _open(question="q")
    r = _ragline("handoff", "show", "hnope", home=ragline_home)
    assert r.returncode == 1
    assert "no handoff item 'hnope'" in r.stderr and "ragline handoff list" in r.stderr
    r = _ragline("handoff", "reply", "hnope", "hello", home=ragline_home)
    assert r.returncode == 1 and "no handoff item 'hnope'" in r.stderr
    r = _ragline("handoff", "reply", item.id, "   ", home=ragline_home)
    assert r.returncode == 2 and "a reply needs some text" in r.stderr
    r = _ragline("handoff", "list", "--status", "pending", home=ragline_home)
    assert r.returncode == 2 and "unknown handoff status 'pending'" in r.stderr
    assert "open, answered, closed, all" in r.stderr
    assert _ragline("handoff", "close", item.id, home=ragline_home).returncode == 0
    r = _ragline("handoff", "reply", item.id, "too late", home=ragline_home)
    assert r.returncode == 1 and f"handoff item {item.id!r} is closed" in r.stderr
    r = _ragline("handoff", "list", home=ragline_home)
    assert r.returncode == 0 and "no open handoff items" in r.stdout


def test_help_names_every_command() -> None:
    r = runner.invoke(app, ["handoff", "--help"])
    assert r.exit_code == 0
    for name in ("list", "show", "reply", "close"):
        assert name in r.output
