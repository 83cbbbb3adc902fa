"""Memory (issue 17): long-term facts per user, and the short-term window strategies.

1. **Long-term** on the sets written for this benchmark: ``data/memory_sessions.json`` (six
   users, four sessions each, 104 annotated facts; splits ``dev`` and ``heldout``) and the
   fresh splits ``memory_sessions_test.json`` (``test``), ``_test2`` (``test2``), ``_test3``
   (``test3``) and ``_test4`` (``test4``), each written before the round of changes it
   measures (docs/benchmarks.md says which split was tuned on when). Every user's sessions are
   fed, turn by turn, through :class:`~ragline.memory.longterm.LongTermMemory` (rule
   extractor, real MiniLM embedder, one SQLite store for all users); then each question is
   asked with ``recall``. A recalled fact is *current* when it came from the turn that set the
   slot's current value (and, for a turn setting several slots, mentions it), *stale* when it
   came from a turn that set an earlier value. Per split: recall of the current fact, the
   share of questions with a stale fact returned (all, and those whose slot was
   contradicted), off-topic turns that recall a fact, and leaks: every question of every other
   user asked as each user, and each user's listing, counting facts of another user returned.
   The misses of the newest split are written to the JSON only, not printed.
2. **Short-term**: generated conversations of 32 to 40 turns where the user states a detail
   in one of the first three turns (a booking reference, a flight number, a name) and asks
   for it in the last. For each window strategy (``last_n`` with ``answer.history_turns``,
   ``summary``, ``summary_retrieval``): how often the detail reaches the context (the summary
   plus the turns kept), the context's size in tokens (four characters a token), and the
   model calls the summary made. The summary is written by the chat model through the
   gateway (``--model``, default the embedded SmolLM2-135M).

    python benchmarks/bench_agent_memory.py [--extractor rules|model|both]
        [--extractor-model qwen2.5-1.5b] [--splits dev,heldout,test,test2,test3,test4]
        [--out agent-memory] [--conversations 8] [--model qwen2.5-0.5b]
        [--no-long-term] [--no-short-term]

Results: ``results/agent-memory.json`` (long-term), ``results/agent-memory-window.json``
(short-term).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import REPO, median, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: The fresh test splits, in the order they were written, each before the round of changes
#: it first measured and after the previous one's misses were read (docs/benchmarks.md,
#: "Memory", has each one's history). ``memory_sessions.json`` holds ``dev`` and ``heldout``.
FRESH = tuple(["test", *(f"test{n}" for n in range(2, 12))])
SPLITS = ("dev", "heldout", *FRESH)
DATA = REPO / "benchmarks" / "data" / "memory_sessions.json"
FILES = (DATA, *(DATA.with_name(f"memory_sessions_{split}.json") for split in FRESH))
_WORD = re.compile(r"[\w'-]+")
_STOP = {"the", "a", "an", "and", "of", "some", "bit", "likes", "dislikes", "to", "in"}

# --------------------------------------------------------------------------- long-term


def load_users(*paths: Path) -> list[dict[str, Any]]:
    """The users of every data file (default: all of them), each with its ``split``."""
    users: list[dict[str, Any]] = []
    for path in paths or FILES:
        users += json.loads(path.read_text(encoding="utf-8"))["users"]
    return users


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOP and len(w) > 1}


def slot_turns(user: dict[str, Any]) -> dict[str, list[tuple[str, int, str, int]]]:
    """slot -> [(session id, turn index, value, slots set by that turn)], in order."""
    out: dict[str, list[tuple[str, int, str, int]]] = defaultdict(list)
    for session in user["sessions"]:
        for i, turn in enumerate(session["turns"]):
            if isinstance(turn, list):
                for slot, value in turn[1].items():
                    out[slot].append((session["id"], i, value, len(turn[1])))
    return out


def _about(fact: Any, words: set[str], several: bool) -> bool:
    """A fact from a turn that set several slots must mention this one."""
    if not several:
        return True
    return bool(words & _words(f"{fact.key} {fact.value} {fact.statement}"))


def judge(question: dict[str, Any], turns: list[tuple[str, int, str, int]], recalled: list[Any]):
    """(current found, stale returned) for one question's recalled facts."""
    slot = question["slot"]
    current_value = turns[-1][2]
    current = {(s, i): n for s, i, v, n in turns if v == current_value}
    stale = {(s, i): n for s, i, v, n in turns if v != current_value}
    words = _words(current_value) | _words(slot)
    found = returned_stale = False
    for r in recalled:
        f = r.fact
        src = (f.source.conversation_id, f.source.turn_index)
        if src in current and _about(f, words, current[src] > 1):
            found = True
        elif src in stale:
            old = next(v for s, i, v, _ in turns if (s, i) == src)
            if _about(f, _words(old) | _words(slot), stale[src] > 1):
                returned_stale = True
    return found, returned_stale


