"""Grounded answers: speed against llama.cpp called directly, and answer quality.

Documents: ``benchmarks/data/answers/docs`` (seven documents written for this benchmark about
real, checkable topics: md, txt, html and a three-page PDF) plus ``examples/sample``.
Questions: ``benchmarks/data/answers/questions.jsonl``, each with the facts a correct answer
contains (alternatives per fact; numbers compared without thousands separators) and the
document it comes from; the ``answerable: false`` ones are not answered by the documents.

1. Speed (the embedded SmolLM2-135M, greedy, the same ``max_tokens``): time to first token
   (TTFT) of ``Ragline.ask_stream`` — from the call, through retrieval, packing and the
   gateway, to the first draft token — against ``llama_cpp.Llama.create_completion`` (a
   second instance of the same GGUF, same threads and context) streaming the very prompt
   ragline built, in the same run, interleaved question by question, over several rounds.
   Ragline's sentence-vector cache is emptied before each of its calls (the cold path).
   The overhead is the median over questions of (ragline's fastest round - llama.cpp's
   fastest round): other work on a shared machine only ever adds time. Also tokens/s over
   the token phase (first to last token) for both, ragline's time to its first *checked*
   sentence, and the time from the last token to the checked answer.
2. Quality: accuracy (the answer is not a decline and contains every expected fact), the
   same for the unchecked draft, citation precision (share of citations whose passage
   contains the expected facts of an answerable question), and the share of unanswerable
   questions declined (and of answerable ones declined wrongly).

    python benchmarks/bench_answer.py [--speed-questions 20] [--rounds 5] [--skip-speed]
                                      [--skip-quality] [--model NAME]

``--model`` (default ``gateway.default_model``) measures another chat model, e.g. the optional
``qwen2.5-0.5b`` / ``qwen2.5-1.5b`` (``scripts/install.sh --model NAME``) with the prompts of
its family; results go to ``benchmarks/results/answer-<NAME>.json`` instead of ``answer.json``.

Exits with status 1 when ragline's TTFT overhead (median per question) exceeds 10% of the
direct TTFT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, median, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = REPO / "benchmarks" / "data" / "answers"
SAMPLE = REPO / "examples" / "sample"
COLLECTION = "answers"
OVERHEAD_FLOOR = 0.10


def norm(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    return " ".join(text.replace("liters", "litres").split())


def has_facts(text: str, facts: list[list[str]]) -> bool:
    t = norm(text)
    return all(any(norm(alt) in t for alt in alts) for alts in facts)


def load_questions() -> list[dict[str, Any]]:
    lines = (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# --------------------------------------------------------------------------- quality


def quality(
    rag: Any, questions: list[dict[str, Any]], style: str | None = None, model: str | None = None
) -> dict[str, Any]:
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        answer = rag.ask(q["question"], collection=COLLECTION, style=style, model=model)
        seconds = time.perf_counter() - t0
        correct_cites = []
        for c in answer.citations:
            correct_cites.append(
                bool(q["answerable"]) and has_facts(c.passage.chunk.text, q["facts"])
            )
        rows.append(
            {
                "id": q["id"],
                "answerable": q["answerable"],
                "declined": answer.declined,
                "decline_reason": answer.decline_reason,
                "correct": bool(q["answerable"])
                and not answer.declined
                and has_facts(answer.text, q["facts"]),
                "draft_correct": bool(q["answerable"]) and has_facts(answer.draft, q["facts"]),
                "citations": len(correct_cites),
                "correct_citations": sum(correct_cites),
                "attached": sum(c.attached for c in answer.citations),
                "answer": answer.text,
                "draft": answer.draft,
                "seconds": round(seconds, 3),
            }
        )
        mark = "ok" if rows[-1]["correct"] else ("declined" if answer.declined else "--")
        print(f"  {q['id']} {mark:8} {q['question'][:60]:60} -> {answer.text[:70]!r}", flush=True)
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    cites = sum(r["citations"] for r in rows)
    return {
        "questions": len(rows),
        "answerable": len(ans),
        "unanswerable": len(una),
        "accuracy": sum(r["correct"] for r in ans) / len(ans),
        "draft_accuracy": sum(r["draft_correct"] for r in ans) / len(ans),
        "answered": sum(not r["declined"] for r in ans) / len(ans),
        "citations": cites,
        "citation_precision": (sum(r["correct_citations"] for r in rows) / cites)
        if cites
        else float("nan"),
        "attached_share": (sum(r["attached"] for r in rows) / cites) if cites else float("nan"),
        "unanswerable_declined": sum(r["declined"] for r in una) / len(una),
        "answerable_declined": sum(r["declined"] for r in ans) / len(ans),
        "rows": rows,
    }


# --------------------------------------------------------------------------- speed


def direct_stream(llm: Any, tokens: list[int], max_tokens: int) -> dict[str, Any]:
    """TTFT, generated tokens and the token phase (first to last token) of llama.cpp."""
    t0 = time.perf_counter()
    first = last = None
    n = 0
    for chunk in llm.create_completion(
        prompt=tokens, max_tokens=max_tokens, temperature=0.0, stream=True
    ):
        n += 1
        last = time.perf_counter() - t0
        if first is None and chunk["choices"][0]["text"]:
            first = last
    total = time.perf_counter() - t0
    first = first if first is not None else total
    return {"ttft": first, "tokens": n, "gen_s": (last or total) - first}


def ragline_stream(rag: Any, question: str) -> dict[str, Any]:
    from ragline.answer.events import AnswerDone, SentenceChecked, TokenDelta

    t0 = time.perf_counter()
    first = checked = last = None
    answer = None
    # the generative path: its first token is the model's, compared with llama.cpp's
    for event in rag.ask_stream(question, collection=COLLECTION, style="generative"):
        now = time.perf_counter() - t0
        if isinstance(event, TokenDelta):
            first = now if first is None else first
            last = now
        elif isinstance(event, SentenceChecked) and checked is None and event.sentence.kept:
            checked = now
        elif isinstance(event, AnswerDone):
            answer = event.answer
    total = time.perf_counter() - t0
    assert answer is not None and answer.result is not None
    t = answer.timings
    return {
        "ttft": first,
        "checked": checked,
        "tokens": answer.result.usage.completion_tokens,
        "gen_s": (last or total) - (first or total),
        "check_tail_s": total - (last or total),
        "total": total,
        "retrieve_s": t["retrieve_s"],
        "pack_s": t["pack_s"],
        "prompt_s": t["prompt_s"],
    }


def speed(rag: Any, questions: list[dict[str, Any]], n: int, rounds: int) -> dict[str, Any]:
    import llama_cpp

    from ragline.answer.flow import Answerer
    from ragline.models.llamacpp import default_model_path, load_model
    from ragline.models.local import LOCAL_MODELS, model_file

    cfg = rag.settings.gateway
    path = cfg.model_path or default_model_path()
    if rag.gateway.name in LOCAL_MODELS:
        path = model_file(rag.gateway.name, rag.settings)
    loaded = load_model(path, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_batch=cfg.n_batch)
    direct = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=cfg.n_ctx,
        n_threads=loaded.llm.n_threads,
        n_threads_batch=loaded.llm.n_threads,
        n_batch=min(cfg.n_batch, cfg.n_ctx),
        verbose=False,
    )
    max_tokens = rag.settings.answer.max_tokens
    # The prompt ragline will send, built once per question by a second Answerer.
    shadow = Answerer(rag.retriever, rag.gateway, rag.settings, rag.embedder)
    answerable = [q for q in questions if q["answerable"]][: n + 1]
    prompts = [
        loaded.encode_chat(shadow.prepare(q["question"], collection=COLLECTION).messages)
        for q in answerable
    ]
    runs: dict[str, list[dict[str, Any]]] = {}
    for rnd in range(rounds):
        for i, (q, tokens) in enumerate(zip(answerable, prompts, strict=True)):
            if rnd and not i:
                continue
            pair: dict[str, Any] = {}
            for who in ("ragline", "direct") if (i + rnd) % 2 else ("direct", "ragline"):
                if who == "ragline":
                    # cold: every passage's sentences are embedded again, as on first sight
                    rag.answerer.packer.clear_cache()
                    pair["ragline"] = ragline_stream(rag, q["question"])
                else:
                    pair["direct"] = direct_stream(direct, tokens, max_tokens)
            if not i:
                continue  # warm-up: model loads and first-call costs
            pair["prompt_tokens"] = len(tokens)
            runs.setdefault(q["id"], []).append(pair)
            r, d = pair["ragline"], pair["direct"]
            print(
                f"  round {rnd + 1} {q['id']} prompt {len(tokens):4} tok  TTFT ragline "
                f"{r['ttft']:.3f}s direct {d['ttft']:.3f}s  tokens {r['tokens']}/{d['tokens']}",
                flush=True,
            )

    def tps(rows: list[dict[str, Any]]) -> float:
        toks = sum(max(0, x["tokens"] - 1) for x in rows)
        secs = sum(x["gen_s"] for x in rows)
        return toks / secs if secs else float("nan")

    flat = [p for pairs in runs.values() for p in pairs]
    rt = [p["ragline"]["ttft"] for p in flat]
    dt = [p["direct"]["ttft"] for p in flat]
    # Per question, the fastest of the rounds on each side: other work on the machine
    # only ever adds time, so the minimum is the least noisy estimate of each.
    best_r = [min(p["ragline"]["ttft"] for p in pairs) for pairs in runs.values()]
    best_d = [min(p["direct"]["ttft"] for p in pairs) for pairs in runs.values()]
    over = [r - d for r, d in zip(best_r, best_d, strict=True)]
    checked = [p["ragline"]["checked"] for p in flat if p["ragline"]["checked"] is not None]
    return {
        "questions": len(runs),
        "rounds": rounds,
        "max_tokens": max_tokens,
        "ragline_ttft_p50": median(rt),
        "ragline_ttft_p95": percentile(rt, 95),
        "direct_ttft_p50": median(dt),
        "direct_ttft_p95": percentile(dt, 95),
        "overhead_p50_s": median(over),
        "overhead_share": median(over) / median(best_d),
        "ragline_tokens_per_s": tps([p["ragline"] for p in flat]),
        "direct_tokens_per_s": tps([p["direct"] for p in flat]),
        "first_checked_sentence_p50": median(checked),
        "check_tail_p50_s": median([p["ragline"]["check_tail_s"] for p in flat]),
        "retrieve_p50_s": median([p["ragline"]["retrieve_s"] for p in flat]),
        "pack_p50_s": median([p["ragline"]["pack_s"] for p in flat]),
        "prompt_p50_s": median([p["ragline"]["prompt_s"] for p in flat]),
        "prompt_tokens_p50": median([p["prompt_tokens"] for p in flat]),
        "runs": runs,
    }


# --------------------------------------------------------------------------- main


def table(results: dict[str, Any]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    s = results.get("speed")
    if s:
        rt = f"{s['ragline_ttft_p50']:.3f} / {s['ragline_ttft_p95']:.3f} s"
        dt = f"{s['direct_ttft_p50']:.3f} / {s['direct_ttft_p95']:.3f} s"
        over = f"{s['overhead_p50_s'] * 1000:.0f} ms = {s['overhead_share']:.1%} of TTFT"
        tps = f"{s['ragline_tokens_per_s']:.1f} / {s['direct_tokens_per_s']:.1f}"
        steps = " / ".join(
            f"{s[k] * 1000:.1f} ms" for k in ("retrieve_p50_s", "pack_p50_s", "prompt_p50_s")
        )
        lines += [
            f"| TTFT p50 / p95, `ragline ask` | {rt} |",
            f"| TTFT p50 / p95, llama.cpp direct | {dt} |",
            f"| ragline overhead (median per question, best of the rounds) | {over} |",
            f"| generated tokens/s (first to last token), ragline / direct | {tps} |",
            f"| first checked sentence p50 | {s['first_checked_sentence_p50']:.3f} s |",
            f"| last token to checked answer p50 | {s['check_tail_p50_s'] * 1000:.0f} ms |",
            f"| ragline before the model, p50: retrieve / pack / prompt | {steps} |",
            f"| prompt tokens p50 | {s['prompt_tokens_p50']:.0f} |",
        ]
    q = results.get("quality")
    if q:
        lines += [
            f"| accuracy (answerable, facts present) | {q['accuracy']:.1%} of {q['answerable']} |",
            f"| accuracy of the unchecked draft | {q['draft_accuracy']:.1%} |",
            f"| answerable questions answered | {q['answered']:.1%} |",
            f"| citation precision | {q['citation_precision']:.1%} of {q['citations']} |",
            f"| citations attached by the checker | {q['attached_share']:.1%} |",
            f"| unanswerable declined | {q['unanswerable_declined']:.1%} of {q['unanswerable']} |",
            f"| answerable declined | {q['answerable_declined']:.1%} |",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME to use (default: a temp dir)")
    parser.add_argument("--speed-questions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="speed: passes over the questions")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument(
        "--style", choices=("extractive", "generative", "auto"), help="quality: answer.style"
    )
    parser.add_argument("--model", help="chat model (default: gateway.default_model)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragline-bench-answer-"))
    os.environ["RAGLINE_HOME"] = str(home)
    if args.model:
        os.environ["RAGLINE_GATEWAY__DEFAULT_MODEL"] = args.model

    from ragline.api import Ragline

    questions = load_questions()
    results: dict[str, Any] = {"questions": len(questions)}
    with Ragline() as rag:
        report = rag.ingest([DATA / "docs", SAMPLE], collection=COLLECTION)
        print(f"ingested {report.added} documents, {report.chunks} chunks")
        template = rag.answerer.template  # the default model's family variant, if any
        results.update(
            {
                "model": rag.gateway.resolve(rag.gateway.name).name,
                "prompt_version": template.ref,
                "prompt_sha256": template.digest,
                "settings": rag.settings.answer.model_dump(mode="json"),
                "n_threads": rag.settings.gateway.n_threads,
            }
        )
        # speed first: the sentence-vector cache starts empty, as in a fresh process
        if not args.skip_speed:
            print(f"speed: {args.speed_questions} questions (+1 warm-up) x {args.rounds} rounds")
            results["speed"] = speed(rag, questions, args.speed_questions, args.rounds)
        if not args.skip_quality:
            print(f"quality: {len(questions)} questions")
            results["style"] = args.style or rag.settings.answer.style
            results["quality"] = quality(rag, questions, args.style, args.model)
    print()
    print(table(results))
    write_results(f"answer-{args.model}" if args.model else "answer", results)
    s = results.get("speed")
    if s and s["overhead_share"] > OVERHEAD_FLOOR:
        print(f"FAIL: ragline adds {s['overhead_share']:.1%} to TTFT (floor {OVERHEAD_FLOOR:.0%})")
        sys.exit(1)


if __name__ == "__main__":
    main()
