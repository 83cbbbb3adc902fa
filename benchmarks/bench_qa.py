"""Questions answered, and declined, on SQuAD 2.0: ``../shared/data/rag-qa/squad2-dev``.

646 Wikipedia paragraphs (ingested as one JSONL collection: one document per paragraph, its
``_id`` the record id) and 6,078 questions written by people reading them, half of them
written to look answerable from the same paragraph without being answered there (each with
a tempting wrong answer, ``plausible_answers``).

**Split** (deterministic): the 16 articles sorted by name; even positions (0, 2, …) are the
*tuning* half (``benchmarks/train_qa.py`` trains the reader and the answerability model on
it), odd positions the *test* half. Reported figures are on the test half only.

**Sample**: ``--limit N`` draws N/2 answerable and N/2 unanswerable questions of the half,
seeded (``--seed``), so a run takes minutes on 2 cores; ``--limit 0`` takes them all.

**Metrics**, answerable questions: answered rate; gold paragraph cited (of the answers);
the answer contains a reference answer (SQuAD normalisation: lower case, no punctuation or
articles; a decline counts as not containing it); token F1 and ROUGE-L recall against the
best reference (of the answers). Unanswerable: declined rate; tempting-answer rate (the
answer contains a ``plausible_answers`` span). Generative answers: the share of accepted
(kept) sentences that contain a reference answer, not only supported. Latency: first answer
token p50/p95 (a generated answer: the model's first draft token; an extractive one: when the
quote is ready) and total. Rates come with a 95% Wilson interval. The answerability
threshold's precision/coverage curve is computed from the scores of the same run.

    python benchmarks/bench_qa.py [--limit 200] [--seed 0] [--split test]
                                  [--style extractive|generative|auto] [--model NAME]

Results are merged into ``benchmarks/results/qa.json`` under ``runs["<model>/<style>"]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import string
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import RESULTS, bench_data, machine, median, percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLLECTION = "squad2"


# --------------------------------------------------------------------------- data and split


def data_dir() -> Path:
    return bench_data() / "rag-qa" / "squad2-dev"


def load_questions() -> list[dict[str, Any]]:
    path = data_dir() / "questions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def split(questions: list[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    """The ``tune`` or ``test`` half: articles sorted by name, even positions tune."""
    articles = sorted({q["article"] for q in questions})
    wanted = {a for i, a in enumerate(articles) if (i % 2 == 0) == (half == "tune")}
    return [q for q in questions if q["article"] in wanted]


def sample(questions: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    """``limit`` questions, half answerable and half not, drawn with ``seed`` (0: all)."""
    if not limit:
        return list(questions)
    rng = random.Random(seed)
    out = []
    for answerable, n in ((True, limit - limit // 2), (False, limit // 2)):
        pool = [q for q in questions if q["answerable"] == answerable]
        out += rng.sample(pool, min(n, len(pool)))
    rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- metrics


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation) | {"“", "”"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains(answer: str, references: list[str]) -> bool:
    a = f" {normalize(answer)} "
    return any(normalize(r) and f" {normalize(r)} " in a for r in references)


def token_f1(answer: str, references: list[str]) -> float:
    pred = normalize(answer).split()
    best = 0.0
    for ref in references:
        gold = normalize(ref).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def rouge_l_recall(answer: str, references: list[str]) -> float:
    pred = normalize(answer).split()
    best = 0.0
    for ref in references:
        gold = normalize(ref).split()
        if not gold:
            continue
        prev = [0] * (len(pred) + 1)
        for g in gold:
            cur = [0]
            for j, p in enumerate(pred, start=1):
                cur.append(prev[j - 1] + 1 if g == p else max(prev[j], cur[j - 1]))
            prev = cur
        best = max(best, prev[-1] / len(gold))
    return best


def lead_span(text: str) -> str | None:
    """The span an extractive answer leads with (``1877: "…" [1]``), None when it has none."""
    head, sep, _ = text.partition(': "')
    return head if sep and not text.startswith('"') else None


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson score interval of a rate k/n."""
    if not n:
        return [float("nan"), float("nan")]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def rate(flags: list[bool]) -> dict[str, Any]:
    k, n = sum(flags), len(flags)
    return {"rate": round(k / n, 4) if n else float("nan"), "n": n, "ci95": wilson(k, n)}


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else float("nan")