def _extractor(settings: Any, kind: str, model: str | None) -> Any:
    if kind == "rules":
        return None
    from ragline.memory.model_facts import ModelFactExtractor
    from ragline.models.gateway import Gateway
    from ragline.prompts import PromptRegistry

    template = PromptRegistry.from_settings(settings).get(settings.memory.fact_prompt)
    return ModelFactExtractor(Gateway(settings), template, model=model, notes=settings.memory.notes)


def remember_all(memory: Any, users: list[dict[str, Any]]) -> tuple[list[float], int]:
    """Every turn of every user's sessions through ``memory.remember``, in order: the time of
    each call (ms) and the facts written."""
    times: list[float] = []
    stored = 0
    for user in users:
        for session in user["sessions"]:
            for i, turn in enumerate(session["turns"]):
                text = turn[0] if isinstance(turn, list) else turn
                t0 = time.perf_counter()
                done = memory.remember(
                    user["id"], text, conversation_id=session["id"], turn_index=i, at=session["at"]
                )
                times.append((time.perf_counter() - t0) * 1000)
                stored += sum(d.written for d in done)
    return times, stored


def chatter(user: dict[str, Any]) -> list[str]:
    """The user's plain talk: the turns that set no slot (asked as off-topic questions)."""
    return [t for session in user["sessions"] for t in session["turns"] if isinstance(t, str)]


