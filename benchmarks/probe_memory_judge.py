"""Would a chat model tell an update of a user's fact from a different fact? (issue 17)

Not a feature of ragline: a probe for what long-term memory's supersession could gain from a
model judge. The stale facts the memory benchmark still returns are changes that name
nothing of the old fact ("I'm at a roastery now, Cloud Picker" after "I work at a café
called Bean There"); the rules miss them and their MiniLM cosine is low.

Pairs come from the annotated sessions of ``benchmarks/data/memory_sessions*.json``: an
*update* is a statement and the latest earlier one (from an earlier conversation) that set
one of its slots to another value; a *different fact* is a statement and the earlier one most
like it (MiniLM) that shares no slot with it, the hardest negative. Each pair goes to the
chat model once, through the gateway, with grammar-constrained JSON (``{"replaces": bool}``);
beside it, the cosine rule the memory uses (``memory.recency_supersede``).

    python benchmarks/probe_memory_judge.py --pairs 40 --model qwen2.5-1.5b
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np
from pydantic import BaseModel

from _common import write_results
from bench_agent_memory import load_users

PROMPT = (
    'Earlier the user said: "{a}"\nLater the user said: "{b}"\nDoes the later statement '
    "replace something the earlier one said (the same fact about the user, now different: a "
    "new city, job, car, habit, person, preference...)? If they are about different things, "
    "the answer is false."
)


class Verdict(BaseModel):
    replaces: bool


def pairs(embedder: Any, n: int, seed: int = 0) -> tuple[list[tuple], list[tuple]]:
    """(updates, different facts): ``(earlier, later, cosine)`` each, ``n`` of each drawn."""
    updates, different = [], []
    for user in load_users():
        turns = [
            ((s["at"], i), t[0], t[1])
            for s in user["sessions"]
            for i, t in enumerate(s["turns"])
            if isinstance(t, list)
        ]
        vectors = embedder.embed([t[1] for t in turns])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for j, (at, said, slots) in enumerate(turns):
            earlier = [(i, t) for i, t in enumerate(turns) if t[0][0] < at[0]]
            changed = [
                (i, t) for i, t in earlier if any(k in t[2] and t[2][k] != slots[k] for k in slots)
            ]
            if changed:
                i, t = changed[-1]
                updates.append((t[1], said, float(vectors[i] @ vectors[j])))
            others = [
                (float(vectors[i] @ vectors[j]), t)
                for i, t in earlier
                if not set(t[2]) & set(slots)
            ]
            if changed and others:
                cosine, t = max(others, key=lambda o: o[0])
                different.append((t[1], said, cosine))
    rng = random.Random(seed)
    rng.shuffle(updates)
    rng.shuffle(different)
    return updates[:n], different[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=40, help="updates and different facts each")
    parser.add_argument("--model", default="qwen2.5-1.5b")
    args = parser.parse_args()

    from ragline.config import load_settings
    from ragline.evaluate.function_calls import wilson_interval
    from ragline.models.embedder import get_embedder
    from ragline.models.gateway import Gateway

    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    updates, different = pairs(embedder, args.pairs)
    gateway = Gateway(settings)
    params = gateway.defaults.with_(temperature=0.0, max_tokens=16)
    system = "You keep a user's profile up to date. Answer in JSON."

    def judge(a: str, b: str) -> bool:
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": PROMPT.format(a=a, b=b)},
        ]
        got = gateway.generate(messages, params, schema=Verdict, model=args.model)
        return bool(got.replaces)

    started = time.perf_counter()
    rows = [
        {"kind": kind, "earlier": a, "later": b, "cosine": round(c, 4), "judge": judge(a, b)}
        for kind, group in (("update", updates), ("different", different))
        for a, b, c in group
    ]
    seconds = time.perf_counter() - started
    alike = settings.memory.recency_supersede
    out: dict[str, Any] = {"model": args.model, "seconds": round(seconds, 1), "rows": rows}
    for kind in ("update", "different"):
        group = [r for r in rows if r["kind"] == kind]
        said = sum(r["judge"] for r in group)
        close = sum(r["cosine"] >= alike for r in group)
        interval = wilson_interval(said, len(group))
        out[kind] = {
            "pairs": len(group),
            "judge_says_replaces": round(said / len(group), 3),
            "judge_interval": [round(interval.low, 3), round(interval.high, 3)],
            f"cosine_at_least_{alike}": round(close / len(group), 3),
        }
        print(
            f"{kind:9s} n={len(group)}  {args.model} says 'replaces' {said / len(group):.2f}  "
            f"cosine >= {alike}: {close / len(group):.2f}"
        )
    print(f"{seconds:.0f} s for {len(rows)} judgements")
    write_results(f"agent-memory-judge-{args.model}", out)


if __name__ == "__main__":
    main()
