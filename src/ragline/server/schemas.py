"""Request and response bodies of the REST API (pydantic: they are the OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

COLLECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MetaValue = str | int | float | bool


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An error body (RFC 9457, ``application/problem+json``); see ``server.problems``."""

    model_config = ConfigDict(extra="allow")  # `errors` on 422, `retry_after`, `error` on /v1

    type: str = Field(description="urn:ragline:problem:<slug>")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    hint: str | None = Field(None, description="what to change to make the request work")
    instance: str | None = Field(None, description="the request path")


_PROBLEM_SCHEMA = Problem.model_json_schema()
_WHY = {
    400: "malformed JSON, or a request the server cannot serve as asked",
    401: "no API key, or an unknown or revoked one",
    403: "the key's role or collections do not cover this request",
    404: "no such collection, chunk, trace, model or handoff item",
    409: "the record's state forbids it (a message to a closed handoff item)",
    413: "the body or a file is larger than the server accepts",
    415: "a file type ragline cannot ingest",
    422: "the body does not match the schema",
    429: "too many requests: retry after `Retry-After` seconds",
    501: "a part of ragline this build lacks",
    502: "the model provider failed",
    503: "the server is busy or shutting down",
    504: "the model provider timed out",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
}

#: What every route that takes a key and a JSON body can answer besides success.
BODY_ERRORS = (400, 401, 403, 413, 422)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: each status documented as a problem body, so
    the OpenAPI document lists every status and content type the route really answers
    (``benchmarks/fuzz_api.py`` checks it)."""
    return {
        status: {
            "description": _WHY[status],
            "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in sorted(set(statuses))
    }


class CollectionCreate(_Body):
    name: str = Field(pattern=COLLECTION_NAME, description="letters, digits, '.', '_', '-'")


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int
    created_at: str


class DocumentIn(_Body):
    id: str = Field(min_length=1, max_length=256, description="re-sending an id updates it")
    text: str = Field(min_length=1)
    title: str = Field("", max_length=1000)
    metadata: dict[str, MetaValue] = Field(default_factory=dict)


class DocumentsIn(_Body):
    documents: list[DocumentIn] = Field(min_length=1, max_length=1000)


class IngestFailureOut(BaseModel):
    source: str
    reason: str


class IngestOut(BaseModel):
    collection: str
    added: int
    updated: int
    unchanged: int
    duplicates: int
    pruned: int
    failed: list[IngestFailureOut]
    chunks: int
    seconds: float


class SearchIn(_Body):
    query: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="hits wanted: retrieval.default_k if unset, server.max_k at most",
    )
    mode: Literal["bm25", "dense", "hybrid"] | None = Field(
        None, description="retrieval.default_mode if unset"
    )
    source: str | None = Field(None, max_length=500, description="glob on the source path")
    metadata: dict[str, MetaValue] | None = None


class HitOut(BaseModel):
    rank: int
    score: float
    scores: dict[str, float]
    chunk_id: str
    document_id: str
    document_key: str
    source: str
    title: str
    heading_path: list[str]
    page: int | None
    char_start: int
    char_end: int
    text: str
    metadata: dict[str, Any]
    location: str


class SearchOut(BaseModel):
    query: str
    collection: str
    mode: str
    k: int
    took_ms: float
    hits: list[HitOut]


class ChatMessageIn(_Body):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=20_000)


class AskIn(_Body):
    question: str = Field(min_length=1, max_length=4000)
    history: list[ChatMessageIn] = Field(default_factory=list, max_length=50)
    k: int | None = Field(
        None,
        ge=1,
        le=20,
        description="how many passages the answer may use (default answer.max_passages)",
    )
    max_tokens: int | None = Field(None, ge=1, le=4096, description="answer.max_tokens if unset")
    temperature: float | None = Field(None, ge=0, le=2, description="answer.temperature if unset")
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=4, description="stop sequences"
    )
    seed: int | None = None
    model: str | None = Field(None, max_length=200, description="a gateway model name")
    style: Literal["extractive", "generative", "auto"] | None = Field(
        None, description="answer.style if unset: quote the passage, generate, or both"
    )
    stream: bool = Field(True, description="server-sent events (true) or one JSON answer")
    regenerate_of: str | None = Field(
        None, max_length=64, description="trace id of the answer this one regenerates"
    )
    cache: bool = Field(
        True, description="false: neither served from nor written to the answer caches"
    )

    def sampling(self) -> dict[str, Any]:
        """The sampling this request sets (the answer settings decide the rest)."""
        names = ("max_tokens", "temperature", "top_p", "seed")
        out: dict[str, Any] = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.stop:
            out["stop"] = tuple(self.stop)
        return out


class CitationOut(BaseModel):
    n: int
    cited: bool
    chunk_id: str
    document_id: str
    record_id: str | None = Field(
        None, description="the _id of the JSONL record the passage comes from"
    )
    source: str
    source_name: str
    title: str
    location: str
    page: int | None
    heading_path: list[str]
    score: float
    text: str
    guard: dict[str, Any] | None = Field(
        None, description="a document guard's finding at ingestion (None: not flagged)"
    )


class AnswerOut(BaseModel):
    answer: str
    citations: list[CitationOut]
    trace_id: str | None
    model: str
    finish_reason: str = Field(description='"declined", or the model\'s ("stop", "length")')
    decline_reason: str | None = Field(
        None,
        description="no_relevant_passages, not_answerable, unsupported, model_declined; "
        "blocked or handoff when a guard refused the question; out_of_scope or handoff from "
        "the router",
    )
    decline_detail: str | None = Field(None, description="why the answer declined, in words")
    guard: dict[str, Any] | None = Field(
        None,
        description="the guard decision that refused the question (action, decided_by, "
        "reason, flags, guards, handoff_id); None when no guard refused",
    )
    guards: list[dict[str, Any]] = Field(
        [], description="every guard decision of the answer, in order (docs/guardrails.md)"
    )
    answerability: float | None = Field(
        None, description="0-1: how likely the passages answer the question"
    )
    style: str | None = Field(None, description="extractive or generative (None: declined)")
    model_finish_reason: str | None = Field(
        None, description='the model\'s own reason; "length" when max_tokens cut the draft'
    )
    usage: dict[str, Any]
    cached: Literal["exact", "semantic"] | None = Field(
        None, description="served from the exact or the semantic answer cache (null: answered now)"
    )


class FeedbackIn(_Body):
    # at least one of thumbs, rating, comment (the validator below says so to pydantic)
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("thumbs", "rating", "comment")
            ]
        },
    )

    trace_id: str = Field(min_length=1, max_length=64)
    thumbs: Literal["up", "down"] | None = None
    rating: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _something(self) -> FeedbackIn:
        if self.thumbs is None and self.rating is None and self.comment is None:
            raise ValueError("give at least one of thumbs, rating or comment")
        return self


class FeedbackOut(BaseModel):
    trace_id: str
    recorded: list[str]


#: Some text that is not only whitespace.
_TEXT = r"\S"


class HandoffMessageOut(BaseModel):
    seq: int = Field(description="1, 2, … within the item: poll with ?after=<last seq seen>")
    role: Literal["user", "human", "system"]
    author: str | None = None
    text: str
    created_at: str


class HandoffItemOut(BaseModel):
    id: str
    kind: Literal["handoff", "approval"]
    status: Literal["open", "answered", "closed"]
    created_at: str
    updated_at: str
    question: str
    collection: str | None = None
    conversation_id: str | None = None
    owner: str | None = Field(None, description="the API key id whose conversation it is")
    guard: str | None = None
    reason: str = ""
    trace_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    resolution: str | None = None
    messages: list[HandoffMessageOut] | None = Field(
        None, description="the thread, oldest first (not in listings)"
    )


class HandoffListOut(BaseModel):
    items: list[HandoffItemOut]
    limit: int
    offset: int


class MemorySourceOut(BaseModel):
    conversation_id: str | None = None
    turn_index: int | None = None
    text: str = Field(description="the user turn the fact was read from")
    at: str


class MemoryFactOut(BaseModel):
    id: str
    user_id: str
    key: str = Field(description="what the fact is about: location, name, preference:jazz …")
    value: str
    statement: str = Field(description="the fact as the user would say it")
    kind: Literal["fact", "preference", "note"]
    current: bool
    superseded_by: str | None = Field(None, description="the fact that replaced this one")
    superseded_at: str | None = None
    created_at: str
    source: MemorySourceOut


class MemoryListOut(BaseModel):
    user: str = Field(description="whose memory: the calling key's (key:<id>)")
    facts: list[MemoryFactOut]


class MemoryForgottenOut(BaseModel):
    forgotten: int


class HandoffMessagesOut(BaseModel):
    id: str
    status: Literal["open", "answered", "closed"]
    messages: list[HandoffMessageOut]
    last: int = Field(description="the highest seq so far: send it as ?after= next time")


class HandoffReplyIn(_Body):
    text: str = Field(min_length=1, max_length=8000, pattern=_TEXT)
    author: str | None = Field(
        None, min_length=1, max_length=100, description="default: the key's name (or operator)"
    )


class HandoffMessageIn(_Body):
    text: str = Field(min_length=1, max_length=8000, pattern=_TEXT)


class HandoffCloseIn(_Body):
    resolution: str | None = Field(None, max_length=200, description="e.g. resolved, approved")


class WhoAmI(BaseModel):
    auth: bool
    key_id: str | None
    role: str
    collections: list[str]


_ReviewState = Literal["accepted", "rejected"]


class ReviewFileOut(BaseModel):
    name: str
    items: int = Field(description="valid items (lines that are JSON objects)")
    pending: int
    accepted: int
    rejected: int
    bad_lines: int = Field(description="malformed lines: reported, kept as they are")
    error: str | None = Field(None, description="why the file cannot be reviewed, if it cannot")


class ReviewListOut(BaseModel):
    files: list[ReviewFileOut]


class ReviewCountsOut(BaseModel):
    pending: int
    accepted: int
    rejected: int


class BadLineOut(BaseModel):
    line: int
    reason: str


class ReviewItemOut(BaseModel):
    id: str
    line: int = Field(description="the item's line in the file")
    question: str
    answer: str
    review: _ReviewState | None = Field(description="null while pending")
    source: str | None = None
    chunk_id: str | None = None
    passage: str = Field(description="the passage the pair was generated from")
    highlight: list[int] | None = Field(
        None, description="[start, end) of the cited span (or the answer) in the passage"
    )
    checks: dict[str, Any] = Field(
        default_factory=dict, description="the answerability check's scores, the judge's rating"
    )
    generator: dict[str, Any] | None = None


class ReviewPageOut(BaseModel):
    name: str
    version: str = Field(description="sha256 of the file as read")
    counts: ReviewCountsOut
    status: Literal["pending", "accepted", "rejected", "all"]
    total: int = Field(description="items of this status")
    limit: int
    offset: int
    items: list[ReviewItemOut]
    bad_lines: list[BadLineOut]


_ReviewId = Annotated[str, Field(min_length=1, max_length=200)]


class ReviewDecisionIn(_Body):
    accept: list[_ReviewId] = Field(default_factory=list, max_length=10_000)
    reject: list[_ReviewId] = Field(default_factory=list, max_length=10_000)
    note: str | None = Field(None, max_length=2000, description="recorded in the data card")


class ReviewAppliedOut(BaseModel):
    id: str
    review: _ReviewState | None
    was: _ReviewState | None = Field(description="the decision before this one")


class ReviewRefusedOut(BaseModel):
    id: str
    error: str


class ReviewDecisionOut(BaseModel):
    name: str
    counts: ReviewCountsOut
    version: str = Field(description="sha256 of the file after the decisions")
    applied: list[ReviewAppliedOut]
    errors: list[ReviewRefusedOut] = Field(description="ids not applied, and why")
    bad_lines: list[BadLineOut]
    written: bool
