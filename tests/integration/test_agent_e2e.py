"""The agent end to end: the real embedded model (SmolLM2-135M, grammar-constrained) plans a
search over a real small collection from the CLI, the step runs, the answer comes with the
collection's sources, and the run is listed and shown; and the REST API runs, shows, lists
and resumes runs, each key seeing only its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from conftest import require_smollm2
from ragline.cli.main import app
from ragline.models.gateway import Gateway
from ragline.store.factory import open_keys
from ragline.testing.agent_fakes import plan, step
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def drinks(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "coffee.md").write_text(
        "# Coffee\nEspresso is brewed by forcing hot water through finely ground coffee at "
        "about 9 bar of pressure.\nA standard espresso shot takes 25 to 30 seconds to pull.\n"
    )
    (docs / "tea.md").write_text(
        "# Tea\nGreen tea should be brewed at 80 degrees Celsius for two to three minutes.\n"
    )
    return docs


def test_the_embedded_model_runs_a_search_plan_from_the_cli(
    drinks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_smollm2()
    monkeypatch.setenv("RAGLINE_AGENT__MAX_PLAN_STEPS", "1")
    monkeypatch.setenv("RAGLINE_AGENT__REFLECTION_ROUNDS", "0")
    monkeypatch.setenv("RAGLINE_AGENT__CALL_MAX_TOKENS", "96")
    res = runner.invoke(app, ["ingest", str(drinks), "-c", "drinks", "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "agent",
            "run",
            "How long does an espresso shot take to pull?",
            "-c",
            "drinks",
            "--tools",
            "search",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    # the grammar makes the first plan valid: one search step, run, then the answer turn
    assert out["status"] == "done", out
    assert [(s["tool"], s["status"]) for s in out["steps"]] == [("search", "ok")]
    assert out["answer"].strip()
    assert any(s["source"].endswith("coffee.md") for s in out["sources"])
    assert out["used"]["calls"] == 2 and out["used"]["tokens"] <= 12_000
    shown = runner.invoke(app, ["agent", "show", out["run_id"], "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["outcome"]["answer"] == out["answer"]
    listed = runner.invoke(app, ["agent", "list", "--json"])
    assert [r["id"] for r in json.loads(listed.output)] == [out["run_id"]]
    human = runner.invoke(app, ["agent", "show", out["run_id"]])
    assert "search ok" in human.output
    missing = runner.invoke(app, ["agent", "show", "rnope"])
    assert missing.exit_code != 0


def test_an_unknown_tool_is_a_clear_cli_error() -> None:
    res = runner.invoke(app, ["agent", "run", "x", "--tools", "teleport"])
    assert res.exit_code != 0
    assert "teleport" in str(res.exception) or "teleport" in res.output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    home = tmp_path / "home"
    settings = server_settings(home, trace={"enabled": False})
    keys = open_keys(settings)
    try:
        made = {n: keys.create_key(n, "read") for n in ("alice", "bob")}
    finally:
        keys.close()

    def reply(messages, params):  # plan a calculation, then answer from its result
        results = messages[-1]["content"]
        if "s1 calculator ->" in results:
            return plan(answer="It is 42.")
        return plan(step("s1", "calculator", expression="6 * 7"))

    gateway = Gateway(settings, models={"embedded": FakeChatModel(reply)})
    with running_server(settings, gateway=gateway) as live:
        yield live, {n: m.secret for n, m in made.items()}


def _call(live: LiveServer, method: str, path: str, key: str, **kw) -> httpx.Response:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        return c.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)


def test_runs_over_rest(server) -> None:
    live, keys = server
    res = _call(
        live,
        "POST",
        "/api/agent/runs",
        keys["alice"],
        json={"task": "six times seven", "tools": ["calculator"]},
    )
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["status"] == "done" and out["answer"] == "It is 42."
    assert out["steps"][0]["tool"] == "calculator" and out["steps"][0]["status"] == "ok"
    run_id = out["run_id"]
    got = _call(live, "GET", f"/api/agent/runs/{run_id}", keys["alice"])
    assert got.status_code == 200 and got.json()["log"][0]["data"]["output"]["result"] == 42
    assert _call(live, "GET", f"/api/agent/runs/{run_id}", keys["bob"]).status_code == 404
    assert [
        r["id"] for r in _call(live, "GET", "/api/agent/runs", keys["alice"]).json()["runs"]
    ] == [run_id]
    assert _call(live, "GET", "/api/agent/runs", keys["bob"]).json()["runs"] == []
    again = _call(live, "POST", f"/api/agent/runs/{run_id}/resume", keys["alice"])
    assert again.status_code == 200 and again.json()["status"] == "done"
    bad = _call(
        live, "POST", "/api/agent/runs", keys["alice"], json={"task": "x", "tools": ["teleport"]}
    )
    assert bad.status_code == 400 and "teleport" in bad.text
    streamed = _call(
        live,
        "POST",
        "/api/agent/runs",
        keys["alice"],
        json={"task": "again", "tools": ["calculator"], "stream": True},
    )
    kinds = [
        line[len("event: ") :] for line in streamed.text.splitlines() if line.startswith("event: ")
    ]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_done" and "agent_step" in kinds


@pytest.mark.parametrize("how", ["close", "reply"])
def test_a_person_approves_with_the_handoff_cli(how: str) -> None:
    from ragline.agent.run import AgentRunner
    from ragline.config import load_settings
    from ragline.store.factory import open_agent_runs, open_handoffs
    from ragline.testing.agent_fakes import ScriptedModel, fault_tools

    settings = load_settings()
    calls: dict[str, int] = {}
    runs, inbox = open_agent_runs(settings), open_handoffs(settings)
    try:
        model = ScriptedModel(
            [plan(step("s1", "send_email", to="bob@example.com", body="hi")), plan(answer="sent")]
        )
        agent = AgentRunner(
            settings, gateway=model, registry=fault_tools(calls), store=runs, handoffs=inbox
        )
        first = agent.run("email bob")
        assert first.status == "waiting" and calls == {}
        item_id = first.waiting_for[0]
        listed = runner.invoke(app, ["handoff", "list", "--kind", "approval", "--json"])
        assert [i["id"] for i in json.loads(listed.output)] == [item_id]
        shown = runner.invoke(app, ["handoff", "show", item_id])
        assert "send_email" in shown.output and first.run_id in shown.output
        if how == "close":
            res = runner.invoke(app, ["handoff", "close", item_id, "-r", "approved", "-a", "ana"])
        else:
            res = runner.invoke(app, ["handoff", "reply", item_id, "approve", "-a", "ana"])
        assert res.exit_code == 0, res.output
        final = agent.resume_to_end(first.run_id)
        assert final.status == "done" and calls == {"send_email": 1}
        assert inbox.get_item(item_id).resolution == "approved"
    finally:
        runs.close()
        inbox.close()
