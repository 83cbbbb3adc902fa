"""Function calling on BFCL v4 (simple, multiple, parallel, irrelevance) with local models.

Each case's user turn and its functions (BFCL documents turned into OpenAI-format tools by
:func:`ragline.evaluate.bfcl.openai_tools`) go through
:func:`ragline.agent.calling.call_functions` — grammar-constrained JSON on llama.cpp — and the
calls that come back (names mapped back to BFCL's) are scored by ragline's AST matcher
(:func:`ragline.evaluate.function_calls.check_calls`, which agrees with ``bfcl_eval``'s own
checker on every case: tests/unit/test_bfcl_matcher.py). The data are ``bfcl-eval``'s files.

The cases of each category are shuffled with ``--seed``; the first ``--holdout`` of each are
held out (for trying the pipeline; never reported), and the next ``--limit`` are run, in
shuffled order and round-robin over the categories, so a run stopped early has still scored
a random sample of each. Results are appended per case to
``benchmarks/results/agent_calling_cases.jsonl`` and a rerun skips the cases already there
(resumable); the summary (accuracy per model and category, Wilson 95% intervals, the sample
sizes) is printed and written to ``benchmarks/results/agent_calling.json``.

    python benchmarks/bench_agent_calling.py --model embedded          # 50 per category
    python benchmarks/bench_agent_calling.py --model qwen2.5-1.5b --until 07:30
    python benchmarks/bench_agent_calling.py --report          # summary of what is there
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, write_results
from ragline.evaluate.bfcl import CATEGORIES, BfclCase, load_bfcl, openai_tools, split_cases
from ragline.evaluate.function_calls import check_calls, wilson_interval

CASES_FILE = RESULTS / "agent_calling_cases.jsonl"
HOLDOUT_FILE = RESULTS / "agent_calling_holdout.jsonl"
IRRELEVANCE_FLOOR = 0.8  # issue 17: no call when no tool fits, with the larger local model
FLOOR_MODEL = "qwen2.5-1.5b"
#: Cases per category by default: the 135M model answers in seconds, the 1.5B in tens of
#: seconds (minutes when the two cores are shared).
DEFAULT_LIMITS = {"embedded": 50, "qwen2.5-1.5b": 25}


def done_cases(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(model, case id) → its record, from the JSONL of earlier runs (bad lines skipped)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            out[(row["model"], row["id"])] = row
        except (json.JSONDecodeError, KeyError):
            continue
    return out


def plan(
    seed: int, holdout: int, limit: int, categories: list[str], held_out: bool = False
) -> list[BfclCase]:
    """The cases to run, round-robin over ``categories``, each in its shuffled order (or
    the held-out ones, with ``held_out``)."""
    queues = []
    for category in categories:
        held, rest = split_cases(load_bfcl(category), seed=seed, holdout=holdout)
        queues.append((held if held_out else rest)[:limit])
    ordered: list[BfclCase] = []
    for i in range(max((len(q) for q in queues), default=0)):
        ordered.extend(q[i] for q in queues if i < len(q))
    return ordered


def run_case(model: Any, settings: Any, case: BfclCase) -> dict[str, Any]:
    """One case through ``call_functions`` (its ``function_calls`` twin, for the usage)."""
    from ragline.agent.calling import function_calls

    tools, names = openai_tools(case.functions)
    started = time.perf_counter()
    error = None
    calls: list[dict[str, Any]] = []
    tokens = None
    try:
        out = function_calls(model, case.request, tools, settings=settings)
        calls = [
            {"name": names.get(c.name, c.name), "arguments": dict(c.arguments)} for c in out.calls
        ]
        tokens = {"prompt": out.usage.prompt_tokens, "completion": out.usage.completion_tokens}
    except Exception as exc:  # one failed case never stops the run
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    verdict = check_calls(case.category, case.functions, calls, case.ground_truth)
    return {
        "id": case.id,
        "category": case.category,
        # an exception is a failure in every category (BFCL would count an undecodable
        # answer as "no call", a success for irrelevance: stricter here)
        "valid": verdict.valid and error is None,
        "kind": verdict.kind if error is None else "exception",
        "why": verdict.error if error is None else error[:500],
        "calls": calls,
        "tokens": tokens,
        "seconds": round(seconds, 3),
    }


def summarize(rows: list[dict[str, Any]], models: list[str] | None = None) -> dict[str, Any]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[(row["model"], row["category"])].append(row)
    out: dict[str, Any] = {}
    for model in models or sorted({m for m, _ in by}):
        per: dict[str, Any] = {}
        all_rows: list[dict[str, Any]] = []
        for category in CATEGORIES:
            rs = by.get((model, category), [])
            if not rs:
                continue
            all_rows += rs
            ok = sum(1 for r in rs if r["valid"])
            iv = wilson_interval(ok, len(rs))
            per[category] = {
                "accuracy": iv.mean,
                "low": iv.low,
                "high": iv.high,
                "n": iv.n,
                "correct": ok,
                "exceptions": sum(1 for r in rs if r["kind"] == "exception"),
                "failure_kinds": _counts(r["kind"] for r in rs if not r["valid"]),
                "median_seconds": sorted(r["seconds"] for r in rs)[len(rs) // 2],
            }
        if all_rows:
            ok = sum(1 for r in all_rows if r["valid"])
            iv = wilson_interval(ok, len(all_rows))
            per["all"] = {"accuracy": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}
            out[model] = per
    return out


def _counts(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item or "exception"] += 1
    return dict(sorted(counts.items()))


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| model | " + " | ".join(CATEGORIES) + " | all |",
        "|---|" + "---|" * (len(CATEGORIES) + 1),
    ]
    for model, per in summary.items():
        cells = []
        for category in (*CATEGORIES, "all"):
            c = per.get(category)
            cells.append(
                "–"
                if c is None
                else f"{c['accuracy']:.2f} [{c['low']:.2f}, {c['high']:.2f}] n={c['n']}"
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gate_scores(seed: int, holdout: int, categories: list[str]) -> dict[str, float]:
    """Case id → the relevance gate's probability, for every reported (not held-out) case of
    ``categories``: the gate needs no model, so all of them are scored."""
    from ragline.agent.calling import tool_definitions
    from ragline.agent.relevance import gate_for
    from ragline.config import load_settings

    gate = gate_for(load_settings())
    if gate is None:
        raise SystemExit("the relevance gate is off or another embedder is configured")
    out: dict[str, float] = {}
    for category in categories:
        _held, rest = split_cases(load_bfcl(category), seed=seed, holdout=holdout)
        for case in rest:
            tools, _names = openai_tools(case.functions)
            out[case.id] = gate.probability(case.request, tool_definitions(tools))
    return out


def gated(rows: list[dict[str, Any]], scores: dict[str, float], threshold: float) -> list[dict]:
    """The model's records as they are with the gate in front: a case the gate refuses gets
    no call (right for irrelevance, wrong elsewhere) and the model is not asked; the others
    keep the model's own result (the model's part is the same code either way)."""
    out = []
    for row in rows:
        p = scores.get(row["id"])
        if p is None:
            continue
        if p < threshold:
            ok = row["category"] == "irrelevance"
            row = {**row, "valid": ok, "kind": "" if ok else "gate", "calls": [], "seconds": 0.0}
        out.append(row)
    return out


def _tool_parameters(case: BfclCase) -> dict[str, dict[str, Any]]:
    """BFCL function name → its JSON-schema parameters, as the model was given them."""
    tools, names = openai_tools(case.functions)
    return {names[t["function"]["name"]]: t["function"]["parameters"] for t in tools}


def grounding_check(rows: list[dict[str, Any]], cases: dict[str, BfclCase]) -> list[dict]:
    """The records as they are with ``tools.grounded_calls`` on: the calls whose required
    values the request does not contain are withheld (what ``function_calls`` does), and
    the rest is scored again by the same matcher."""
    from ragline.agent.grounding import ungrounded_calls

    out = []
    for row in rows:
        case = cases.get(row["id"])
        if case is None or not row["calls"] or row.get("kind") == "gate":
            out.append(row)
            continue
        missing = ungrounded_calls(
            [(c["name"], c["arguments"]) for c in row["calls"]],
            _tool_parameters(case),
            case.request,
        )
        kept = [c for c, m in zip(row["calls"], missing, strict=True) if not m]
        if len(kept) == len(row["calls"]):
            out.append(row)
            continue
        verdict = check_calls(case.category, case.functions, kept, case.ground_truth)
        out.append(
            {
                **row,
                "valid": verdict.valid,
                "kind": verdict.kind if kept else ("" if verdict.valid else "grounding"),
                "why": verdict.error,
                "calls": kept,
                "withheld": len(row["calls"]) - len(kept),
            }
        )
    return out


LIVE_RELEVANT = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")


def live_cases() -> dict[str, list[BfclCase]]:
    """BFCL's live categories with a fitting call (requests users contributed): where the
    grounding check's forms were worked out, before the reported categories were scored."""
    from ragline.evaluate.bfcl import _read_jsonl, bfcl_data_dir

    root = bfcl_data_dir()
    out: dict[str, list[BfclCase]] = {}
    for category in LIVE_RELEVANT:
        name = f"BFCL_v4_{category}.json"
        truth = {r["id"]: r["ground_truth"] for r in _read_jsonl(root / "possible_answer" / name)}
        out[category] = [
            BfclCase(
                r["id"],
                category,  # type: ignore[arg-type]
                tuple(r["question"][0]),
                tuple(r["function"]),
                tuple(truth[r["id"]]),
            )
            for r in _read_jsonl(root / name)
        ]
    return out


