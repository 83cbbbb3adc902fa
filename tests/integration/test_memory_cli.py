"""``ragline memory list|forget|users`` on a real store: a user's facts with their history,
JSON output, forgetting one fact (with the values it replaced) or all, another user's facts
untouched, and clear errors."""

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
from ragline.store.factory import open_memory
from ragline.store.memory_base import FactSource

pytestmark = pytest.mark.integration
runner = CliRunner()


def _remember(user: str, key: str, value: str) -> str:
    store = open_memory(load_settings())
    try:
        source = FactSource(f"my {key} is {value}", "c1", 0)
        return store.remember(
            user, key=key, value=value, statement=f"my {key} is {value}", source=source
        ).fact.id
    finally:
        store.close()


def test_list_and_forget(ragline_home: Path) -> None:
    paris = _remember("maya", "location", "Paris")
    lyon = _remember("maya", "location", "Lyon")
    _remember("maya", "car", "Clio")
    _remember("tom", "location", "Leeds")

    res = runner.invoke(app, ["memory", "list", "--user", "maya", "--json"])
    assert res.exit_code == 0, res.output
    assert [(f["value"], f["current"]) for f in json.loads(res.output)] == [
        ("Lyon", True),
        ("Clio", True),
    ]
    res = runner.invoke(app, ["memory", "list", "--user", "maya", "--history", "--json"])
    rows = json.loads(res.output)
    assert [(f["id"], f["superseded_by"]) for f in rows][:2] == [(paris, lyon), (lyon, None)]
    assert rows[0]["source"] == {
        "conversation_id": "c1",
        "turn_index": 0,
        "text": "my location is Paris",
        "at": rows[0]["source"]["at"],
    }
    res = runner.invoke(app, ["memory", "list", "--user", "maya", "--history"])
    assert res.exit_code == 0 and "Lyon" in res.output and "current" in res.output

    res = runner.invoke(app, ["memory", "forget", lyon, "--user", "maya", "--json"])
    assert json.loads(res.output) == {"user": "maya", "forgotten": 2}  # Lyon and Paris
    res = runner.invoke(app, ["memory", "users", "--json"])
    assert json.loads(res.output) == ["maya", "tom"]
    res = runner.invoke(app, ["memory", "forget", "--all", "--user", "maya"])
    assert res.exit_code == 0 and "forgot 1 fact" in res.output
    res = runner.invoke(app, ["memory", "list", "--user", "tom", "--json"])
    assert [f["value"] for f in json.loads(res.output)] == ["Leeds"]


def test_errors_are_clear(ragline_home: Path) -> None:
    env = {**os.environ, "RAGLINE_HOME": str(ragline_home), "COLUMNS": "200"}

    def ragline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from ragline.cli.main import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    done = ragline("memory", "forget", "m0000000000", "--user", "maya")
    assert done.returncode != 0 and "no remembered fact" in done.stderr
    done = ragline("memory", "forget", "--user", "maya")
    assert done.returncode != 0 and "name one fact id or --all" in done.stderr