def bench_long_term(
    settings: Any,
    embedder: Any,
    extractor: str = "rules",
    model: str | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> dict[str, Any]:
    from ragline.memory.longterm import LongTermMemory
    from ragline.store.factory import open_memory

    users = [u for u in load_users() if u["split"] in splits]
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    local = settings.model_copy(update={"home": folder, "database": folder / "memory.db"})
    store = open_memory(local)
    model_extractor = _extractor(settings, extractor, model)
    memory = LongTermMemory(store, embedder, settings.memory, extractor=model_extractor)
    remember_ms, stored = remember_all(memory, users)
    recall_ms: list[float] = []
    per_split: dict[str, dict[str, Any]] = {}
    misses: list[dict[str, Any]] = []
    for split in splits:
        n = hits = stale = contradicted = stale_contradicted = 0
        for user in (u for u in users if u["split"] == split):
            turns = slot_turns(user)
            for question in user["questions"]:
                t0 = time.perf_counter()
                recalled = memory.recall(user["id"], question["q"])
                recall_ms.append((time.perf_counter() - t0) * 1000)
                found, old = judge(question, turns[question["slot"]], recalled)
                changed = len({v for _, _, v, _ in turns[question["slot"]]}) > 1
                n += 1
                hits += found
                stale += old
                contradicted += changed
                stale_contradicted += old and changed
                if not found or old:
                    misses.append(
                        {
                            "split": split,
                            "user": user["id"],
                            "question": question["q"],
                            "expected": turns[question["slot"]][-1][2],
                            "stale": old,
                            "recalled": [r.fact.value for r in recalled],
                        }
                    )
        off_topic_turns = [
            (user["id"], turn) for user in users if user["split"] == split for turn in chatter(user)
        ]
        off_topic = sum(bool(memory.recall(uid, text)) for uid, text in off_topic_turns)
        per_split[split] = {
            "off_topic_questions": len(off_topic_turns),
            "off_topic_with_a_fact": off_topic,
            "questions": n,
            "recall_current": round(hits / n, 4) if n else None,
            "stale_returned": round(stale / n, 4) if n else None,
            "contradicted_questions": contradicted,
            "stale_returned_on_contradicted": (
                round(stale_contradicted / contradicted, 4) if contradicted else None
            ),
        }
    leaks = cross_user_leaks(memory, users)
    store.close()
    facts = sum(
        len(t[1]) for u in users for s in u["sessions"] for t in s["turns"] if isinstance(t, list)
    )
    return {
        "data": [str(p.relative_to(REPO)) for p in FILES],
        "users": len(users),
        "sessions": sum(len(u["sessions"]) for u in users),
        "annotated_facts": facts,
        "facts_stored": stored,
        "splits": per_split,
        "leaks": leaks,
        "remember_ms_p50": round(median(remember_ms), 3),
        "remember_ms_p95": round(percentile(remember_ms, 95), 3),
        "recall_ms_p50": round(median(recall_ms), 3),
        "recall_ms_p95": round(percentile(recall_ms, 95), 3),
        "extractor": extractor if extractor == "rules" else f"rules + {model or 'default'}",
        "model_clauses": (
            {"asked": model_extractor.asked, "answered": model_extractor.answered}
            if model_extractor is not None
            else None
        ),
        "settings": {
            "min_score": settings.memory.min_score,
            "key_bonus": settings.memory.key_bonus,
            "max_facts": settings.memory.max_facts,
            "notes": settings.memory.notes,
            "note_supersede": settings.memory.note_supersede,
            "extractor": settings.memory.extractor,
        },
        "misses": misses,
    }


def cross_user_leaks(memory: Any, users: list[dict[str, Any]]) -> dict[str, int]:
    """Every question of every other user asked as each user, and each user's listing:
    facts of another user returned."""
    asked = leaked = listed = 0
    for user in users:
        me = user["id"]
        listed += sum(f.user_id != me for f in memory.facts(me, history=True))
        for other in users:
            if other["id"] == me:
                continue
            for question in other["questions"]:
                asked += 1
                leaked += sum(r.fact.user_id != me for r in memory.recall(me, question["q"]))
    return {"questions_asked_as_another_user": asked, "facts_leaked": leaked + listed}


# --------------------------------------------------------------------------- short-term

DETAILS = [
    ("My booking reference is QX7-4821.", "What was my booking reference again?", "QX7-4821"),
    (
        "My flight number is LH 1234, leaving Friday.",
        "Which flight number did I give you?",
        "LH 1234",
    ),
    ("The project codename is Bluefin.", "What is the project's codename?", "Bluefin"),
    (
        "My manager's name is Ingrid Sorensen.",
        "What did I say my manager is called?",
        "Ingrid Sorensen",
    ),
    ("The budget for the offsite is 4,500 euros.", "How big was the offsite budget?", "4,500"),
    ("The server we migrate is called atlas-07.", "Which server are we migrating?", "atlas-07"),
    ("My ticket number is INC-55102.", "Remind me of my ticket number.", "INC-55102"),
    ("The meeting room is Orion on the 4th floor.", "Which room is the meeting in?", "Orion"),
    ("Our client is Brightwater Logistics.", "Who is our client?", "Brightwater"),
    ("My locker code is 3917.", "What was my locker code?", "3917"),
]
FILLER = [
    ("How long should I boil an egg for a soft yolk?", "About six minutes in boiling water."),
    ("What is the capital of Australia?", "Canberra."),
    ("Can you suggest a name for a team chat channel?", "How about #daily-sync?"),
    ("How many ounces are in a pound?", "Sixteen ounces."),
    ("What's a good stretch for a stiff neck?", "Slowly tilt your ear toward your shoulder."),
    ("Translate 'good morning' into Spanish.", "Buenos días."),
    ("What is 15% of 80?", "12."),
    ("Who wrote Pride and Prejudice?", "Jane Austen."),
    ("How do I make a table in Markdown?", "Use pipes and a row of dashes under the header."),
    ("What time zone is Tokyo in?", "Japan Standard Time, UTC+9."),
    ("Give me a synonym for happy.", "Cheerful."),
    ("How many continents are there?", "Seven."),
    ("What's the boiling point of water in Fahrenheit?", "212 degrees."),
    ("Suggest a quick lunch idea.", "A wrap with hummus and vegetables."),
    ("What does CPU stand for?", "Central processing unit."),
    ("How do I undo the last git commit?", "git reset --soft HEAD~1 keeps the changes."),
    ("What is the speed of light?", "About 300,000 km per second."),
    ("Recommend a podcast about history.", "Try 'The Rest Is History'."),
    ("How do I center a div in CSS?", "Use display:flex with justify-content and align-items."),
    ("What's the plural of cactus?", "Cacti."),
    ("How many minutes are in a day?", "1,440."),
    ("Name a famous painting by Vermeer.", "Girl with a Pearl Earring."),
    ("What's the tallest mountain in Africa?", "Kilimanjaro."),
    ("How often should I water a cactus?", "Every two to three weeks."),
    ("What is a haiku?", "A three-line poem of 5, 7 and 5 syllables."),
    ("Which planet has the most moons?", "Saturn."),
    ("How do I convert Celsius to Fahrenheit?", "Multiply by 9/5 and add 32."),
    ("What's a good password manager?", "Bitwarden and 1Password are popular."),
    ("What is the main ingredient of guacamole?", "Avocado."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci."),
    ("What does HTTP stand for?", "Hypertext Transfer Protocol."),
    ("How many players are on a football team?", "Eleven on the field."),
    ("What is photosynthesis?", "How plants turn light, water and CO2 into sugar."),
    ("Suggest a board game for four people.", "Ticket to Ride."),
    ("How do I say thank you in Japanese?", "Arigatou gozaimasu."),
    ("What is the largest ocean?", "The Pacific."),
    ("How far is the Moon?", "About 384,000 km."),
    ("What does RAM do?", "It holds the data programs are using right now."),
]


class _Turn:
    __slots__ = ("answer", "question")

    def __init__(self, question: str, answer: str) -> None:
        self.question, self.answer = question, answer


def conversations(n: int, seed: int = 17) -> list[tuple[list[_Turn], str, str]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        said, asked, value = DETAILS[k % len(DETAILS)]
        length = rng.randint(32, 40)
        fillers = rng.sample(FILLER, k=min(len(FILLER), length - 1))
        while len(fillers) < length - 1:
            fillers.append(rng.choice(FILLER))
        at = rng.randint(0, 2)
        turns = [_Turn(q, a) for q, a in fillers]
        turns.insert(at, _Turn(said, "Noted."))
        out.append((turns, asked, value))
    return out


def bench_short_term(settings: Any, embedder: Any, n: int, model: str | None) -> dict[str, Any]:
    from ragline.memory.window import (
        WINDOW_STRATEGIES,
        ConversationWindow,
        ModelSummarizer,
        WindowState,
    )
    from ragline.models.gateway import Gateway
    from ragline.prompts import PromptRegistry

    gateway = Gateway(settings)
    template = PromptRegistry.from_settings(settings).get(settings.memory.summary_prompt)
    summarizer = ModelSummarizer(
        gateway, template, max_tokens=settings.memory.summary_max_tokens, model=model
    )
    recent = settings.answer.history_turns
    convs = conversations(n)
    results: dict[str, Any] = {}
    summaries: dict[int, WindowState] = {}
    for strategy in WINDOW_STRATEGIES:
        found, tokens, folds, seconds = 0, [], 0, 0.0
        for k, (turns, asked, value) in enumerate(convs):
            # the summary strategies share one summary per conversation: same model calls
            state = (
                WindowState() if strategy == "last_n" else summaries.setdefault(k, WindowState())
            )
            state.vectors.clear()
            window = ConversationWindow(
                settings.memory,
                recent=recent,
                summarize=summarizer,
                embed=embedder.embed,
                strategy=strategy,
            )
            t0 = time.perf_counter()
            choice = window.select(turns, asked, state)
            seconds += time.perf_counter() - t0
            folds += state.folds  # the two summary strategies share one summary
            context = " ".join(
                [choice.summary, *(f"{turns[i].question} {turns[i].answer}" for i in choice.turns)]
            )
            found += value.casefold() in context.casefold()
            tokens.append(len(context) / 4)
        results[strategy] = {
            "conversations": len(convs),
            "fact_in_context": round(found / len(convs), 4),
            "context_tokens_median": round(median(tokens), 1),
            "context_tokens_max": round(max(tokens), 1),
            "summary_calls": folds,
            "seconds": round(seconds, 2),
        }
    return {
        "model": model or gateway.name,
        "recent_turns": recent,
        "summary_every": settings.memory.summary_every,
        "retrieved_turns": settings.memory.retrieved_turns,
        "turns_per_conversation": [len(t) for t, _, _ in convs],
        "strategies": results,
        "example_summary": summaries[0].summary if summaries else "",
    }


# --------------------------------------------------------------------------- main


def report_long_term(long_term: dict[str, Any]) -> None:
    print(
        f"long-term memory, {long_term['extractor']}: {long_term['annotated_facts']} facts, "
        f"{long_term['sessions']} sessions, {long_term['users']} users "
        f"({long_term['facts_stored']} facts stored)"
    )
    for split, row in long_term["splits"].items():
        print(
            f"  {split:8s} questions {row['questions']:3d}  recall {row['recall_current']:.3f}  "
            f"stale {row['stale_returned']:.3f}  stale on contradicted "
            f"{row['stale_returned_on_contradicted']:.3f} (n={row['contradicted_questions']})  "
            f"off-topic with a fact {row['off_topic_with_a_fact']}/{row['off_topic_questions']}"
        )
    leaks = long_term["leaks"]
    print(
        f"  leaks: {leaks['facts_leaked']} facts of another user in "
        f"{leaks['questions_asked_as_another_user']} questions and {long_term['users']} listings"
    )
    print(
        f"  remember p50 {long_term['remember_ms_p50']} ms, recall p50 "
        f"{long_term['recall_ms_p50']} ms"
    )
    # the misses of the split not yet looked at (test4): in the JSON only
    for miss in (m for m in long_term["misses"] if m["split"] != "test4"):
        print(
            f"  miss[{miss['split']}] {miss['user']}: {miss['question']!r} expected "
            f"{miss['expected']!r} stale={miss['stale']} got {miss['recalled']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--model", default=None, help="the summary's chat model")
    parser.add_argument("--no-short-term", action="store_true")
    parser.add_argument("--no-long-term", action="store_true")
    parser.add_argument(
        "--extractor",
        choices=["rules", "model", "both"],
        default="both",
        help="long-term: the rule extractor, rules + the chat model, or both runs",
    )
    parser.add_argument("--extractor-model", default="qwen2.5-1.5b")
    parser.add_argument(
        "--splits",
        default=",".join(SPLITS),
        help="long-term: the splits to run (all but test11 while developing the ninth round)",
    )
    parser.add_argument("--out", default="agent-memory", help="results file name (no .json)")
    args = parser.parse_args()
    splits = tuple(s for s in args.splits.split(",") if s)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        parser.error(f"unknown split(s) {sorted(unknown)}: use {', '.join(SPLITS)}")

    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    if not args.no_long_term:
        payload: dict[str, Any] = {"long_term": {}}
        kinds = ["rules", "model"] if args.extractor == "both" else [args.extractor]
        for kind in kinds:
            long_term = bench_long_term(settings, embedder, kind, args.extractor_model, splits)
            payload["long_term"][kind] = long_term
            report_long_term(long_term)
        write_results(args.out, payload)
    if not args.no_short_term:
        short = bench_short_term(settings, embedder, args.conversations, args.model)
        print(
            f"short-term window ({short['model']}, {args.conversations} conversations of "
            f"{min(short['turns_per_conversation'])}-{max(short['turns_per_conversation'])} "
            f"turns, fact in turn 1-3, asked last):"
        )
        for strategy, row in short["strategies"].items():
            print(
                f"  {strategy:18s} fact in context {row['fact_in_context']:.3f}  tokens median "
                f"{row['context_tokens_median']:7.1f}  summary calls {row['summary_calls']:3d}  "
                f"{row['seconds']:.1f} s"
            )
        print(f"  example summary: {short['example_summary'][:300]!r}")
        write_results("agent-memory-window", {"short_term": short})


if __name__ == "__main__":
    main()
