"""First-token time of the embedded engine with and without the prompt (KV) prefix cache.

The shipped prompts rendered as the answer flow renders them (``answer@v2`` or its family
variant, with three SQuAD passages and a question; ``rewrite@v1`` for a follow-up),
**alternating** answer and rewrite prompts, as a chat does (each follow-up is rewritten, then
answered): llama-cpp-python reuses only what its context still holds from the previous call,
so without the cache each prompt's fixed part is evaluated again; with it
(``gateway.prefix_cache``), the saved state of the fixed part is restored. Also the plain
case, answer prompts one after another, where llama.cpp's own reuse already applies. Greedy
decoding; the outputs of both runs are compared (they must be identical).

    python benchmarks/bench_prefix_cache.py [--questions 12] [--models embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any

from _common import percentile, write_results
from bench_qa import data_dir, load_questions

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def prompts(model: str, n: int) -> list[list[dict[str, str]]]:
    from ragline.config import load_settings
    from ragline.models.local import model_family
    from ragline.prompts import PromptRegistry

    settings = load_settings()
    registry = PromptRegistry.from_settings(settings)
    family = model_family(model, settings)
    answer = registry.for_family("answer@v2", family)
    rewrite = registry.for_family("rewrite@v1", family)
    corpus = {}
    for line in (data_dir() / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        corpus[row["_id"]] = row["text"]
    qs = [q for q in load_questions() if q["answerable"]][: n * 7 : 7]
    out = []
    for i, q in enumerate(qs):
        sentences = corpus[q["gold"]].split(". ")
        passages = "\n".join(f"[{k + 1}] {s[:300]}" for k, s in enumerate(sentences[:3]))
        out.append(answer.render(passages=passages, question=q["text"]))
        previous = qs[i - 1]["text"] if i else "What is this about?"
        out.append(rewrite.render(history=previous, question=f"and {q['text'][:40].lower()}?"))
    return out


def run(model: str, msgs: list[list[dict[str, str]]], cached: bool, skip: int) -> dict[str, Any]:
    from ragline.config import load_settings
    from ragline.models.chat import SamplingParams
    from ragline.models.gateway import Gateway

    settings = load_settings(gateway={"prefix_cache": cached})
    chat = Gateway(settings).resolve(model)
    loaded = chat.load()  # type: ignore[attr-defined]
    from ragline.models.prefix import PrefixCache

    loaded.prefixes = PrefixCache()
    loaded.llm.reset()
    p = SamplingParams(temperature=0.0, max_tokens=8, seed=1)
    chat.generate(msgs[0], p)  # warm-up
    loaded.llm.reset()
    loaded.prefixes = PrefixCache()
    ttft, texts = [], []
    for m in msgs:
        r = chat.generate(m, p)
        ttft.append(r.ttft_s * 1e3 if r.ttft_s is not None else float("nan"))
        texts.append(r.text)
    steady = ttft[skip:]  # after each prefix was seen twice (and, on, saved)
    return {
        "ttft_ms_p50": round(statistics.median(steady), 1),
        "ttft_ms_p95": round(percentile(steady, 95), 1),
        "ttft_ms_all": [round(t, 1) for t in ttft],
        "restored": loaded.prefixes.hits,
        "saved": loaded.prefixes.saves,
        "texts": texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--models", default="embedded")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "questions": args.questions,
        "load_average_at_start": os.getloadavg(),
        "models": {},
    }
    for model in args.models.split(","):
        msgs = prompts(model, args.questions)
        answers_only = msgs[::2]
        row: dict[str, Any] = {}
        for case, batch, skip in (("alternating", msgs, 4), ("answers_only", answers_only, 2)):
            off = run(model, batch, cached=False, skip=skip)
            on = run(model, batch, cached=True, skip=skip)
            row[case] = {
                "prompts": len(batch),
                "off": {k: v for k, v in off.items() if k != "texts"},
                "on": {k: v for k, v in on.items() if k != "texts"},
                "identical_output": off["texts"] == on["texts"],
                "ttft_p50_saved_ms": round(off["ttft_ms_p50"] - on["ttft_ms_p50"], 1),
            }
            print(model, case, json.dumps({k: v for k, v in row[case].items()}, default=str))
        results["models"][model] = row
    lines = [
        "| model | prompts | first token p50 off → on (ms) | identical output |",
        "|---|---|---|---|",
    ]
    for model, row in results["models"].items():
        for case, r in row.items():
            lines.append(
                f"| {model} | {case.replace('_', ' ')} ({r['prompts']}) | "
                f"{r['off']['ttft_ms_p50']} → {r['on']['ttft_ms_p50']} | {r['identical_output']} |"
            )
    md = "\n".join(lines)
    print(md)
    results["markdown"] = md
    write_results("prefix_cache", results)


if __name__ == "__main__":
    main()
