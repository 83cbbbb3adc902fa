"""Plans checked before they run, and budgets a run-away model cannot overrun.

**Planted plans.** Random valid plans (1-6 steps over the built-in ``calculator`` and
``now`` and the test tools ``add``, ``echo``, ``send_email``; dependencies only on earlier
steps; references ``${sN}`` and ``{"$ref": …}`` to them) are drawn with a fixed seed; each
invalid plan is one of them with one planted fault of a kind: an unknown tool (a plausible
name: ``web_search``, ``python``…), a bad argument (wrong type, missing, extra), a cycle (a
step on itself, a back edge of 2 or more steps, a reference to a later step that depends on
it), a forbidden tool (``send_email`` is forbidden), a duplicate id, a dependency on no step,
a malformed id, too many steps. The valid plans are the controls: they must pass.
Each plan is checked by :func:`ragline.agent.plan.validate_plan` (detected: the planted
kind is among the problems), and each invalid plan is also fed to the whole loop through a
scripted model that writes it every turn: no tool may run.

**Run-away models** (``ragline.testing.agent_fakes``): one that plans one more step every
turn and never answers, one whose plans never pass their check, one that writes prose
without end; each under each budget (``max_steps``, ``max_seconds``, ``max_tokens``,
``max_spend``) at several limits, the other budgets out of the way. An overrun is a run
that used more than its limit (steps, tokens, USD), or that ended more than 0.25 s after
its ``max_seconds``.

    python benchmarks/bench_agent_plans.py [--per-kind 10] [--controls 30] [--seed 17]
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOOLS = ("calculator", "now", "add", "echo")
FORBIDDEN = "send_email"
UNKNOWN_NAMES = ("web_search", "python", "calc", "Calculator", "search_web", "send-mail", "")
KINDS = (
    "unknown_tool",
    "bad_arguments",
    "cycle",
    "forbidden_tool",
    "duplicate_id",
    "unknown_dependency",
    "bad_id",
    "too_many_steps",
)
MAX_STEPS = 6
SECONDS_GRACE = 0.25


def registry() -> Any:
    from ragline.agent.builtin_tools import calculator, now
    from ragline.testing.agent_fakes import fault_tools

    reg = fault_tools()
    reg.register(calculator)
    reg.register(now)
    return reg


def arguments(tool: str, rng: random.Random, earlier: list[str]) -> dict[str, Any]:
    ref = rng.choice(earlier) if earlier and rng.random() < 0.5 else None
    if tool == "calculator":
        expr = f"{rng.randint(1, 99)} * {rng.randint(1, 9)}"
        return {"expression": f"${{{ref}.result}} + 1" if ref else expr}
    if tool == "now":
        return rng.choice([{}, {"timezone": "UTC"}, {"timezone": "Europe/Paris"}])
    if tool == "add":
        a: Any = {"$ref": ref, "path": "sum"} if ref and rng.random() < 0.5 else rng.randint(0, 9)
        return {"a": a, "b": rng.random()}
    return {"text": f"saw ${{{ref}}}" if ref else rng.choice(["hello", "Lyon", "42"])}


def valid_plan(rng: random.Random) -> list[dict[str, Any]]:
    n = rng.randint(1, MAX_STEPS)
    steps: list[dict[str, Any]] = []
    for i in range(n):
        sid = f"s{i + 1}"
        earlier = [s["id"] for s in steps]
        tool = rng.choice(TOOLS)
        deps = sorted(rng.sample(earlier, k=rng.randint(0, min(2, len(earlier)))))
        steps.append(
            {
                "id": sid,
                "tool": tool,
                "arguments": arguments(tool, rng, earlier),
                "depends_on": deps,
            }
        )
    return steps


def plant(kind: str, steps: list[dict[str, Any]], rng: random.Random, variant: int) -> None:
    """Plant one fault of ``kind`` into ``steps`` (in place)."""
    pick = rng.choice(steps)
    if kind == "unknown_tool":
        pick["tool"] = UNKNOWN_NAMES[variant % len(UNKNOWN_NAMES)]
    elif kind == "forbidden_tool":
        pick["tool"], pick["arguments"] = FORBIDDEN, {"to": "bob@example.com", "body": "hi"}
    elif kind == "bad_arguments":
        target = rng.choice([s for s in steps])
        target["tool"] = rng.choice(("calculator", "add", "echo"))
        mode = variant % 3
        if target["tool"] == "calculator":
            args = [{"expression": 17}, {}, {"expression": "1+1", "precision": 3}][mode]
        elif target["tool"] == "add":
            args = [{"a": "one", "b": 2}, {"a": 1}, {"a": 1, "b": 2, "c": 3}][mode]
        else:
            args = [{"text": ["a", "b"]}, {}, {"text": "x", "loud": True}][mode]
        target["arguments"] = args
    elif kind == "cycle":
        mode = variant % 3
        if mode == 0 or len(steps) == 1:
            pick["depends_on"] = [*pick["depends_on"], pick["id"]]
        elif mode == 1:  # a back edge: an early step depends on a later one
            i, j = sorted(rng.sample(range(len(steps)), 2))
            steps[j]["depends_on"] = sorted({*steps[j]["depends_on"], steps[i]["id"]})
            steps[i]["depends_on"] = sorted({*steps[i]["depends_on"], steps[j]["id"]})
        else:  # through a reference: the earlier step refers to the later one
            i, j = sorted(rng.sample(range(len(steps)), 2))
            steps[j]["depends_on"] = sorted({*steps[j]["depends_on"], steps[i]["id"]})
            steps[i]["tool"], steps[i]["arguments"] = "echo", {"text": f"${{{steps[j]['id']}}}"}
    elif kind == "duplicate_id":
        if len(steps) == 1:
            steps.append(copy.deepcopy(steps[0]))
        else:
            a, b = rng.sample(steps, 2)
            b["id"] = a["id"]
    elif kind == "unknown_dependency":
        if variant % 2:
            pick["depends_on"] = [*pick["depends_on"], f"s{MAX_STEPS + 5}"]
        else:
            pick["tool"], pick["arguments"] = "echo", {"text": f"${{s{MAX_STEPS + 9}}}"}
    elif kind == "bad_id":
        pick["id"] = ["1st", "step one", "", "s/1", "x" * 40][variant % 5]
    elif kind == "too_many_steps":
        while len(steps) <= MAX_STEPS:
            steps.append(
                {
                    "id": f"s{len(steps) + 1}",
                    "tool": "echo",
                    "arguments": {"text": "more"},
                    "depends_on": [],
                }
            )
    else:
        raise ValueError(kind)


def bench_plans(per_kind: int, controls: int, seed: int, home: Path) -> dict[str, Any]:
    from ragline.agent.plan import Plan, PlanStep, validate_plan
    from ragline.agent.run import AgentRunner
    from ragline.config import load_settings
    from ragline.store.sqlite_agent import SQLiteAgentRunStore
    from ragline.testing.agent_fakes import ScriptedModel

    rng = random.Random(seed)
    reg = registry()
    planted: list[tuple[str, list[dict[str, Any]]]] = []
    for kind in KINDS:
        for v in range(per_kind):
            steps = valid_plan(rng)
            plant(kind, steps, rng, v)
            planted.append((kind, steps))
    valid = [valid_plan(rng) for _ in range(controls)]

    def check(steps: list[dict[str, Any]]) -> list[Any]:
        plan = Plan(steps=[PlanStep(**s) for s in steps])
        return validate_plan(plan, reg, forbidden={FORBIDDEN}, max_steps=MAX_STEPS)

    t0 = time.perf_counter()
    by_kind: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    missed: list[dict[str, Any]] = []
    for kind, steps in planted:
        found = {p.kind for p in check(steps)}
        by_kind[kind]["n"] += 1
        by_kind[kind]["detected"] += kind in found
        by_kind[kind]["flagged"] += bool(found)
        if kind not in found:
            missed.append({"kind": kind, "found": sorted(found), "steps": steps})
    false_alarms = [s for s in valid if check(s)]
    check_ms = (time.perf_counter() - t0) * 1000 / (len(planted) + len(valid))

    # the whole loop: a model that writes the invalid plan every turn runs no tool
    settings = load_settings(
        home=home,
        agent={"forbidden_tools": [FORBIDDEN], "max_plan_steps": MAX_STEPS, "plan_reasks": 1},
    )
    store = SQLiteAgentRunStore(home / "plans.db")
    calls: dict[str, int] = {}
    from ragline.testing.agent_fakes import fault_tools

    loop_reg = fault_tools(calls)
    from ragline.agent.builtin_tools import calculator, now

    loop_reg.register(calculator)
    loop_reg.register(now)
    import json

    ran_any = 0
    statuses: Counter[str] = Counter()
    for _, steps in planted:
        reply = json.dumps({"actions": steps, "answer": ""})
        model = ScriptedModel(lambda m, p, r=reply: r)
        runner = AgentRunner(settings, gateway=model, registry=loop_reg, store=store)
        before = sum(calls.values())
        outcome = runner.run("planted", tools=[*TOOLS])
        statuses[outcome.status] += 1
        ran_any += sum(calls.values()) > before
    ok_controls = 0
    for steps in valid:
        reply = json.dumps({"actions": steps, "answer": ""})
        model = ScriptedModel([reply, json.dumps({"actions": [], "answer": "done"})])
        runner = AgentRunner(settings, gateway=model, registry=loop_reg, store=store)
        ok_controls += runner.run("control", tools=[*TOOLS]).status == "done"
    store.close()
    invalid = len(planted)
    detected = sum(c["detected"] for c in by_kind.values())
    return {
        "invalid_plans": invalid,
        "detected": detected,
        "detection_rate": detected / invalid,
        "by_kind": {
            k: {"n": c["n"], "detected": c["detected"], "rate": c["detected"] / c["n"]}
            for k, c in by_kind.items()
        },
        "controls": len(valid),
        "controls_flagged": len(false_alarms),
        "check_ms_per_plan": round(check_ms, 4),
        "loop": {
            "invalid_plans_that_ran_a_tool": ran_any,
            "statuses": dict(statuses),
            "controls_done": ok_controls,
        },
        "missed": missed[:5],
    }


def bench_budgets(home: Path) -> dict[str, Any]:
    from ragline.agent.run import AgentRunner
    from ragline.config import load_settings
    from ragline.models.pricing import Price
    from ragline.store.sqlite_agent import SQLiteAgentRunStore
    from ragline.testing.agent_fakes import ScriptedModel, fault_tools, runaway

    cases = {
        "max_steps": [1, 3, 8, 25],
        "max_tokens": [300, 1_000, 4_000, 20_000],
        "max_spend": [0.0005, 0.002, 0.01, 0.05],
        "max_seconds": [0.3, 0.8, 1.5],
    }
    loose = {"max_steps": 10**6, "max_tokens": 10**9, "max_spend": None, "max_seconds": 600.0}
    store = SQLiteAgentRunStore(home / "budgets.db")
    rows = []
    for budget, limits in cases.items():
        for limit in limits:
            for kind in ("steps", "invalid", "long"):
                if budget == "max_steps" and kind != "steps":
                    continue  # only a model whose plans pass ever starts a step
                model = ScriptedModel(
                    runaway(kind),
                    price=Price(1.0, 4.0),
                    delay_s=0.02 if budget == "max_seconds" else 0.0,
                )
                agent = {
                    **loose,
                    budget: limit,
                    "reflection_rounds": 10**6,
                    "plan_reasks": 10**6,
                    "max_plan_steps": 2,
                }
                settings = load_settings(home=home, agent=agent)
                runner = AgentRunner(settings, gateway=model, registry=fault_tools(), store=store)
                t0 = time.perf_counter()
                outcome = runner.run("never ends", tools=["echo"])
                elapsed = time.perf_counter() - t0
                used = outcome.used
                over = {
                    "max_steps": used["steps"] > agent["max_steps"],
                    "max_tokens": used["tokens"] > agent["max_tokens"],
                    "max_spend": agent["max_spend"] is not None
                    and used["spend"] > agent["max_spend"] + 1e-12,
                    "max_seconds": elapsed > agent["max_seconds"] + SECONDS_GRACE,
                }
                rows.append(
                    {
                        "budget": budget,
                        "limit": limit,
                        "model": kind,
                        "status": outcome.status,
                        "stopped_by": None if outcome.stop is None else outcome.stop.budget,
                        "used": {
                            "steps": used["steps"],
                            "tokens": used["tokens"],
                            "spend": used["spend"],
                            "calls": used["calls"],
                        },
                        "elapsed_s": round(elapsed, 3),
                        "overrun": [k for k, v in over.items() if v],
                    }
                )
    store.close()
    return {
        "runs": len(rows),
        "overruns": sum(bool(r["overrun"]) for r in rows),
        "stopped_by_that_budget": sum(r["stopped_by"] == r["budget"] for r in rows),
        "worst_seconds_past_limit": round(
            max(
                (r["elapsed_s"] - r["limit"] for r in rows if r["budget"] == "max_seconds"),
                default=0.0,
            ),
            3,
        ),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--controls", type=int, default=30)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        plans = bench_plans(args.per_kind, args.controls, args.seed, home)
        budgets = bench_budgets(home)
    print(f"planted invalid plans: {plans['invalid_plans']} ({args.per_kind} per kind)")
    for kind, c in plans["by_kind"].items():
        print(f"  {kind:20s} {c['detected']:3d}/{c['n']:<3d} {c['rate']:.0%}")
    print(
        f"detection rate: {plans['detection_rate']:.1%}; valid controls flagged: "
        f"{plans['controls_flagged']}/{plans['controls']}; "
        f"{plans['check_ms_per_plan']:.3f} ms per check"
    )
    loop = plans["loop"]
    print(
        f"through the loop: invalid plans that ran a tool: "
        f"{loop['invalid_plans_that_ran_a_tool']}/{plans['invalid_plans']} "
        f"(statuses {loop['statuses']}); controls answered: "
        f"{loop['controls_done']}/{plans['controls']}"
    )
    print(
        f"\nrun-away models: {budgets['runs']} runs, overruns: {budgets['overruns']}, "
        f"stopped by the budget under test: {budgets['stopped_by_that_budget']}/"
        f"{budgets['runs']}, worst end past max_seconds: {budgets['worst_seconds_past_limit']} s"
    )
    print(f"  {'budget':12s} {'limit':>9s} {'model':8s} {'status':8s} {'by':12s} used")
    for r in budgets["rows"]:
        u = r["used"]
        print(
            f"  {r['budget']:12s} {r['limit']:>9g} {r['model']:8s} {r['status']:8s} "
            f"{r['stopped_by'] or '-':12s} steps={u['steps']} tokens={u['tokens']} "
            f"spend={u['spend']:.5f} calls={u['calls']} t={r['elapsed_s']}s"
            + (f"  OVERRUN {r['overrun']}" if r["overrun"] else "")
        )
    write_results(
        "agent_plans",
        {
            "seed": args.seed,
            "per_kind": args.per_kind,
            "plans": plans,
            "budgets": budgets,
        },
    )


if __name__ == "__main__":
    main()