# --------------------------------------------------------------------------- running


def ingest(rag: Any) -> None:
    report = rag.ingest([data_dir() / "corpus.jsonl"], collection=COLLECTION)
    print(f"ingested {report.added} paragraphs, {report.chunks} chunks", flush=True)


def ask(rag: Any, q: dict[str, Any], style: str, model: str | None) -> dict[str, Any]:
    from ragline.answer.events import AnswerDone, TokenDelta

    t0 = time.perf_counter()
    first = None
    answer = None
    for event in rag.ask_stream(q["text"], collection=COLLECTION, style=style, model=model):
        if isinstance(event, TokenDelta) and first is None:
            first = time.perf_counter() - t0
        elif isinstance(event, AnswerDone):
            answer = event.answer
    total = time.perf_counter() - t0
    assert answer is not None
    refs = q.get("answers") or []
    kept = [s for s in answer.sentences if s.kept and s.status != "dropped"]
    generated = answer.style == "generative"
    row = {
        "id": q["_id"],
        "answerable": q["answerable"],
        "declined": answer.declined,
        "decline_reason": answer.decline_reason,
        "style": answer.style,
        "answerability": answer.answerability,
        "answer": answer.text,
        "first_token_s": round(first if first is not None else total, 4),
        "total_s": round(total, 4),
        "cited": [c.passage.chunk.record_id for c in answer.citations],
    }
    if q["answerable"]:
        ok = not answer.declined
        row["gold_cited"] = ok and q["gold"] in row["cited"]
        row["contains"] = ok and contains(answer.text, refs)
        row["f1"] = token_f1(answer.text, refs) if ok else 0.0
        row["rouge_l"] = rouge_l_recall(answer.text, refs) if ok else 0.0
        span = lead_span(answer.text) if ok and answer.style == "extractive" else None
        if span is not None:  # the short answer the quote leads with
            row["span_f1"] = token_f1(span, refs)
        if generated and ok:
            row["accepted"] = len(kept)
            row["accepted_correct"] = sum(contains(s.text, refs) for s in kept)
    else:
        row["tempting"] = not answer.declined and contains(
            answer.text, q.get("plausible_answers") or []
        )
    return row


def curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Precision/coverage of the answerability threshold, from the run's scores (a question
    the relevance gate declined scores 0). Meaningful for the extractive style, where the
    threshold alone decides."""
    out = []
    for i in range(0, 21):
        t = i / 20
        answered = [r for r in rows if (r["answerability"] or 0.0) >= t]
        ans = [r for r in rows if r["answerable"]]
        una = [r for r in rows if not r["answerable"]]
        out.append(
            {
                "threshold": t,
                "coverage": round(sum(r["answerable"] for r in answered) / len(ans), 4)
                if ans
                else None,
                "unanswerable_declined": round(
                    1 - sum(not r["answerable"] for r in answered) / len(una), 4
                )
                if una
                else None,
                "precision": round(sum(r["answerable"] for r in answered) / len(answered), 4)
                if answered
                else None,
            }
        )
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    answered = [r for r in ans if not r["declined"]]
    firsts = [r["first_token_s"] for r in rows if not r["declined"]]
    totals = [r["total_s"] for r in rows]
    accepted = sum(r.get("accepted", 0) for r in ans)
    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(ans),
        "unanswerable": len(una),
        "answered": rate([not r["declined"] for r in ans]),
        "gold_cited": rate([r["gold_cited"] for r in answered]),
        "contains_reference": rate([r["contains"] for r in ans]),
        "token_f1_answered": mean([r["f1"] for r in answered]),
        "rouge_l_recall_answered": mean([r["rouge_l"] for r in answered]),
        "token_f1_all": mean([r["f1"] for r in ans]),
        "lead_span_share": round(sum("span_f1" in r for r in answered) / len(answered), 4)
        if answered
        else float("nan"),
        "lead_span_f1": mean([r["span_f1"] for r in answered if "span_f1" in r]),
        "unanswerable_declined": rate([r["declined"] for r in una]),
        "tempting_answer": rate([r["tempting"] for r in una]),
        "answered_by_style": dict(Counter(str(r["style"]) for r in rows if not r["declined"])),
        "decline_reasons": dict(Counter(str(r["decline_reason"]) for r in rows if r["declined"])),
        "first_token_p50_s": round(median(firsts), 4),
        "first_token_p95_s": round(percentile(firsts, 95), 4),
        "total_p50_s": round(median(totals), 4),
        "total_p95_s": round(percentile(totals, 95), 4),
    }
    if accepted:
        correct = sum(r.get("accepted_correct", 0) for r in ans)
        out["accepted_sentences"] = accepted
        out["accepted_sentence_correct"] = {
            "rate": round(correct / accepted, 4),
            "n": accepted,
            "ci95": wilson(correct, accepted),
        }
    out["threshold_curve"] = curve(rows)
    return out


def table(name: str, s: dict[str, Any]) -> str:
    def r(key: str) -> str:
        v = s[key]
        return f"{v['rate']:.2f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}] (n={v['n']})"

    lines = [
        f"| {name} | value (95% CI) |",
        "|---|---|",
        f"| answerable answered | {r('answered')} |",
        f"| gold paragraph cited (of answers) | {r('gold_cited')} |",
        f"| contains a reference answer | {r('contains_reference')} |",
        f"| token F1 / ROUGE-L recall (answers) | {s['token_f1_answered']:.2f} / "
        f"{s['rouge_l_recall_answered']:.2f} |",
        f"| answers leading with a span; its token F1 | {s['lead_span_share']:.2f}; "
        f"{s['lead_span_f1']:.2f} |",
        f"| unanswerable declined | {r('unanswerable_declined')} |",
        f"| tempting answer (unanswerable) | {r('tempting_answer')} |",
        f"| first answer token p50 / p95 | {s['first_token_p50_s']:.3f} / "
        f"{s['first_token_p95_s']:.3f} s |",
        f"| total p50 / p95 | {s['total_p50_s']:.3f} / {s['total_p95_s']:.3f} s |",
    ]
    if "accepted_sentence_correct" in s:
        lines.append(f"| accepted generated sentence correct | {r('accepted_sentence_correct')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME to use (default: a temp dir)")
    parser.add_argument("--limit", type=int, default=200, help="questions (0: the whole half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("test", "tune"), default="test")
    parser.add_argument(
        "--style", choices=("extractive", "generative", "auto"), help="default: answer.style"
    )
    parser.add_argument("--model", help="chat model (default: gateway.default_model)")
    parser.add_argument("--output", type=Path, default=RESULTS / "qa.json")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragline-bench-qa-"))
    os.environ["RAGLINE_HOME"] = str(home)

    from ragline.api import Ragline

    questions = sample(split(load_questions(), args.split), args.limit, args.seed)
    rows = []
    with Ragline() as rag:
        style = args.style or rag.settings.answer.style
        model = args.model or rag.gateway.name
        ingest(rag)
        print(f"{len(questions)} questions of the {args.split} half, style {style}, {model}")
        for i, q in enumerate(questions, start=1):
            row = ask(rag, q, style, args.model)
            rows.append(row)
            mark = "declined" if row["declined"] else "answered"
            good = row.get("contains", not row["declined"] if not q["answerable"] else None)
            print(
                f"  {i:4} {'A' if q['answerable'] else 'U'} {mark:8} {good!s:5} "
                f"{q['text'][:50]:50} -> {row['answer'][:60]!r}",
                flush=True,
            )
        settings = rag.settings.answer.model_dump(mode="json")
    summary = summarise(rows)
    name = f"{model}/{style}"
    print()
    print(table(name, summary))
    results: dict[str, Any] = {}
    if args.output.exists():
        results = json.loads(args.output.read_text())
    results["machine"] = machine()
    results.setdefault("runs", {})[name] = {
        "split": args.split,
        "limit": args.limit,
        "seed": args.seed,
        "settings": settings,
        **summary,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
