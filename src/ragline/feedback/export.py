"""Feedback as an evaluation data set: one JSON line per judged answer.

Each line holds what the evaluation harness needs to replay or score the answer::

    {"id": "<trace id>", "question": "...", "answer": "...",
     "contexts": [{"chunk_id": "...", "source": "...", "score": 0.61}],
     "collection": "handbook", "model": "smollm2", "created_at": "2026-…Z",
     "label": "negative", "thumbs": -1, "rating": 2, "comments": ["..."],
     "signals": {"correction": true, "regeneration": 0, "early_stop": false,
                 "conversation_length": 3},
     "prompt": {"template": "answer", "version": "3"}}

:func:`read_dataset` reads it back as typed :class:`FeedbackExample` s; the evaluation
harness reads it as is (``ragline.evaluate.spec.load_dataset``: ``id`` and ``question``
fields, ``output_field: answer`` for the answer given, ``slices: [label]``). Traces without
feedback are left out; ``include_implicit=False`` keeps only explicit judgements.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ragline.errors import MalformedInputError
from ragline.feedback.signals import EXPLICIT_KINDS, summarize_feedback
from ragline.store.traces_base import FeedbackQuery, FeedbackRecord, TraceRecord, TraceStore
from ragline.trace import semconv as sc


@dataclass(frozen=True, slots=True)
class FeedbackExample:
    """One judged answer."""

    id: str
    question: str
    answer: str | None
    label: str
    contexts: list[dict[str, Any]] = field(default_factory=list)
    collection: str | None = None
    model: str | None = None
    created_at: str | None = None
    thumbs: int | None = None
    rating: int | None = None
    comments: list[str] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)
    prompt: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _contexts(trace: TraceRecord) -> list[dict[str, Any]]:
    """The chunks the answer was given: the hits of the last retrieval step."""
    for span in reversed(trace.spans):
        hits = span.attributes.get("hits")
        if isinstance(hits, list) and span.name in ("search", "rerank", "fetch"):
            return [h for h in hits if isinstance(h, dict)]
    return []


def example_of(trace: TraceRecord, records: list[FeedbackRecord]) -> FeedbackExample:
    root = trace.root.attributes
    s = trace.summary
    answer = root.get(sc.ANSWER)
    if answer is None and trace.root.name == sc.GENERATION:
        answer = root.get(sc.OUTPUT)
    folded = summarize_feedback(records)
    prompt = {
        k: root[key]
        for k, key in (("template", sc.PROMPT_TEMPLATE), ("version", sc.PROMPT_VERSION))
        if key in root
    }
    return FeedbackExample(
        id=s.trace_id,
        question=s.query or "",
        answer=answer if isinstance(answer, str) else None,
        label=folded["label"],
        contexts=_contexts(trace),
        collection=s.collection,
        model=s.model,
        created_at=dt.datetime.fromtimestamp(s.start_ns / 1e9, dt.UTC).isoformat(
            timespec="seconds"
        ),
        thumbs=folded["thumbs"],
        rating=folded["rating"],
        comments=folded["comments"],
        signals=folded["signals"],
        prompt=prompt,
    )


def iter_examples(
    store: TraceStore,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    include_implicit: bool = True,
) -> Iterator[FeedbackExample]:
    """Judged answers whose feedback was given in the window, oldest first."""
    records = store.list_feedback(FeedbackQuery(since_ns=since_ns, until_ns=until_ns))
    by_trace: dict[str, list[FeedbackRecord]] = {}
    for r in records:
        if include_implicit or r.kind in EXPLICIT_KINDS:
            by_trace.setdefault(r.trace_id, []).append(r)
    for trace_id, recs in by_trace.items():
        if all(r.kind == "conversation_length" for r in recs):
            continue  # a turn count alone judges nothing
        trace = store.get_trace(trace_id)
        if trace is not None:
            yield example_of(trace, recs)


def export_feedback(
    store: TraceStore,
    out: IO[str],
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    include_implicit: bool = True,
) -> int:
    """Write the data set as JSONL to ``out``; returns the number of lines."""
    n = 0
    for example in iter_examples(
        store, since_ns=since_ns, until_ns=until_ns, include_implicit=include_implicit
    ):
        out.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
        n += 1
    return n


def read_dataset(path: Path | str) -> list[FeedbackExample]:
    """Read a file written by :func:`export_feedback`."""
    examples = []
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(path), f"cannot read the feedback data set: {exc}") from exc
    known = set(FeedbackExample.__dataclass_fields__)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            examples.append(FeedbackExample(**{k: v for k, v in obj.items() if k in known}))
        except (json.JSONDecodeError, TypeError) as exc:
            raise MalformedInputError(f"{path}:{n}", f"not a feedback example ({exc})") from exc
    return examples


__all__ = ["FeedbackExample", "example_of", "export_feedback", "iter_examples", "read_dataset"]
