"""Typed values passed between ragline's layers: documents, chunks, hits, model results,
answers, reports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ragline.errors import ModelError

SearchMode = Literal["bm25", "dense", "hybrid"]


def content_hash(text: str) -> str:
    """Stable id of a text: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_id(collection: str, key: str) -> str:
    """Stable document id, the same in every store backend: a hash of the collection name
    and the document key (re-ingesting a document keeps its id)."""
    return hashlib.sha256(f"{collection}\x00{key}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Section:
    """A structural unit of a loaded document: text under one heading path, on one page.

    ``char_start`` is the offset of ``text`` in the document's full ``text``.
    """

    text: str
    char_start: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """One document as a loader produced it, already cleaned.

    ``key`` identifies it inside a collection (a file path, or ``path#id`` for a JSONL line);
    ``text`` is the full cleaned text, and ``sections`` cover it in order.
    """

    key: str
    source: str
    title: str
    text: str
    sections: tuple[Section, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title + "\x00" + self.text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document, with where it came from."""

    id: str
    document_id: str
    ordinal: int
    text: str
    source: str
    title: str = ""
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    token_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Document key (file path or ``path#id``); BEIR runs report it as the document id.
    document_key: str = ""

    def indexed_text(self, contextual: bool = True) -> str:
        """The text that is embedded and BM25-indexed: title and heading path, then the text."""
        if not contextual:
            return self.text
        context = [p for p in (self.title, *self.heading_path) if p]
        # Skip a heading that the chunk already starts with.
        if context and self.text.startswith(context[-1]):
            context = context[:-1]
        return "\n".join([*dict.fromkeys(context), self.text]) if context else self.text

    @property
    def record_id(self) -> str | None:
        """The ``_id`` of the JSONL record the chunk comes from (None: not from a JSONL
        line); the same id is the ``path#_id`` suffix of :attr:`document_key`."""
        value = self.metadata.get("doc_id")
        if value is not None:
            return str(value)
        path, sep, rid = self.document_key.rpartition("#")
        return rid if sep and path.endswith(".jsonl") else None

    def provenance(self) -> dict[str, Any]:
        """Where the chunk comes from, as JSON-ready fields (shared by hits and passages)."""
        return {
            "document_id": self.document_id,
            "document_key": self.document_key,
            "record_id": self.record_id,
            "source": self.source,
            "title": self.title,
            "heading_path": list(self.heading_path),
            "page": self.page,
        }

    @property
    def location(self) -> str:
        """Human-readable location: ``path p.3 › Heading › Sub``."""
        parts = [self.source]
        if self.page is not None:
            parts.append(f"p.{self.page}")
        if self.heading_path:
            parts.append(" › ".join(self.heading_path))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked search result."""

    chunk: Chunk
    score: float
    rank: int
    mode: SearchMode
    #: Per-retriever scores that went into ``score`` (e.g. ``{"bm25": 12.1, "dense": 0.61}``).
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "score": self.score,
            "scores": self.scores,
            "chunk_id": c.id,
            **c.provenance(),
            "char_start": c.char_start,
            "char_end": c.char_end,
            "text": c.text,
            "metadata": c.metadata,
        }


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrict a search: a source glob (``*.pdf``, ``docs/**``) and metadata equalities."""

    source_glob: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.source_glob is None and not self.metadata


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    documents: int
    chunks: int
    created_at: str


@dataclass(frozen=True, slots=True)
class CollectionStats:
    name: str
    documents: int
    chunks: int
    tokens: int
    vocabulary: int
    embedding_dim: int | None
    embedder: str | None
    sources: dict[str, int]  # file extension -> documents
    database_bytes: int


@dataclass(slots=True)
class IngestFailure:
    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    collection: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    pruned: int = 0
    failed: list[IngestFailure] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    #: Chunks a document guard flagged (``metadata["guard"]``; ``guard.document_action``).
    flagged_chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.pruned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "pruned": self.pruned,
            "failed": [{"source": f.source, "reason": f.reason} for f in self.failed],
            "chunks": self.chunks,
            "flagged_chunks": self.flagged_chunks,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Passage:
    """A numbered passage put in front of the model: a query-focused excerpt of a chunk.

    ``number`` is the ``[n]`` the model cites; ``text`` is what the model saw (whole sentences
    of ``chunk.text``); ``relevance`` the cosine of question and chunk that admitted it.
    """

    number: int
    chunk: Chunk
    text: str
    relevance: float
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "number": self.number,
            "passage_id": c.id,
            **c.provenance(),
            "location": c.location,
            "text": self.text,
            "relevance": round(self.relevance, 4),
            "scores": self.scores,
        }


#: How a sentence of the model's answer fared in the check.
SentenceStatus = Literal["supported", "attached", "flagged", "dropped"]


@dataclass(frozen=True, slots=True)
class Citation:
    """A ``[n]`` in the final answer: which passage backs which sentence, and how well.

    ``lexical`` is the share of the sentence's content words found in the passage,
    ``semantic`` the embedding cosine of the sentence and the passage's closest sentence.
    ``attached``: ragline added it (the model cited nothing, or a passage that did not
    support the sentence while another one did).
    """

    number: int
    passage: Passage
    sentence: str
    lexical: float
    semantic: float
    supported: bool
    attached: bool = False

    def to_dict(self) -> dict[str, Any]:
        p = self.passage.to_dict()
        return {
            "number": self.number,
            "sentence": self.sentence,
            "supported": self.supported,
            "attached": self.attached,
            "lexical": round(self.lexical, 4),
            "semantic": round(self.semantic, 4),
            **{k: p[k] for k in ("passage_id", "document_id", "document_key", "record_id")},
            "source": p["source"],
            **{k: p[k] for k in ("page", "heading_path", "location", "text")},
        }


@dataclass(frozen=True, slots=True)
class CheckedSentence:
    """One sentence of the model's draft and the verdict on it.

    ``reason`` says why a sentence was not kept as is: ``unsupported`` (no passage backs
    it), ``off_topic`` (it does not touch the question), ``filler`` (no content words),
    ``decline`` (the model said it cannot answer) or ``bad_citation`` (it cites a passage
    number that was not in the prompt).
    """

    text: str
    status: SentenceStatus
    citations: tuple[Citation, ...] = ()
    reason: str | None = None
    cited: tuple[int, ...] = ()

    @property
    def kept(self) -> bool:
        return self.status != "dropped"

    def rendered(self) -> str:
        """The sentence as it appears in the answer: text, then its ``[n]`` markers."""
        marks = "".join(f"[{n}]" for n in dict.fromkeys(c.number for c in self.citations))
        body = self.text
        if marks:
            stop = body[-1] if body and body[-1] in ".!?" else ""
            body = f"{body[: len(body) - len(stop)]} {marks}{stop}"
        return f"{body} (unsupported)" if self.status == "flagged" else body

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "status": self.status,
            "reason": self.reason,
            "cited": list(self.cited),
            "citations": [c.number for c in self.citations],
        }


