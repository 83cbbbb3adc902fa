"""A run whose process dies mid-way goes on from its checkpoint: the steps that finished are
not run again, the one that was running is, and the run ends with its answer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ragline.agent.run import AgentRunner
from ragline.agent.tools import ToolRegistry
from ragline.config import load_settings
from ragline.store.sqlite_agent import SQLiteAgentRunStore
from ragline.testing.agent_fakes import ScriptedModel, plan

TOOLS = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from ragline.agent.tools import ToolRegistry

    def tools(folder: Path) -> ToolRegistry:
        def count(label: str) -> dict:
            '''Count a call.

            Args:
                label: a label
            '''
            with open(folder / "count.txt", "a") as f:
                f.write(label + "\\n")
            return {"counted": label}

        def crash(label: str) -> dict:
            '''Kill the process the first time.

            Args:
                label: a label
            '''
            marker = folder / "crashed"
            if not marker.exists():
                marker.write_text("1")
                os._exit(3)
            return {"survived": label}

        reg = ToolRegistry()
        reg.register(count)
        reg.register(crash)
        return reg
    """
)


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "crashtools.py").write_text(TOOLS)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(tmp_path)!r})
        from crashtools import tools
        from ragline.agent.run import AgentRunner
        from ragline.config import load_settings
        from ragline.store.sqlite_agent import SQLiteAgentRunStore
        from ragline.testing.agent_fakes import ScriptedModel, plan, step

        folder = Path({str(tmp_path)!r})
        model = ScriptedModel([plan(step("s1", "count", label="a"),
                                    step("s2", "crash", ["s1"], label="b"))])
        runner = AgentRunner(load_settings(home=folder), gateway=model, registry=tools(folder),
                             store=SQLiteAgentRunStore(folder / "ragline.db"))
        runner.run("count then crash", run_id="rcrash")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert proc.returncode == 3  # died inside step s2
    store = SQLiteAgentRunStore(tmp_path / "ragline.db")
    try:
        record = store.load_run("rcrash")
        assert record is not None and record.status == "running"
        steps = {s["id"]: s["status"] for s in record.state["steps"]}
        assert steps == {"s1": "ok", "s2": "running"}

        sys.path.insert(0, str(tmp_path))
        try:
            from crashtools import tools  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(tmp_path))
        registry: ToolRegistry = tools(tmp_path)
        model = ScriptedModel([plan(answer="counted a, b survived")])
        runner = AgentRunner(
            load_settings(home=tmp_path), gateway=model, registry=registry, store=store
        )
        outcome = runner.resume_to_end("rcrash")
        assert outcome.status == "done" and outcome.answer == "counted a, b survived"
        assert (tmp_path / "count.txt").read_text().split() == ["a"]  # s1 not run again
        assert {s["step"]: s["status"] for s in outcome.steps} == {"s1": "ok", "s2": "ok"}
        assert outcome.used["steps"] == 3  # s1, s2 (killed), s2 again: all counted
    finally:
        store.close()


def test_a_side_effect_step_killed_mid_way_is_not_run_again(tmp_path: Path) -> None:
    from ragline.agent.state import Runner, RunState, StepState
    from ragline.testing.agent_fakes import fault_tools

    calls: dict[str, int] = {}
    store = SQLiteAgentRunStore(tmp_path / "ragline.db")
    try:
        state = RunState(
            id="rse",
            task="email",
            phase="execute",
            tools=["send_email"],
            budgets={"max_steps": 5, "max_seconds": 30, "max_tokens": 5000, "max_spend": None},
            steps=[
                StepState(
                    id="s1",
                    tool="send_email",
                    arguments={"to": "x", "body": "y"},
                    side_effects=True,
                    approved=True,
                    status="running",
                    seq=1,
                )
            ],
            runner=Runner(host="", pid=0),
        )
        model = ScriptedModel([plan(answer="check the outbox")])
        runner = AgentRunner(
            load_settings(home=tmp_path), gateway=model, registry=fault_tools(calls), store=store
        )
        runner._save(state)
        outcome = runner.resume_to_end("rse")
        assert calls == {}
        assert (
            outcome.steps[0]["status"] == "error" and "not run again" in outcome.steps[0]["error"]
        )
        assert outcome.status == "done"
    finally:
        store.close()
