"""Fit the long-term memory's recall model (``src/ragline/memory/recall_weights.json``).

Trains on the annotated sessions of the splits in :data:`TRAIN` only
(``benchmarks/data/memory_sessions*.json``): each user's turns go through
``LongTermMemory.remember`` (rules, MiniLM, a fresh SQLite store), then for each of the
user's questions every current fact is a row of ``ragline.memory.recall_model.FEATURES``,
labelled 1 when the turn it came from set the slot the question asks about (for a turn that
set several slots, when the fact mentions this one: the benchmark's own rule). The fit is
``ragline.answer.logistic.fit`` (full-batch gradient descent from zero, deterministic).

The probability threshold, ``memory.recency_supersede`` and ``memory.recency_min_share``
are chosen on leave-one-split-out probabilities (each training split scored by a model
fitted on the others), running the recall exactly as ``LongTermMemory.recall`` does: the
values maximising recall of the current
fact minus stale facts returned minus :data:`OFF_TOPIC_COST` times the share of off-topic
questions that recall a fact (the users' own off-topic questions in the sessions are
negatives too). ``test10`` is never trained on.

    python benchmarks/train_memory_recall.py           # writes the weights
    python benchmarks/train_memory_recall.py --check   # refits, compares with the shipped file
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench_agent_memory import (
    SPLITS,
    _about,
    _words,
    chatter,
    judge,
    load_users,
    remember_all,
    slot_turns,
)

#: Every split written before ``test10`` (the later ones measure the shipped model).
TRAIN = SPLITS[: SPLITS.index("test10")]
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
#: What a stray fact in the prompt of an off-topic question costs, against a missed or a stale
#: fact (1): the user sees no wrong answer from it, only a longer prompt.
OFF_TOPIC_COST = 0.1
ALIKE = (1.0, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25)
SHARE = (0.0, 0.25, 0.5, 0.75)


def rows(settings: Any, embedder: Any) -> list[dict[str, Any]]:
    """One entry per training question: its facts, feature rows and labels."""
    from ragline.memory.longterm import LongTermMemory
    from ragline.store.factory import open_memory

    users = [u for u in load_users() if u["split"] in TRAIN]
    folder = Path(tempfile.mkdtemp(prefix="train-memory-"))
    local = settings.model_copy(update={"home": folder, "database": folder / "memory.db"})
    store = open_memory(local)
    memory = LongTermMemory(store, embedder, settings.memory)
    remember_all(memory, users)
    out = []
    for user in users:
        facts = [f for f in store.facts(user["id"]) if f.vector is not None]

        def features(text: str, vector: np.ndarray, facts: list[Any] = facts) -> np.ndarray:
            cosines = np.array([float(f.vector @ vector) for f in facts])
            matches = memory.key_matches(text, facts)
            return memory.recall_features(text, vector, facts, cosines, matches)

        slots = slot_turns(user)
        questions = [q["q"] for q in user["questions"]]
        vectors = embedder.embed(questions)
        for question, vector in zip(user["questions"], vectors, strict=True):
            turns = slots[question["slot"]]
            set_by = {(s, i): n for s, i, _, n in turns}
            words = _words(question["slot"]) | {w for _, _, v, _ in turns for w in _words(v)}
            labels = []
            for f in facts:
                src = (f.source.conversation_id, f.source.turn_index)
                labels.append(src in set_by and _about(f, words, set_by[src] > 1))
            out.append(
                {
                    "split": user["split"],
                    "question": question,
                    "turns": turns,
                    "facts": facts,
                    "x": features(question["q"], vector),
                    "y": np.array(labels, dtype=int),
                }
            )
        # the user's own off-topic questions ("What gauge of wire do I need?"): no fact is
        # about them, so every fact is a negative
        talk = chatter(user)
        for text, vector in zip(talk, embedder.embed(talk) if talk else [], strict=True):
            out.append(
                {
                    "split": user["split"],
                    "question": None,
                    "turns": None,
                    "facts": facts,
                    "x": features(text, vector),
                    "y": np.zeros(len(facts), dtype=int),
                }
            )
    store.close()
    return out


def fit(entries: list[dict[str, Any]]) -> Any:
    from ragline.answer.logistic import fit as fit_logistic
    from ragline.memory.recall_model import FEATURES

    x = np.vstack([e["x"] for e in entries])
    y = np.concatenate([e["y"] for e in entries])
    feats = [dict(zip(FEATURES, row, strict=True)) for row in x]
    return fit_logistic(feats, y.tolist(), FEATURES, l2=1e-3, steps=3000, lr=0.1)


def to_model(logistic: Any, threshold: float) -> Any:
    from ragline.memory.recall_model import RecallModel

    return RecallModel(
        mean=np.asarray(logistic.mean),
        scale=np.asarray(logistic.scale),
        weights=np.asarray(logistic.coef),
        bias=logistic.bias,
        threshold=threshold,
    )


def evaluate(
    entries: list[dict[str, Any]], threshold: float, alike: float, share: float, max_facts: int
):
    """(recall of the current fact, stale returned, off-topic questions recalling a fact)
    with the entries' ``p``, chosen as ``LongTermMemory.recall`` does."""
    from ragline.memory.longterm import Recalled, choose

    found = stale = off_topic = 0
    for e in entries:
        scored = [Recalled(f, float(p), False) for f, p in zip(e["facts"], e["p"], strict=True)]
        recalled = choose(scored, threshold, alike, max_facts, share)
        if e["question"] is None:
            off_topic += bool(recalled)
            continue
        f, s = judge(e["question"], e["turns"], recalled)
        found += f
        stale += s
    asked = sum(e["question"] is not None for e in entries)
    chatter = len(entries) - asked
    return found / asked, stale / asked, off_topic / max(1, chatter)


