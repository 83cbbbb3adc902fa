"""Synthetic evaluation sets: question/answer/passage triples from ingested documents, reviewed.

``ragline eval generate --collection C`` samples passages (chunks) of a collection, spread
over its documents, and asks the configured model for a question each passage answers and
its short answer — structured output through the gateway (``generate(schema=...)``). Each
triple is written as one JSONL item with ``status: "pending"``, the source passage, and the
passage's document id in ``relevant`` so that the file is at once a retrieval eval set.

``ragline eval review FILE`` walks the pending items and lets a person accept, edit or drop
each one (:func:`review_items`; prompts on stdin, so it can be scripted by piping answers).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragline.errors import ConfigError, MalformedInputError, ModelError
from ragline.prompts import Prompt, PromptRegistry
from ragline.store.base import Store

DEFAULT_PROMPT = "synthetic_qa@v1"
STATUSES = ("pending", "accepted", "edited")


class SyntheticQA(BaseModel):
    """What the model is asked for (keys sort in this order for llama.cpp grammars)."""

    question: str = Field(min_length=3, max_length=200)
    reference_answer: str = Field(min_length=1, max_length=160)


@dataclass(frozen=True, slots=True)
class SourcePassage:
    chunk_id: str
    document_id: str
    source: str
    title: str
    text: str


@dataclass(slots=True)
class GenerationReport:
    """What ``generate`` produced: the items, and the passages it could not use."""

    items: list[dict[str, Any]]
    failures: list[str] = field(default_factory=list)
    model: str = ""
    prompt: str = ""


def sample_passages(
    store: Store, collection: str, n: int, *, seed: int, min_tokens: int
) -> list[SourcePassage]:
    """Up to ``n`` chunks, round-robin over the collection's documents in a seeded order."""
    index = store.load_index(collection)
    by_doc: dict[str, list[int]] = {}
    for row, doc in enumerate(index.doc_ids):
        if int(index.lengths[row]) >= min_tokens:
            by_doc.setdefault(doc, []).append(row)
    rng = random.Random(seed)
    docs = sorted(by_doc)
    rng.shuffle(docs)
    for rows in by_doc.values():
        rng.shuffle(rows)
    picked: list[int] = []
    depth = 0
    while len(picked) < n and any(len(by_doc[d]) > depth for d in docs):
        for d in docs:
            if depth < len(by_doc[d]) and len(picked) < n:
                picked.append(by_doc[d][depth])
        depth += 1
    ids = [index.chunk_ids[r] for r in picked]
    chunks = {c.id: c for c in store.get_chunks(collection, ids)}
    return [
        SourcePassage(
            chunk_id=index.chunk_ids[r],
            document_id=index.doc_ids[r],
            source=chunks[index.chunk_ids[r]].source,
            title=chunks[index.chunk_ids[r]].title,
            text=chunks[index.chunk_ids[r]].text,
        )
        for r in picked
        if index.chunk_ids[r] in chunks
    ]


def _item_id(passage: SourcePassage, question: str) -> str:
    return "syn-" + hashlib.sha256(f"{passage.chunk_id}\x00{question}".encode()).hexdigest()[:12]


def generate_items(
    passages: Sequence[SourcePassage],
    generate: Callable[..., SyntheticQA],
    template: Prompt,
    *,
    model: str,
    collection: str,
    max_tokens: int,
    concurrency: int = 1,
) -> GenerationReport:
    """One question/answer per passage; ``generate(messages, schema=..., **kw)`` is the
    gateway's structured generate. Passages whose call fails are listed in ``failures``."""

    def one(p: SourcePassage) -> dict[str, Any] | str:
        values = {"passage": p.text}
        if "title" in template.variables:  # an optional slot for prompts that want it
            values["title"] = p.title
        messages = template.render(**values)
        try:
            qa = generate(messages, schema=SyntheticQA, temperature=0.0, max_tokens=max_tokens)
        except ModelError as exc:
            return f"{p.source} ({p.chunk_id}): {type(exc).__name__}: {exc.message}"
        return {
            "id": _item_id(p, qa.question),
            "question": qa.question.strip(),
            "answer": qa.reference_answer.strip(),
            "relevant": [p.document_id],
            "source_passage": p.text,
            "source": p.source,
            "chunk_id": p.chunk_id,
            "status": "pending",
            "generator": {"model": model, "prompt": template.stamp, "collection": collection},
        }

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(one, passages))
    report = GenerationReport(items=[], model=model, prompt=template.stamp)
    for r in results:
        (report.failures if isinstance(r, str) else report.items).append(r)  # type: ignore[arg-type]
    return report