#: Why an answer declined: nothing relevant was retrieved, the answerability model found
#: the passages do not answer the question, the model said so itself, or no sentence of its
#: draft was supported by the passages; or a guard refused: ``blocked`` (a clear refusal
#: naming the guard) or ``handoff`` (the conversation went to the human inbox, also the
#: router's handoff route); or the router found a request the assistant does not do
#: (``out_of_scope``).
DeclineReason = Literal[
    "no_relevant_passages",
    "not_answerable",
    "model_declined",
    "unsupported",
    "blocked",
    "handoff",
    "out_of_scope",
]

#: How an answer was written: quoted from a passage, or generated and checked.
AnswerStyle = Literal["extractive", "generative", "auto"]


# --------------------------------------------------------------------------- model results
# What a chat model call returns (``ragline.models.chat`` re-exports these): here, in the
# lowest layer, because an :class:`Answer` carries its model call's result.


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a call consumed. ``estimated`` is set when the provider reported none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "estimated": self.estimated,
        }


def sum_usage(usages: Iterable[Usage]) -> Usage:
    total = Usage()
    for u in usages:
        total = total + u
    return total


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one model: which, how long, and why it failed (``error`` None: it worked)."""

    model: str
    duration_s: float
    error: str | None = None
    error_type: str | None = None
    status_code: int | None = None
    #: What the model said, when it answered but the answer was unusable (structured output).
    output: str | None = None

    @classmethod
    def failed(cls, model: str, exc: BaseException, duration_s: float) -> Attempt:
        message = exc.message if isinstance(exc, ModelError) else str(exc)
        return cls(
            model=model,
            duration_s=duration_s,
            error=message,
            error_type=type(exc).__name__,
            status_code=getattr(exc, "status_code", None),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call a model asked for: the tool's name and its arguments.

    ``id`` is the provider's call id (OpenAI's ``call_…``; None when the model did not give
    one). ``raw_arguments`` keeps the text of arguments that were not a JSON object.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "arguments"}``: the form of ``ragline tools call``'s output."""
        return {"name": self.name, "arguments": self.arguments}

    def to_openai(self, index: int = 0) -> dict[str, Any]:
        """An entry of OpenAI's ``message.tool_calls`` (arguments as JSON text)."""
        return {
            "id": self.id or f"call_{index}",
            "type": "function",
            "function": {
                "name": self.name,
                "arguments": json.dumps(self.arguments, ensure_ascii=False),
            },
        }


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished generation. ``cost`` is in USD from the price table (None: no price known).

    ``ttft_s`` is the time to the first token (None where the provider did not stream);
    ``logprob_mean`` the mean token log-probability (None unless requested and available);
    ``candidates`` the other results when several samples were drawn (best-of-N).
    """

    text: str
    usage: Usage
    model: str
    finish_reason: str = "stop"
    cost: float | None = None
    logprob_mean: float | None = None
    ttft_s: float | None = None
    duration_s: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    candidates: tuple[ChatResult, ...] = ()
    #: Function calls the model asked for (OpenAI's ``tool_calls``), in order.
    tool_calls: tuple[ToolCall, ...] = ()

    def replace(self, **changes: Any) -> ChatResult:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "usage": self.usage.to_dict(),
            "model": self.model,
            "finish_reason": self.finish_reason,
            "cost": self.cost,
            "logprob_mean": self.logprob_mean,
            "ttft_s": self.ttft_s,
            "duration_s": self.duration_s,
            "attempts": [a.to_dict() for a in self.attempts],
            "candidates": [c.to_dict() for c in self.candidates],
            "tool_calls": [c.to_dict() for c in self.tool_calls],
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded answer, or a reasoned decline with the best passages to read instead.

    ``text`` is the checked answer with ``[n]`` markers (or the decline message);
    ``draft`` what the model wrote before the check; ``query`` what was searched (a
    follow-up rewritten into a standalone question); ``prompt_version`` the template used
    (``answer@v2``) and ``prompt_sha256`` a hash of its file; ``result`` the model call
    (usage, cost, timings; None when nothing was generated); ``timings`` in seconds.
    """

    question: str
    text: str
    declined: bool
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    sentences: tuple[CheckedSentence, ...] = ()
    decline_reason: DeclineReason | None = None
    query: str = ""
    draft: str = ""
    prompt_version: str = ""
    prompt_sha256: str = ""
    model: str | None = None
    result: ChatResult | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: How the text was written: ``extractive`` (quoted) or ``generative`` (None: declined
    #: before writing anything).
    style: AnswerStyle | None = None
    #: The answerability score (0-1; None: not computed, e.g. nothing relevant retrieved).
    answerability: float | None = None
    #: Why the answer declined, in words (empty for an answer).
    decline_detail: str = ""
    #: Served from a cache: ``exact`` or ``semantic`` (None: answered now).
    cached: Literal["exact", "semantic"] | None = None
    #: The guard decision that refused or changed this answer (``Decision.to_dict()``, with
    #: ``handoff_id`` for a handoff); None when no guard acted.
    guard: dict[str, Any] | None = None

    @property
    def handoff_id(self) -> str | None:
        """The human handoff inbox item this answer opened (None: not handed over)."""
        value = (self.guard or {}).get("handoff_id")
        return str(value) if value else None

    @property
    def cited_passages(self) -> tuple[Passage, ...]:
        """The passages the answer cites, each once, in citation order."""
        return tuple({c.number: c.passage for c in self.citations}.values())

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "declined": self.declined,
            "decline_reason": self.decline_reason,
            "decline_detail": self.decline_detail,
            "guard": self.guard,
            "answerability": (
                round(self.answerability, 4) if self.answerability is not None else None
            ),
            "style": self.style,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "sentences": [s.to_dict() for s in self.sentences],
            "draft": self.draft,
            "prompt_version": self.prompt_version,
            "prompt_sha256": self.prompt_sha256,
            "model": self.model,
            "usage": r.usage.to_dict() if r is not None else None,
            "cost": r.cost if r is not None else None,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "cached": self.cached,
        }