def grounding_alone(categories: dict[str, list[BfclCase]]) -> dict[str, Any]:
    """Per category: the share of cases whose ground-truth calls (each parameter's first
    accepted value) the grounding check would keep whole: its cost on correct calls."""
    from ragline.agent.grounding import RequestText, ungrounded

    per: dict[str, Any] = {}
    for category, cases in categories.items():
        kept = 0
        for case in cases:
            params = _tool_parameters(case)
            said = RequestText.of(case.request)
            ok = True
            for call in case.ground_truth:
                ((name, allowed),) = call.items()
                args = {k: next((v for v in vs if v != ""), None) for k, vs in allowed.items()}
                args = {k: v for k, v in args.items() if v is not None}
                if ungrounded(args, params.get(name, {}), said):
                    ok = False
            kept += ok
        iv = wilson_interval(kept, len(cases))
        per[category] = {"kept": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}
    return per


def gate_alone(scores: dict[str, float], threshold: float) -> dict[str, Any]:
    """Per category: the share of cases the gate lets through to the model (for irrelevance,
    the share it abstains on), over every reported case."""
    per: dict[str, Any] = {}
    for category in CATEGORIES:
        ps = [p for cid, p in scores.items() if _category_of(cid) == category]
        if not ps:
            continue
        if category == "irrelevance":
            ok = sum(1 for p in ps if p < threshold)
            key = "abstained"
        else:
            ok = sum(1 for p in ps if p >= threshold)
            key = "passed"
        iv = wilson_interval(ok, len(ps))
        per[category] = {key: iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}
    return per