def generate_synthetic(
    store: Store,
    gateway: Any,
    collection: str,
    *,
    n: int = 20,
    model: str,
    seed: int,
    min_tokens: int,
    max_tokens: int,
    concurrency: int = 1,
    prompt: str | None = None,
    prompts: PromptRegistry,
) -> GenerationReport:
    """Sample passages of ``collection`` and generate one triple for each; ``prompt`` is a
    prompt reference (default ``synthetic_qa@v1``) that ``prompts`` resolves."""
    if n < 1:
        raise ConfigError("ask for at least one question (--n)")
    template = prompts.get(prompt or DEFAULT_PROMPT)
    if "passage" not in template.variables:
        raise ConfigError(f"prompt {template.ref} has no {{{{passage}}}} slot")
    passages = sample_passages(store, collection, n, seed=seed, min_tokens=min_tokens)
    if not passages:
        raise ConfigError(
            f"collection {collection!r} has no passage of {min_tokens}+ tokens",
            hint="ingest documents first, or lower eval.synthetic_min_tokens",
        )

    def call(messages: Any, **kw: Any) -> SyntheticQA:
        return gateway.generate(messages, model=model, **kw)

    return generate_items(
        passages,
        call,
        template,
        model=model,
        collection=collection,
        max_tokens=max_tokens,
        concurrency=concurrency,
    )


# --------------------------------------------------------------------------- files


def read_items(path: Path) -> list[dict[str, Any]]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(path), f"cannot read: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedInputError(f"{path}:{n}", f"not JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise MalformedInputError(f"{path}:{n}", "each line must be a JSON object")
            items.append(obj)
    return items


def write_items(path: Path, items: Sequence[dict[str, Any]]) -> None:
    """Write JSONL atomically (a temp file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8"
    )
    tmp.replace(path)


# --------------------------------------------------------------------------- review


@dataclass(slots=True)
class ReviewReport:
    """The reviewed items (dropped ones removed) and what happened to them."""

    items: list[dict[str, Any]]
    accepted: int = 0
    edited: int = 0
    dropped: int = 0
    pending: int = 0
    #: the reviewer stopped early (``q`` or end of input): later items stay pending
    stopped: bool = False


def _show(item: dict[str, Any], number: int, total: int) -> str:
    passage = " ".join(str(item.get("source_passage", "")).split())
    if len(passage) > 600:
        passage = passage[:600] + " …"
    return (
        f"\n[{number}/{total}] {item.get('id', '')}  ({item.get('source', '')})\n"
        f"  passage:  {passage}\n"
        f"  question: {item.get('question', '')}\n"
        f"  answer:   {item.get('answer', '')}\n"
    )


def review_items(
    items: Sequence[dict[str, Any]],
    ask: Callable[[str], str | None],
    say: Callable[[str], None],
) -> ReviewReport:
    """Walk the pending items: ``a`` accept, ``e`` edit, ``d`` drop, ``s`` skip, ``q`` quit.

    ``ask(prompt)`` returns the reviewer's line, or None at the end of input (treated as
    quit). When editing, an empty line keeps the current text.
    """
    out: list[dict[str, Any]] = []
    report = ReviewReport(items=out)
    pending = [i for i, it in enumerate(items) if it.get("status", "pending") == "pending"]
    todo = set(pending)
    order = {i: n for n, i in enumerate(pending, 1)}
    for i, original in enumerate(items):
        item = dict(original)
        if i not in todo or report.stopped:
            out.append(item)
            continue
        say(_show(item, order[i], len(pending)))
        while True:
            choice = ask("[a]ccept, [e]dit, [d]rop, [s]kip, [q]uit? ")
            choice = "q" if choice is None else choice.strip().lower()[:1]
            if choice in ("a", "e", "d", "s", "q"):
                break
            say("please answer a, e, d, s or q")
        if choice == "q":
            report.stopped = True
            out.append(item)
            continue
        if choice == "d":
            report.dropped += 1
            continue
        if choice == "a":
            item["status"] = "accepted"
            report.accepted += 1
        elif choice == "e":
            question = ask(f"question [{item.get('question', '')}]: ")
            answer = ask(f"answer [{item.get('answer', '')}]: ")
            changed = {}
            if question and question.strip():
                changed["question"] = question.strip()
            if answer and answer.strip():
                changed["answer"] = answer.strip()
            if changed:
                item["original"] = {k: item.get(k) for k in changed}
                item.update(changed)
                item["status"] = "edited"
                report.edited += 1
            else:
                item["status"] = "accepted"
                report.accepted += 1
        out.append(item)
    report.pending = sum(1 for it in out if it.get("status", "pending") == "pending")
    return report


__all__ = [
    "DEFAULT_PROMPT",
    "GenerationReport",
    "ReviewReport",
    "SourcePassage",
    "SyntheticQA",
    "generate_items",
    "generate_synthetic",
    "read_items",
    "review_items",
    "sample_passages",
    "write_items",
]
