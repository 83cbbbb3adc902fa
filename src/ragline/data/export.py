"""Training data from what ragline recorded: chat, preference and embedding-pair exports.

Examples come from one of four sources (each gives questions, answers and the passages
they were answered from, with their document ids):

* ``feedback``: judged answers in the trace store (:func:`ragline.feedback.export.
  iter_examples`): thumbs, ratings, comments and the implicit signals;
* ``traces``: every traced answer (``ask``/``chat``), judged or not; answers that were
  declined are left out;
* ``synthetic``: a review file from ``ragline data synth`` — only lines marked
  ``"review": "accepted"`` (or ``status`` accepted/edited by ``ragline eval review``);
* ``file``: any JSONL of QA pairs (``question``/``answer``, optional ``passage``,
  ``source_passage``, ``positive``, ``contexts``, ``doc_id``/``relevant``, ``label``,
  ``rejected``) or chat examples (``messages``).

and are written in one of three formats (field names are what finetuning reads):

=================  =======================================================================
format             one line
=================  =======================================================================
``chat``           ``{"messages": [system (the passages, when known), user, assistant],
                   "meta": {...}}`` — supervised finetuning; answers with negative
                   feedback are left out
``preference``     ``{"prompt", "chosen", "rejected", "meta"}`` — DPO: for one question
                   (case and spacing folded), an answer with positive feedback against one
                   with negative feedback; an answer the user corrected (``correction``
                   signal) against the next turn's answer when that one was not judged bad;
                   or a file's own ``chosen``/``rejected``
``embedding-pairs``  ``{"query", "positive", "negative", "meta"}`` — the question, the
                   passage it was answered from, and a hard negative: a top hit of the
                   retriever from another document (``data.hard_negatives`` per query),
                   never one holding 80% of the positive's words (a false negative)
=================  =======================================================================

**Split by document**: examples that share a document (through their passages, positives
or negatives' sources) are one group, and whole groups go to the test split until it holds
``test_fraction`` of the documents (seeded), so no test question shares a passage with a
training one. Hard negatives are mined after the split, never from the other split's
documents.

**Contamination**: the questions and answers of the training split are checked against
evaluation sets with the n-gram contamination metric (:mod:`ragline.evaluate.metrics.
contamination`, 13-grams): the report says which evaluation items overlap the training
data, and training examples sharing an n-gram with an evaluation item are dropped
(``--keep-contaminated`` keeps them). Passages are not checked: they are the corpus both
sides retrieve from.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ragline.data.records import DataRecord
from ragline.errors import ConfigError, DatasetError
from ragline.evaluate.metrics.contamination import ContaminationReport, NgramIndex, contamination

ExportFormat = Literal["chat", "preference", "embedding-pairs"]
ExportSource = Literal["traces", "feedback", "synthetic", "file"]
FORMATS: tuple[str, ...] = ("chat", "preference", "embedding-pairs")
SOURCES: tuple[str, ...] = ("traces", "feedback", "synthetic", "file")

SYSTEM_PROMPT = (
    "Answer the question from the numbered passages only, citing them as [n]. "
    "If they do not answer it, say so."
)


@dataclass(frozen=True, slots=True)
class PassageRef:
    """A passage an example was answered from."""

    text: str
    doc_id: str = ""
    chunk_id: str = ""


@dataclass(slots=True)
class Example:
    """One question with its answer(s), passages and documents, from any source."""

    id: str
    question: str
    answer: str | None = None
    passages: list[PassageRef] = field(default_factory=list)
    label: str | None = None  # positive | negative | neutral (feedback), None if unknown
    rejected: str | None = None  # a worse answer, when the source has one
    collection: str | None = None
    conversation_id: str | None = None
    turn: int | None = None
    corrected: bool = False
    source: str = ""

    @property
    def doc_ids(self) -> list[str]:
        ids = [p.doc_id or p.chunk_id for p in self.passages]
        return sorted({i for i in ids if i})


# --------------------------------------------------------------------------- sources


def _passages_of(data: dict[str, Any]) -> list[PassageRef]:
    doc = ""
    for key in ("doc_id", "document_id"):
        if isinstance(data.get(key), str):
            doc = data[key]
    relevant = data.get("relevant")
    if not doc and isinstance(relevant, list) and relevant and isinstance(relevant[0], str):
        doc = relevant[0]
    chunk = data.get("chunk_id") if isinstance(data.get("chunk_id"), str) else ""
    for key in ("source_passage", "passage", "positive", "context"):
        if isinstance(data.get(key), str) and data[key].strip():
            return [PassageRef(data[key], doc, chunk)]
    out = []
    for c in data.get("contexts") or []:
        if isinstance(c, str):
            out.append(PassageRef(c, doc))
        elif isinstance(c, dict) and isinstance(c.get("text"), str):
            out.append(
                PassageRef(c["text"], str(c.get("doc_id") or doc), str(c.get("chunk_id") or ""))
            )
    return out


def examples_from_records(records: Sequence[DataRecord], *, source: str) -> list[Example]:
    """Examples from a JSONL file (``file``) or a review file (``synthetic``)."""
    out = []
    for rec in records:
        d = rec.data
        if source == "synthetic":
            review = d.get("review")
            status = d.get("status")
            if review != "accepted" and not (review is None and status in ("accepted", "edited")):
                continue
        question = d.get("question") or d.get("query") or d.get("prompt")
        answer = d.get("answer") or d.get("chosen")
        messages = d.get("messages")
        if not isinstance(question, str) and isinstance(messages, list):
            users = [
                m.get("content")
                for m in messages
                if isinstance(m, dict) and m.get("role") == "user"
            ]
            bots = [
                m.get("content")
                for m in messages
                if isinstance(m, dict) and m.get("role") == "assistant"
            ]
            question = users[-1] if users else None
            answer = bots[-1] if bots else None
        if not isinstance(question, str) or not question.strip():
            continue
        rejected = d.get("rejected") if isinstance(d.get("rejected"), str) else None
        label = d.get("label") if isinstance(d.get("label"), str) else None
        out.append(
            Example(
                id=rec.id,
                question=question.strip(),
                answer=answer.strip() if isinstance(answer, str) and answer.strip() else None,
                passages=_passages_of(d),
                label=label,
                rejected=rejected,
                collection=d.get("collection") if isinstance(d.get("collection"), str) else None,
                source=source,
            )
        )
    return out


ChunkLookup = Callable[[str, list[str]], dict[str, tuple[str, str]]]


def _trace_passages(
    trace: Any, collection: str | None, chunks: ChunkLookup | None
) -> list[PassageRef]:
    from ragline.feedback.export import _contexts  # the search span's hits

    hits = trace.root.attributes.get("hits")
    if not isinstance(hits, list) or not hits:
        hits = _contexts(trace)
    ids = [str(h["chunk_id"]) for h in hits if isinstance(h, dict) and h.get("chunk_id")]
    if not ids or chunks is None or not collection:
        return []
    found = chunks(collection, ids)
    return [PassageRef(found[i][1], found[i][0], i) for i in ids if i in found]


def examples_from_store(
    traces: Any,
    *,
    source: Literal["traces", "feedback"],
    chunks: ChunkLookup | None,
    since_ns: int | None = None,
) -> list[Example]:
    """Examples from the trace store: judged answers (``feedback``) or every answer."""
    from ragline.feedback.export import iter_examples
    from ragline.store.traces_base import FeedbackQuery, TraceQuery
    from ragline.trace import semconv as sc

    labels: dict[str, str] = {}
    corrected: set[str] = set()
    if source == "feedback":
        for fx in iter_examples(traces, since_ns=since_ns):
            labels[fx.id] = fx.label
            if fx.signals.get("correction"):
                corrected.add(fx.id)
        trace_ids = list(labels)
    else:
        summaries = traces.list_traces(
            TraceQuery(since_ns=since_ns, limit=None, newest_first=False)
        )
        trace_ids = [s.trace_id for s in summaries if s.name in ("ask", "chat")]
        from ragline.feedback.signals import summarize_feedback

        records = traces.list_feedback(FeedbackQuery(since_ns=None))
        by_trace: dict[str, list[Any]] = {}
        for r in records:
            by_trace.setdefault(r.trace_id, []).append(r)
        for tid, recs in by_trace.items():
            folded = summarize_feedback(recs)
            labels[tid] = folded["label"]
            if folded["signals"].get("correction"):
                corrected.add(tid)
    if source == "feedback":  # the turn after a correction answers what was meant
        for tid in list(corrected):
            trace = traces.get_trace(tid)
            cid = trace.summary.conversation_id if trace is not None else None
            if cid is None or trace is None or trace.summary.turn is None:
                continue
            turns = traces.list_traces(TraceQuery(conversation_id=cid, limit=None))
            nxt = [t.trace_id for t in turns if t.turn == trace.summary.turn + 1]
            trace_ids.extend(t for t in nxt if t not in trace_ids)
    out = []
    for tid in trace_ids:
        trace = traces.get_trace(tid)
        if trace is None:
            continue
        root = trace.root.attributes
        s = trace.summary
        answer = root.get(sc.ANSWER)
        if not isinstance(answer, str) or root.get(sc.ABSTAINED) or not s.query:
            continue
        out.append(
            Example(
                id=tid,
                question=s.query,
                answer=answer,
                passages=_trace_passages(trace, s.collection, chunks),
                label=labels.get(tid),
                collection=s.collection,
                conversation_id=s.conversation_id,
                turn=s.turn,
                corrected=tid in corrected,
                source=source,
            )
        )
    return out


# --------------------------------------------------------------------------- formats


def _meta(ex: Example, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"id": ex.id, "source": ex.source, "doc_ids": ex.doc_ids}
    if ex.label:
        meta["label"] = ex.label
    meta.update(extra)
    return meta


def to_chat(ex: Example, *, context: bool = True) -> dict[str, Any] | None:
    if not ex.answer or ex.label == "negative" or ex.corrected:
        return None
    messages: list[dict[str, str]] = []
    if context and ex.passages:
        numbered = "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(ex.passages, 1))
        messages.append({"role": "system", "content": f"{SYSTEM_PROMPT}\n\n{numbered}"})
    messages.append({"role": "user", "content": ex.question})
    messages.append({"role": "assistant", "content": ex.answer})
    return {"messages": messages, "meta": _meta(ex)}


def _norm_question(q: str) -> str:
    return " ".join(re.findall(r"\w+", q.casefold()))


def to_preferences(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Preference pairs (see the module docstring), in the examples' order."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(prompt: str, chosen: str, rejected: str, meta: dict[str, Any]) -> None:
        if chosen.strip() == rejected.strip() or (chosen, rejected) in seen:
            return
        seen.add((chosen, rejected))
        out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": meta})

    for ex in examples:
        if ex.answer and ex.rejected:
            add(ex.question, ex.answer, ex.rejected, _meta(ex, pair="file"))
    by_q: dict[str, list[Example]] = {}
    for ex in examples:
        if ex.answer:
            by_q.setdefault(_norm_question(ex.question), []).append(ex)
    for group in by_q.values():
        good = [e for e in group if e.label == "positive"]
        bad = [e for e in group if e.label == "negative"]
        for g, b in zip(good, bad, strict=False):
            add(
                g.question,
                g.answer or "",
                b.answer or "",
                _meta(b, chosen_id=g.id, pair="feedback"),
            )
    by_conv: dict[str, list[Example]] = {}
    for ex in examples:
        if ex.conversation_id and ex.turn is not None:
            by_conv.setdefault(ex.conversation_id, []).append(ex)
    for turns in by_conv.values():
        turns.sort(key=lambda e: e.turn or 0)
        for prev, nxt in itertools.pairwise(turns):
            if prev.corrected and prev.answer and nxt.answer and nxt.label != "negative":
                meta = _meta(prev, chosen_id=nxt.id, pair="correction")
                add(prev.question, nxt.answer, prev.answer, meta)
    return out


NegativeMiner = Callable[[Example, set[str]], list[PassageRef]]


def _same_passage(a: str, b: str) -> bool:
    """A "negative" that holds the positive (or mostly its words) is a false negative."""
    wa, wb = set(re.findall(r"\w+", a.casefold())), set(re.findall(r"\w+", b.casefold()))
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) >= 0.8


def to_triples(
    ex: Example, mine: NegativeMiner, *, exclude_docs: set[str], limit: int = 1
) -> list[dict[str, Any]]:
    """(query, positive, hard negative) triples of one example: up to ``limit`` negatives
    from what ``mine`` returns, skipping any that holds the positive passage's words."""
    if not ex.passages:
        return []
    positive = ex.passages[0]
    out = []
    for n in mine(ex, set(ex.doc_ids) | exclude_docs):
        if len(out) >= limit:
            break
        if not n.text.strip() or _same_passage(n.text, positive.text):
            continue
        out.append(
            {
                "query": ex.question,
                "positive": positive.text,
                "negative": n.text,
                "meta": _meta(ex, negative_doc=n.doc_id or n.chunk_id),
            }
        )
    return out