def objective(recall: float, stale: float, off_topic: float) -> float:
    """What the threshold and the recency settings maximise (leave-one-split-out)."""
    return recall - stale - OFF_TOPIC_COST * off_topic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped weights")
    parser.add_argument("--grid", action="store_true", help="print every threshold tried")
    args = parser.parse_args()

    from ragline.config import load_settings
    from ragline.memory.recall_model import WEIGHTS
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    entries = rows(settings, embedder)
    print(
        f"{len(entries)} training questions, {sum(len(e['y']) for e in entries)} facts scored, "
        f"{sum(int(e['y'].sum()) for e in entries)} positives"
    )
    for split in TRAIN:  # leave one split out
        held = [e for e in entries if e["split"] == split]
        model = to_model(fit([e for e in entries if e["split"] != split]), 0.0)
        for e in held:
            e["p"] = model.probabilities(e["x"])
    max_facts = settings.memory.max_facts
    grid = {
        (t, a, h): evaluate(entries, t, a, h, max_facts)
        for t in THRESHOLDS
        for a in ALIKE
        for h in SHARE
    }
    for (t, a, h), (r, s, o) in sorted(grid.items()) if args.grid else ():
        print(
            f"  threshold {t:.2f}  recency_supersede {a:.2f}  min_share {h:.2f}  recall {r:.3f}  "
            f"stale {s:.3f}  off-topic {o:.3f}"
        )
    threshold, alike, share = max(grid, key=lambda k: (objective(*grid[k]), k[0], k[1], -k[2]))
    r, s, o = grid[(threshold, alike, share)]
    print(
        f"chosen: threshold {threshold}, recency_supersede {alike}, recency_min_share {share} "
        f"(leave-one-split-out recall {r:.3f}, stale {s:.3f}, off-topic with a fact {o:.3f})"
    )
    for split in TRAIN:
        held = [e for e in entries if e["split"] == split]
        r_, s_, o_ = evaluate(held, threshold, alike, share, max_facts)
        print(f"  {split:8s} recall {r_:.3f}  stale {s_:.3f}  off-topic {o_:.3f}")
    final = to_model(fit(entries), threshold)
    payload = {
        **final.to_dict(),
        "trained_on": [f"benchmarks/data/memory_sessions*.json splits {', '.join(TRAIN)}"],
        "questions": len(entries),
        "recency_supersede": alike,
        "recency_min_share": share,
        "leave_one_split_out": {
            "recall_current": round(r, 4),
            "stale_returned": round(s, 4),
            "off_topic_with_a_fact": round(o, 4),
        },
    }
    if args.check:
        shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
        same = (
            np.allclose(shipped["weights"], payload["weights"], atol=1e-6)
            and shipped["threshold"] == payload["threshold"]
        )
        print("the shipped weights match" if same else "the shipped weights DIFFER")
        return 0 if same else 1
    WEIGHTS.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
