"""Per-question answers of the weak and the strong model on SQuAD 2.0 answerable questions,
kept in ``benchmarks/results/router-answers.jsonl`` so the model router's curve
(``benchmarks/bench_router.py``) is recomputed without running the models again.

Questions: answerable ones of ``../shared/data/rag-qa/squad2-dev``, split by article like
``bench_qa.py`` (articles sorted by name; even positions: the *tune* half the router is
trained on; odd: the *test* half it is reported on), ``--per-split N`` drawn per half with a
fixed seed. Each question is asked through the whole answer flow (``Ragline.ask_stream``,
hybrid retrieval, generative style, every sentence checked), once per model; a row records
the answer, whether it contains a reference answer (SQuAD normalisation; a decline is
wrong), and the retrieval scores the router may use. Rows already in the file are skipped,
so an interrupted run resumes.

    python benchmarks/router_answers.py [--per-split 100] [--models embedded,qwen2.5-0.5b]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from _common import RESULTS
from bench_qa import COLLECTION, contains, data_dir, load_questions, split, token_f1

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ANSWERS = RESULTS / "router-answers.jsonl"
#: Short answers: SQuAD references are spans of a few words.
MAX_TOKENS = 48


def questions(per_split: int, seed: int = 0) -> list[dict[str, Any]]:
    """``per_split`` answerable questions of each half, tagged with the half."""
    everything = load_questions()
    halves = []
    for half in ("tune", "test"):
        pool = [q for q in split(everything, half) if q["answerable"]]
        drawn = random.Random(seed).sample(pool, min(per_split, len(pool)))
        halves.append([{**q, "split": half} for q in drawn])
    # interleaved, so that a partial run still has both halves
    return [q for pair in zip(*halves, strict=False) for q in pair]


def load_rows(path: Path = ANSWERS) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def ask(rag: Any, q: dict[str, Any], model: str) -> dict[str, Any]:
    from ragline.answer.events import AnswerDone, Retrieved, TokenDelta

    t0 = time.perf_counter()
    first = None
    answer = None
    relevances: list[float] = []
    best = 0.0
    for event in rag.ask_stream(q["text"], collection=COLLECTION, model=model):
        if isinstance(event, Retrieved):
            relevances = [round(float(p.relevance), 4) for p in event.context.passages]
            best = round(float(event.context.best_relevance), 4)
        elif isinstance(event, TokenDelta) and first is None:
            first = time.perf_counter() - t0
        elif isinstance(event, AnswerDone):
            answer = event.answer
    total = time.perf_counter() - t0
    assert answer is not None
    refs = q["answers"]
    ok = not answer.declined
    return {
        "model": model,
        "id": q["_id"],
        "split": q["split"],
        "article": q["article"],
        "question": q["text"],
        "answer": answer.text,
        "draft": answer.draft,
        "declined": answer.declined,
        "decline_reason": answer.decline_reason,
        "correct": ok and contains(answer.text, refs),
        "f1": round(token_f1(answer.text, refs), 4) if ok else 0.0,
        "best_relevance": best,
        "relevances": relevances,
        "gold_retrieved": q["gold"] in [c.passage.chunk.record_id for c in answer.citations]
        or any(p.chunk.record_id == q["gold"] for p in answer.passages),
        "first_token_s": round(first if first is not None else total, 4),
        "total_s": round(total, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-split", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="embedded,qwen2.5-0.5b")
    parser.add_argument("--home", type=Path, default=Path("/tmp/ragline-router-answers"))
    parser.add_argument("--output", type=Path, default=ANSWERS)
    args = parser.parse_args()
    os.environ["RAGLINE_HOME"] = str(args.home)
    os.environ["RAGLINE_ANSWER__STYLE"] = "generative"
    os.environ["RAGLINE_ANSWER__MAX_TOKENS"] = str(MAX_TOKENS)
    os.environ.setdefault("RAGLINE_ROUTE__ENABLED", "false")  # answer every question
    # the guards would block questions naming people (PII) before any model is asked
    os.environ.setdefault("RAGLINE_GUARD__ENABLED", "false")

    from ragline.api import Ragline

    done = {(r["model"], r["id"]) for r in load_rows(args.output)}
    todo = questions(args.per_split, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with Ragline() as rag:
        rag.ingest([data_dir() / "corpus.jsonl"], collection=COLLECTION)
        for i, q in enumerate(todo, start=1):  # both models per question: paired rows
            for model in args.models.split(","):
                if (model, q["_id"]) in done:
                    continue
                row = ask(rag, q, model)
                with args.output.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                print(
                    f"{model:14} {i:4}/{len(todo)} {q['split']:4} {row['correct']!s:5} "
                    f"{row['total_s']:6.1f}s {q['text'][:50]:50} -> {row['answer'][:50]!r}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