def _category_of(case_id: str) -> str:
    for category in CATEGORIES:
        if case_id.startswith(category):
            return category
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="chat model (repeatable)")
    parser.add_argument(
        "--limit",
        type=int,
        help="cases per category (default: 50 for embedded, 25 for other models; about 45 "
        "minutes for both on 2 quiet cores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=int, default=10, help="held-out cases per category")
    parser.add_argument("--category", action="append", choices=CATEGORIES)
    parser.add_argument("--cases", type=Path, default=CASES_FILE, help="per-case JSONL")
    parser.add_argument("--report", action="store_true", help="only summarise the JSONL")
    parser.add_argument("--until", help="UTC HH:MM: start no case after it (the run resumes later)")
    parser.add_argument(
        "--try-holdout",
        action="store_true",
        help="run the held-out cases instead (to try the pipeline; written to "
        "agent_calling_holdout.jsonl, never reported)",
    )
    args = parser.parse_args()
    os.environ.setdefault("RAGLINE_HOME", tempfile.mkdtemp(prefix="ragline-bench-calling-"))
    categories = args.category or list(CATEGORIES)
    if args.try_holdout:
        args.cases = HOLDOUT_FILE

    if not args.report:
        for name in args.model or ["embedded"]:
            limit = args.limit or DEFAULT_LIMITS.get(name, 25)
            todo = plan(args.seed, args.holdout, limit, categories, args.try_holdout)
            done = done_cases(args.cases)
            todo = [c for c in todo if (name, c.id) not in done]
            print(f"{name}: {len(todo)} cases to run ({len(done)} records already)", flush=True)
            if not todo:
                continue
            model, settings = load_model(name)
            code = code_fingerprint()
            args.cases.parent.mkdir(parents=True, exist_ok=True)
            for i, case in enumerate(todo, 1):
                if args.until and time.strftime("%H:%M", time.gmtime()) >= args.until:
                    print(f"{args.until} UTC reached: stopping (rerun to resume)", flush=True)
                    break
                record = {"model": name, **run_case(model, settings, case), "code": code}
                with args.cases.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                mark = "ok " if record["valid"] else "NO "
                print(
                    f"[{i}/{len(todo)}] {mark}{case.id} {record['seconds']:.1f}s "
                    f"{record['kind']} {json.dumps(record['calls'])[:160]}",
                    flush=True,
                )

    rows = list(done_cases(args.cases).values())
    summary = summarize(rows)
    print()
    print("The model alone:")
    print(table(summary))
    from ragline.agent.relevance import shipped_model

    threshold = shipped_model().threshold
    scores = gate_scores(args.seed, args.holdout, categories)
    alone = gate_alone(scores, threshold)
    with_gate = summarize(gated(rows, scores, threshold))
    print(f"\nThe relevance gate alone (threshold {threshold}), every reported case:")
    print(json.dumps(alone, indent=1))
    print("\nThe model behind the gate (tools.relevance_gate):")
    print(table(with_gate))
    cases = {}
    reported: dict[str, list[BfclCase]] = {}
    for category in categories:
        _held, rest = split_cases(load_bfcl(category), seed=args.seed, holdout=args.holdout)
        cases.update((c.id, c) for c in rest)
        if category != "irrelevance":
            reported[category] = rest
    cost = grounding_alone(reported)
    live_cost = grounding_alone(live_cases())
    print("\nThe grounding check alone on the ground-truth calls (kept whole), reported cases:")
    print(json.dumps(cost, indent=1))
    print("... and on the live categories (where its forms were worked out):")
    print(json.dumps(live_cost, indent=1))
    both = summarize(grounding_check(gated(rows, scores, threshold), cases))
    print("\nThe model behind the gate and the grounding check (the defaults):")
    print(table(both))
    floor = both.get(FLOOR_MODEL, {}).get("irrelevance")
    payload = {
        "seed": args.seed,
        "holdout_per_category": args.holdout,
        "data": "bfcl-eval " + _bfcl_version(),
        "gateway": GATEWAY,
        "code": sorted({r.get("code", "?") for r in rows}),
        "summary": summary,
        "gate": {
            "threshold": threshold,
            "fitted_on": shipped_model().meta.get("fitted_on"),
            "alone": alone,
        },
        "summary_with_gate": with_gate,
        "grounding": {"ground_truth_kept": cost, "live_ground_truth_kept": live_cost},
        "summary_with_gate_and_grounding": both,
        "irrelevance_floor": {
            "model": FLOOR_MODEL,
            "floor": IRRELEVANCE_FLOOR,
            "result": floor,
            "with": "the relevance gate and the grounding check (the defaults)",
        },
    }
    if args.try_holdout:
        return
    write_results("agent_calling", payload)
    if floor is not None and floor["accuracy"] < IRRELEVANCE_FLOOR:
        print(f"FAIL: irrelevance {floor['accuracy']:.2f} < {IRRELEVANCE_FLOOR} ({FLOOR_MODEL})")


def _bfcl_version() -> str:
    from importlib.metadata import version

    return version("bfcl-eval")


#: The gateway settings of the runs, beside the model name. ``tools.*`` (prompt, temperature
#: 0, max tokens, re-asks) stay at their defaults: that is what is measured. On two shared,
#: busy cores a 1.5B answer can take minutes, so the 60 s timeout and its retries (meant for
#: stalled servers) would only redo the same work.
GATEWAY = {"timeout_s": 900.0, "max_retries": 0}


def load_model(name: str) -> tuple[Any, Any]:
    """The gateway on ``name`` (loaded once: a name per call would reload the model)."""
    from ragline.config import Settings
    from ragline.models.gateway import Gateway

    # The model alone: the relevance gate and the grounding check are applied in the
    # report, to every record (the gate scored on every case), so one set of model runs
    # gives every figure.
    settings = Settings(
        gateway={"default_model": name, **GATEWAY},
        tools={"relevance_gate": False, "grounded_calls": False},
    )
    return Gateway(settings), settings


def code_fingerprint() -> str:
    """sha256 (12 hex) of the code and prompt under test: calling.py, structured.py and the
    function-call prompt file, as imported."""
    import hashlib

    import ragline.agent.calling as calling
    import ragline.models.structured as structured

    digest = hashlib.sha256()
    prompts = Path(structured.__file__).resolve().parents[1] / "prompts" / "shipped"
    for path in (
        Path(calling.__file__),
        Path(structured.__file__),
        *sorted(prompts.glob("function_call*")),
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


if __name__ == "__main__":
    main()