# --------------------------------------------------------------------------- split


def split_by_document(
    examples: Sequence[Example], *, test_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Train and test examples such that no document is on both sides (see the module
    docstring). Examples without a document are grouped on their own."""
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"--test-fraction is in [0, 1), got {test_fraction}")
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = []
    for ex in examples:
        docs = ex.doc_ids or [f"example:{ex.id}"]
        keys.append(docs[0])
        for d in docs[1:]:
            a, b = find(docs[0]), find(d)
            if a != b:
                parent[b] = a
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(find(k), []).append(i)
    docs_in: dict[str, set[str]] = {g: set() for g in groups}
    for g, members in groups.items():
        for i in members:
            docs_in[g].update(examples[i].doc_ids or [f"example:{examples[i].id}"])
    total_docs = sum(len(v) for v in docs_in.values())
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}\x00{g}".encode()).hexdigest())
    test_groups: set[str] = set()
    taken = 0
    for g in order:
        if taken >= test_fraction * total_docs:
            break
        test_groups.add(g)
        taken += len(docs_in[g])
    train = [ex for i, ex in enumerate(examples) if find(keys[i]) not in test_groups]
    test = [ex for i, ex in enumerate(examples) if find(keys[i]) in test_groups]
    return train, test


# --------------------------------------------------------------------------- contamination


@dataclass(slots=True)
class ContaminationCheck:
    """Evaluation items overlapping the training data; training examples flagged (and
    dropped, unless kept on request)."""

    report: ContaminationReport
    flagged: list[str]
    dropped: bool
    eval_items: int

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["contaminated_ids"] = d["contaminated_ids"][:50]
        return {
            **d,
            "eval_items": self.eval_items,
            "train_examples_flagged": len(self.flagged),
            "train_examples_dropped": len(self.flagged) if self.dropped else 0,
            "flagged_ids": self.flagged[:50],
        }


def eval_texts(records: Iterable[DataRecord]) -> dict[str, str]:
    """An evaluation set's items as id -> question (and answer) text."""
    out = {}
    for rec in records:
        d = rec.data
        parts = [d.get(k) for k in ("question", "query", "prompt", "answer", "text")]
        text = "\n".join(p for p in parts if isinstance(p, str))
        if text:
            out[rec.id] = text
    return out


def check_contamination(
    train: Sequence[Example], evals: dict[str, str], *, n: int, drop: bool
) -> tuple[list[Example], ContaminationCheck]:
    def text_of(ex: Example) -> str:
        return "\n".join(t for t in (ex.question, ex.answer or "", ex.rejected or "") if t)

    report = contamination(evals, [text_of(ex) for ex in train], n=n)
    index = NgramIndex(n).update(evals.values())
    flagged = {ex.id for ex in train if index.overlap(text_of(ex))[1] > 0}
    kept = [ex for ex in train if ex.id not in flagged] if drop else list(train)
    ordered = [ex.id for ex in train if ex.id in flagged]
    return kept, ContaminationCheck(report, ordered, drop, len(evals))


def require_examples(examples: Sequence[Example], source: str, fmt: str) -> None:
    if not examples:
        hints = {
            "feedback": "record feedback first: `ragline feedback add TRACE --up`",
            "traces": "answer some questions first (`ragline ask`) with tracing on",
            "synthetic": "accept items first: `ragline data review FILE --accept ID`",
            "file": "each line needs a question (or query/prompt, or chat messages)",
        }
        raise DatasetError(
            f"no usable example from {source} for the {fmt} format", hint=hints.get(source)
        )


__all__ = [
    "FORMATS",
    "SOURCES",
    "SYSTEM_PROMPT",
    "ContaminationCheck",
    "Example",
    "ExportFormat",
    "ExportSource",
    "NegativeMiner",
    "PassageRef",
    "check_contamination",
    "eval_texts",
    "examples_from_records",
    "examples_from_store",
    "require_examples",
    "split_by_document",
    "to_chat",
    "to_preferences",
    "to_triples",
]
