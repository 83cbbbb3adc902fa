"""Train the extractive reader and the answerability model on the SQuAD 2.0 tuning half.

Writes ``src/ragline/answer/qa_weights.json`` (a few kilobytes, shipped in the package).
Only the *tuning* half of ``bench_qa.py``'s split is read (articles at even positions in
name order); the test half stays unseen. Deterministic: the same data, the same retrieval
and the same gradient descent from zero give the same file.

1. Every tuning question is retrieved and packed as ``ragline ask`` does it
   (``Answerer.prepare``); questions the relevance gate turns away are left out.
2. Reader: every sentence of the packed passages' chunks of an *answerable* question is a
   row (label: it contains a reference answer, SQuAD normalisation); a logistic model on
   the reader's features (``answer/extractive.py``).
3. Answerability: with the trained reader, one row per question (label: answerable) on the
   question-level signals (``answer/answerability.py``).
4. The threshold: the highest that still answers 90% of the answerable tuning questions that
   pass the relevance gate, on held-out scores (each tuning article scored by a model fitted
   on the other seven) (a wrong decline leaves the user nothing; a tempting answer is
   still a quote with its source); written beside the weights, and the default of
   ``answer.min_answerability``.

    python benchmarks/train_qa.py [--limit 1200] [--output src/ragline/answer/qa_weights.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from _common import REPO
from bench_qa import COLLECTION, contains, ingest, load_questions, sample, split
from ragline.answer.answerability import ANSWERABILITY_FEATURES
from ragline.answer.extractive import READER_FEATURES

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: The threshold is the highest that answers this share of the answerable tuning questions
#: the relevance gate lets through.
ANSWER_SHARE = 0.90


def zero_model(features: tuple[str, ...]) -> dict[str, Any]:
    n = len(features)
    return {"features": list(features), "mean": [0.0] * n, "scale": [1.0] * n,
            "coef": [0.0] * n, "bias": 0.0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1200, help="tuning questions (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME (reuse bench_qa's ingest)")
    parser.add_argument(
        "--output", type=Path, default=REPO / "src" / "ragline" / "answer" / "qa_weights.json"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragline-train-qa-"))
    os.environ["RAGLINE_HOME"] = str(args.home or work)
    # A blank model to start from: features do not depend on the weights, scores do.
    blank = work / "blank.json"
    blank.write_text(
        json.dumps(
            {
                "reader": zero_model(READER_FEATURES),
                "answerability": zero_model(ANSWERABILITY_FEATURES),
            }
        )
    )
    os.environ["RAGLINE_ANSWER__QA_WEIGHTS"] = str(blank)

    from ragline.answer import logistic
    from ragline.answer.answerability import features as answerability_features
    from ragline.answer.extractive import SentenceReader
    from ragline.api import Ragline

    questions = sample(split(load_questions(), "tune"), args.limit, args.seed)
    with Ragline() as rag:
        ingest(rag)
        answerer = rag.answerer
        preps = []
        for i, q in enumerate(questions, start=1):
            prep = answerer.prepare(q["text"], collection=COLLECTION)
            if prep.context.relevant:
                preps.append((q, prep))
            if i % 200 == 0:
                print(f"  retrieved {i}/{len(questions)}", flush=True)
        for label in (True, False):
            n = sum(q["answerable"] == label for q in questions)
            kept = sum(q["answerable"] == label for q, _ in preps)
            kind = "answerable" if label else "unanswerable"
            print(f"{kept} of {n} {kind} tuning questions pass the relevance gate")

        rows, labels = [], []
        for q, prep in preps:
            if not q["answerable"]:
                continue
            reading = answerer.reader.read(
                prep.rewrite.query, prep.context.passages, prep.context.question_vector
            )
            for c in reading.candidates:
                rows.append(c.features)
                labels.append(int(contains(c.sentence, q["answers"])))
        reader_model = logistic.fit(rows, labels, READER_FEATURES)
        print(f"reader: {len(rows)} sentences, {sum(labels)} contain a reference answer")

        reader = SentenceReader(reader_model, rag.retriever.analyzer, answerer.packer.vectors)
        q_rows, q_labels, q_articles, top_ok = [], [], [], []
        for q, prep in preps:
            reading = reader.read(
                prep.rewrite.query, prep.context.passages, prep.context.question_vector
            )
            if reading.best is None:
                continue
            q_rows.append(
                answerability_features(reading, rag.retriever.analyzer, prep.context.best_relevance)
            )
            q_labels.append(int(q["answerable"]))
            q_articles.append(q["article"])
            if q["answerable"]:
                top_ok.append(contains(reading.best.sentence, q["answers"]))
        print(f"reader top sentence holds a reference answer: {sum(top_ok) / len(top_ok):.3f}")
        answer_model = logistic.fit(q_rows, q_labels, ANSWERABILITY_FEATURES)
        # Held-out scores for the threshold: each tuning article scored by a model fitted on
        # the other tuning articles (the in-sample scores of the final model flatter it).
        scores = [0.0] * len(q_rows)
        for held in sorted(set(q_articles)):
            inside = [i for i, a in enumerate(q_articles) if a != held]
            fold = logistic.fit(
                [q_rows[i] for i in inside], [q_labels[i] for i in inside], ANSWERABILITY_FEATURES
            )
            for i, a in enumerate(q_articles):
                if a == held:
                    scores[i] = fold.probability(q_rows[i])

    curve = []
    pos = [s for s, y in zip(scores, q_labels, strict=True) if y]
    neg = [s for s, y in zip(scores, q_labels, strict=True) if not y]
    for i in range(1, 40):
        t = i / 40
        answered = sum(s >= t for s in pos) / len(pos)
        declined = sum(s < t for s in neg) / len(neg)
        curve.append({"threshold": t, "answered": round(answered, 4),
                      "declined": round(declined, 4)})  # fmt: skip
    # The highest threshold that still answers ANSWER_SHARE of the answerable questions: a
    # wrong decline leaves the user with nothing, a tempting answer is a quote with its source.
    best = max((c for c in curve if c["answered"] >= ANSWER_SHARE), key=lambda c: c["threshold"])
    for c in curve:
        print(f"  threshold {c['threshold']:.3f}: answered {c['answered']:.3f} "
              f"declined {c['declined']:.3f}")  # fmt: skip
    print(f"threshold (answers {ANSWER_SHARE:.0%} of the answerable): {best['threshold']:.3f}")
    payload = {
        "trained_on": "SQuAD 2.0 dev subset (rag-qa/squad2-dev), tuning half: articles at "
        "even positions in name order (benchmarks/bench_qa.py)",
        "questions": len(questions),
        "reader_rows": len(rows),
        "answerability_rows": len(q_rows),
        "threshold": best["threshold"],
        "threshold_from": "leave-one-article-out scores on the tuning half",
        "tuning_curve": curve,
        "reader": reader_model.to_dict(),
        "answerability": answer_model.to_dict(),
    }
    args.output.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
