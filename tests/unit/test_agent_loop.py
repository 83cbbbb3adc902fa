"""The agent loop with a scripted model (fault injection): plans checked and re-asked,
steps in parallel, reflection after a failure, budgets that never overrun, approvals that
gate every side effect, refusals of forbidden tools, and checkpoints that resume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ragline.agent.events import ApprovalWaiting, BudgetStopped, PlanChecked, RunFinished
from ragline.agent.run import AgentRunner
from ragline.config import load_settings
from ragline.models.pricing import Price
from ragline.store.sqlite_agent import SQLiteAgentRunStore
from ragline.store.sqlite_handoff import SQLiteHandoffStore
from ragline.testing.agent_fakes import ScriptedModel, fault_tools, plan, runaway, step


@pytest.fixture
def env(tmp_path: Path):
    db = tmp_path / "ragline.db"
    runs = SQLiteAgentRunStore(db)
    inbox = SQLiteHandoffStore(db)
    calls: dict[str, int] = {}
    yield {
        "runs": runs,
        "inbox": inbox,
        "calls": calls,
        "tools": fault_tools(calls),
        "home": tmp_path,
    }
    runs.close()
    inbox.close()


def runner(env, model, **agent) -> AgentRunner:
    settings = load_settings(home=env["home"], agent={"max_seconds": 20, **agent})
    return AgentRunner(
        settings, gateway=model, registry=env["tools"], store=env["runs"], handoffs=env["inbox"]
    )


def test_plan_run_in_parallel_and_answer_with_sources(env) -> None:
    model = ScriptedModel(
        [
            plan(
                step("s1", "sleep", seconds=0.4),
                step("s2", "sleep", seconds=0.41),
                step("s3", "echo", ["s1"], text="slept ${s1.slept}"),
            ),
            plan(answer="Both waits took 0.4 s."),
        ]
    )
    t0 = time.perf_counter()
    events = list(runner(env, model).start("wait twice", tools=["sleep", "echo"]))
    elapsed = time.perf_counter() - t0
    outcome = events[-1].outcome
    assert outcome.status == "done" and outcome.answer == "Both waits took 0.4 s."
    assert elapsed < 0.75  # s1 and s2 ran at once
    assert [s["status"] for s in outcome.steps] == ["ok", "ok", "ok"]
    assert outcome.steps[2]["arguments"] == {"text": "slept 0.4"}
    assert outcome.sources == [{"source": "echo://slept 0.4", "step": "s3"}]
    assert outcome.used["steps"] == 3 and outcome.used["calls"] == 2
    # the second turn showed the model the results
    assert "s3 echo ->" in model.calls[1][-1]["content"]
    # the grammar offered only the run's tools
    schema = model.params[0].json_schema
    assert {
        option["properties"]["tool"]["const"]
        for option in schema["properties"]["actions"]["anyOf"][0]["prefixItems"][0]["anyOf"]
    } == {"sleep", "echo"}
    record = env["runs"].load_run(outcome.run_id)
    assert record.status == "done" and len(env["runs"].steps(outcome.run_id)) == 3


def test_an_invalid_plan_is_sent_back_with_its_problems(env) -> None:
    model = ScriptedModel(
        [
            plan(step("s1", "add", a="one", b=2)),
            plan(step("s1", "add", a=1, b=2)),
            plan(answer="3"),
        ]
    )
    events = list(runner(env, model).start("add 1 and 2"))
    checks = [e for e in events if isinstance(e, PlanChecked)]
    assert [c.ok for c in checks] == [False, True, True]
    assert checks[0].problems[0]["kind"] == "bad_arguments"
    assert "cannot run" in model.calls[1][-1]["content"] and "add" in model.calls[1][-1]["content"]
    assert events[-1].outcome.status == "done" and env["calls"] == {"add": 1}


def test_invalid_plans_forever_end_failed_after_the_reasks(env) -> None:
    model = ScriptedModel(runaway("invalid"))
    outcome = runner(env, model, plan_reasks=3).run("do it")
    assert (
        outcome.status == "failed" and "no plan passed its check after 3 re-asks" in outcome.reason
    )
    assert len(model.calls) == 4 and env["calls"] == {}


def test_a_failed_step_is_reflected_on_and_the_plan_revised(env) -> None:
    model = ScriptedModel(
        [
            plan(step("s1", "boom", text="x"), step("s2", "echo", ["s1"], text="${s1}")),
            plan(step("s3", "echo", text="fallback")),
            plan(answer="fallback worked"),
        ]
    )
    events = list(runner(env, model).start("try"))
    outcome = events[-1].outcome
    assert outcome.status == "done" and outcome.answer == "fallback worked"
    statuses = {s["step"]: s["status"] for s in outcome.steps}
    assert statuses == {"s1": "error", "s2": "skipped", "s3": "ok"}
    assert "s1 boom FAILED" in model.calls[1][-1]["content"]
    assert "disk is on fire" in model.calls[1][-1]["content"]


def test_hanging_and_non_json_tools_fail_clearly(env) -> None:
    model = ScriptedModel(
        [plan(step("s1", "hang", text="x"), step("s2", "opaque", text="y")), plan(answer="none")]
    )
    t0 = time.perf_counter()
    outcome = runner(env, model).run("try")
    assert time.perf_counter() - t0 < 3
    by_id = {s["step"]: s for s in outcome.steps}
    assert by_id["s1"]["status"] in ("error", "timeout") and "0.3" in by_id["s1"]["error"]
    assert by_id["s2"]["status"] == "error" and "not JSON" in by_id["s2"]["error"]


def test_a_forbidden_tool_asked_for_is_refused(env) -> None:
    model = ScriptedModel([])
    r = runner(env, model, forbidden_tools=["send_email"])
    outcome = r.run("email bob", tools=["send_email"])
    assert outcome.status == "refused" and "send_email" in outcome.reason
    assert model.calls == [] and env["calls"] == {}
    # and a model that insists on it
    model = ScriptedModel(lambda m, p: plan(step("s1", "send_email", to="b", body="x")))
    outcome = runner(env, model, forbidden_tools=["send_email"]).run("email bob")
    assert outcome.status == "refused" and "may not be used" in outcome.reason
    assert env["calls"] == {}


@pytest.mark.parametrize(
    ("budget", "value", "script"),
    [
        ("max_steps", 3, "steps"),
        ("max_tokens", 1500, "steps"),
        ("max_tokens", 900, "long"),
        ("max_spend", 0.002, "steps"),
        ("max_seconds", 0.6, "steps"),
    ],
)
def test_a_runaway_model_stops_on_each_budget_without_overrun(env, budget, value, script) -> None:
    model = ScriptedModel(
        runaway(script),
        price=Price(1.0, 2.0),
        delay_s=0.05 if budget == "max_seconds" else 0.0,
    )
    limits = {"max_steps": 1000, "max_tokens": 10**7, "max_spend": None, "max_seconds": 60.0}
    limits[budget] = value
    r = runner(env, model, reflection_rounds=10**6, plan_reasks=10**6, max_plan_steps=1, **limits)
    t0 = time.perf_counter()
    events = list(r.start("never ends", tools=["echo"]))
    elapsed = time.perf_counter() - t0
    outcome = events[-1].outcome
    assert outcome.status == "stopped" and outcome.stop.budget == budget, outcome.reason
    assert any(isinstance(e, BudgetStopped) for e in events)
    used = outcome.used
    assert used["steps"] <= limits["max_steps"]
    assert used["tokens"] <= limits["max_tokens"]
    if limits["max_spend"] is not None:
        assert used["spend"] <= limits["max_spend"]
    if budget == "max_seconds":
        assert elapsed < value + 0.5
    assert outcome.answer.startswith("No answer:")


def test_a_side_effect_step_waits_for_approval(env) -> None:
    script = [plan(step("s1", "send_email", to="bob@example.com", body="hi")), plan(answer="sent")]
    model = ScriptedModel(script)
    r = runner(env, model)
    events = list(r.start("email bob"))
    waiting = [e for e in events if isinstance(e, ApprovalWaiting)]
    outcome = events[-1].outcome
    assert outcome.status == "waiting" and len(waiting) == 1
    assert env["calls"] == {}  # nothing ran
    item = env["inbox"].get_item(waiting[0].handoff_id)
    assert item.kind == "approval" and item.details["run_id"] == outcome.run_id
    assert item.details["arguments"] == {"to": "bob@example.com", "body": "hi"}
    # resuming before a decision changes nothing
    again = r.resume_to_end(outcome.run_id)
    assert again.status == "waiting" and env["calls"] == {}
    # a reply that is no decision is still pending
    env["inbox"].reply(item.id, "let me check", author="ana")
    assert r.resume_to_end(outcome.run_id).status == "waiting"
    env["inbox"].reply(item.id, "Approved.", author="ana")
    done = r.resume_to_end(outcome.run_id)
    assert done.status == "done" and done.answer == "sent"
    assert env["calls"] == {"send_email": 1}
    closed = env["inbox"].get_item(item.id)
    assert closed.status == "closed" and closed.resolution == "approved"
    # resuming a finished run runs nothing again
    assert r.resume_to_end(outcome.run_id).status == "done" and env["calls"] == {"send_email": 1}


def test_a_rejected_step_stops_the_run(env) -> None:
    model = ScriptedModel([plan(step("s1", "send_email", to="x", body="y"))])
    r = runner(env, model)
    outcome = r.run("email")
    env["inbox"].close_item(outcome.waiting_for[0], author="ana", resolution="rejected")
    final = r.resume_to_end(outcome.run_id)
    assert final.status == "rejected" and "not approved" in final.reason
    assert env["calls"] == {}


def test_closing_without_a_decision_is_a_rejection(env) -> None:
    model = ScriptedModel([plan(step("s1", "send_email", to="x", body="y"))])
    r = runner(env, model)
    outcome = r.run("email")
    env["inbox"].close_item(outcome.waiting_for[0], author="ana")
    assert r.resume_to_end(outcome.run_id).status == "rejected" and env["calls"] == {}


def test_no_inbox_means_no_side_effect(env) -> None:
    settings = load_settings(home=env["home"])
    model = ScriptedModel([plan(step("s1", "send_email", to="x", body="y"))])
    r = AgentRunner(settings, gateway=model, registry=env["tools"], store=env["runs"])
    outcome = r.run("email")
    assert outcome.status == "rejected" and env["calls"] == {}


def test_events_end_with_the_outcome_and_unknown_runs_are_an_error(env) -> None:
    from ragline.errors import ResourceNotFoundError

    model = ScriptedModel([plan(answer="hello")])
    events = list(runner(env, model).start("say hello"))
    assert isinstance(events[-1], RunFinished) and events[0].kind == "agent_start"
    assert all(isinstance(e.to_dict(), dict) for e in events)
    with pytest.raises(ResourceNotFoundError):
        list(runner(env, model).resume("r000"))


def test_every_turn_check_step_approval_and_stop_is_a_span(env) -> None:
    from ragline.config import TraceSettings
    from ragline.testing.trace_conformance import ListSink
    from ragline.trace.tracer import Tracer

    sink = ListSink()
    tracer = Tracer(TraceSettings(), sinks=[sink])
    settings = load_settings(home=env["home"], agent={"max_steps": 2})
    model = ScriptedModel(
        [
            plan(step("s1", "add", a=1, b=2), step("s2", "send_email", to="x", body="y")),
        ]
    )
    r = AgentRunner(
        settings,
        gateway=model,
        registry=env["tools"],
        store=env["runs"],
        handoffs=env["inbox"],
        tracer=tracer,
    )
    first = r.run("add and email")
    env["inbox"].close_item(first.waiting_for[0], resolution="approved")
    model2 = ScriptedModel(runaway("steps"))
    r.gateway = model2
    second = r.resume_to_end(first.run_id)
    assert second.status == "stopped" and second.stop.budget == "max_steps"
    tracer.close()
    names = [[s.name for s in t.spans] for t in sink.traces]
    assert len(names) == 2  # one trace per drive of the run
    assert names[0][0] == "agent.run" and names[1][0] == "agent.run"
    for expected in ("agent.turn", "agent.check", "agent.step", "tool", "agent.approval"):
        assert expected in names[0], (expected, names[0])
    assert "agent.budget_stop" in names[1] and "agent.step" in names[1]
    root = sink.traces[1].spans[0]
    assert root.attributes["run_id"] == first.run_id and root.attributes["status"] == "stopped"


def test_two_resumes_of_one_approved_run_run_the_side_effect_once(env) -> None:
    import threading

    from ragline.errors import ConflictError

    model = ScriptedModel(
        lambda m, p: (
            plan(answer="sent")
            if "->" in m[-1]["content"]
            else plan(step("s1", "send_email", to="x", body="y"))
        )
    )
    r = runner(env, model)
    outcome = r.run("email")
    env["inbox"].close_item(outcome.waiting_for[0], resolution="approved")
    results: list[object] = []

    def resume() -> None:
        try:
            results.append(r.resume_to_end(outcome.run_id).status)
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert env["calls"] == {"send_email": 1}
    assert "done" in results


def test_a_model_that_fails_ends_the_run_failed_with_the_reason(env) -> None:
    from ragline.errors import ModelUnavailableError

    def broken(messages, params):
        raise ModelUnavailableError("the model server is down")

    outcome = runner(env, ScriptedModel(broken)).run("anything")
    assert outcome.status == "failed" and "the model server is down" in outcome.reason
    assert env["runs"].load_run(outcome.run_id).status == "failed"


def test_independent_steps_run_while_a_step_waits_and_the_approved_arguments_run(env) -> None:
    model = ScriptedModel(
        [
            plan(
                step("s1", "echo", text="hi"),
                step("s2", "send_email", ["s1"], to="x", body="${s1.text} there"),
                step("s3", "add", a=1, b=2),
            ),
            plan(answer="sent"),
        ]
    )
    r = runner(env, model)
    first = r.run("greet")
    assert first.status == "waiting" and env["calls"] == {"echo": 1, "add": 1}
    item = env["inbox"].get_item(first.waiting_for[0])
    assert item.details["arguments"] == {"to": "x", "body": "hi there"}
    env["inbox"].reply(item.id, "approve", author="ana")
    final = r.resume_to_end(first.run_id)
    assert final.status == "done" and env["calls"] == {"echo": 1, "add": 1, "send_email": 1}
    assert {s["step"]: s["arguments"] for s in final.steps}["s2"] == {"to": "x", "body": "hi there"}


def test_a_plan_that_only_repeats_steps_that_ran_leads_to_the_answer(env) -> None:
    model = ScriptedModel(
        [
            plan(step("s1", "echo", text="hi")),
            plan(step("s2", "echo", text="hi")),  # the same call again: no progress
            plan(answer="it said hi"),
        ]
    )
    outcome = runner(env, model).run("say hi")
    assert outcome.status == "done" and outcome.answer == "it said hi"
    assert env["calls"] == {"echo": 1}
    last = model.params[-1].json_schema
    assert last["properties"]["actions"] == {"const": []}  # the answer-only grammar
    assert "This is the last turn" in model.calls[-1][0]["content"]


def test_the_same_read_only_call_runs_once(env) -> None:
    model = ScriptedModel(
        [
            plan(step("s1", "sleep", seconds=0.2), step("s2", "sleep", seconds=0.2)),
            plan(answer="slept"),
        ]
    )
    outcome = runner(env, model).run("sleep twice")
    assert env["calls"] == {"sleep": 1}
    assert [s["status"] for s in outcome.steps] == ["ok", "ok"]
    assert outcome.used["steps"] == 1
