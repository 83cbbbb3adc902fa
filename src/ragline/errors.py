"""The whole ragline exception tree, in one place.

Every error ragline raises derives from :class:`RaglineError`; errors of third-party
libraries are translated at the boundary where ragline calls them. The CLI maps an error
to an exit code in exactly one place (``ragline.cli.main``), the HTTP layer to a status and
a JSON problem in one place too (``ragline.server.problems``, from ``http_status``).
Each error message names the problem *and* what to do about it. The tree below is checked
against the classes by ``tests/unit/test_errors_tree.py``.

::

    RaglineError
    ├── ConfigError                 bad setting or environment value
    │   └── PromptError             a prompt file is malformed, unknown, or rendered with
    │                               a missing or an unknown variable
    │   └── PluginError             an installed plugin fails to load (names its package)
    ├── MissingDependencyError      an optional extra / model package is not installed
    ├── StoreError                  the store cannot be opened, migrated or written
    │   ├── MigrationError
    │   ├── StoreUnavailableError   503: the database server cannot be reached (retry)
    │   │   └── RedisUnavailableError  Redis (redis.url) does not answer; limits fail closed
    │   └── CorruptCacheEntryError  a cached answer that cannot be trusted (dropped, not served)
    ├── CollectionNotFoundError     unknown collection name
    ├── IngestError                 one input could not be ingested (reported, batch goes on)
    │   ├── UnsupportedFileError    unknown extension or binary content
    │   ├── FileTooLargeError       over ``max_file_bytes``
    │   ├── EmptyDocumentError      no text after extraction and cleaning
    │   └── MalformedInputError     broken PDF, invalid UTF-8, bad JSONL line, unreadable file
    ├── AuthenticationError         401: no API key, or a wrong / revoked one
    ├── PermissionDeniedError       403: the key's role or collections do not allow it
    ├── ResourceNotFoundError       404: no such passage, model, trace or handoff item
    ├── ConflictError               409: the record's state forbids it (a closed handoff item)
    ├── PayloadTooLargeError        413: the request body is over the server's limit
    ├── ServerBusyError             429 (queue full) / 503 (waited too long), with Retry-After
    ├── DatasetError                a data set is empty, unreadable, or has no valid record
    ├── RetrievalError              a search cannot run
    │   └── InvalidQueryError       empty query, bad mode, bad k, bad filter
    ├── ToolError                   an agent's tool could not be called (``ragline.agent``)
    │   ├── ToolNotFoundError       no tool of that name is registered (lists those that are)
    │   ├── ToolArgumentsError      arguments do not validate against the tool's JSON schema
    │   ├── ToolTimeoutError        the tool did not return within its timeout
    │   └── ToolExecutionError      the tool raised, or returned something that is not JSON
    ├── TrainingDataError           a training file is empty, malformed or has no valid example
    └── ModelError                  an embedding or chat model failed
        ├── ModelTimeoutError
        ├── ModelUnavailableError   transient failure (HTTP 5xx/429, connection): retried
        │   ├── ProviderServerError     HTTP 5xx / 429 / 408, with ``retry_after``
        │   ├── MalformedResponseError  not a valid chat completion
        │   └── StreamInterruptedError  the stream ended before its final event
        ├── RequestRejectedError    the provider refused the request (4xx): not retried
        ├── ContextLengthError      the prompt does not fit the context window
        ├── GenerationError         all attempts / the whole fallback chain failed
        ├── AdapterError            no such LoRA adapter, or one made for another base model
        └── StructuredOutputError   output never validated against the requested schema
"""

from __future__ import annotations

import math
from typing import Any


class RaglineError(Exception):
    """Base class of every ragline error. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1
    #: HTTP status the server answers with (a later issue maps it in one place).
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(RaglineError):
    exit_code = 2
    http_status = 400


class PromptError(ConfigError):
    pass


class PluginError(ConfigError):
    """A plugin registered through entry points could not be imported or created."""


class MissingDependencyError(RaglineError):
    exit_code = 3
    http_status = 501


class StoreError(RaglineError):
    exit_code = 4


class MigrationError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    """The database server (PostgreSQL) is down or unreachable: transient, so a 503."""

    http_status = 503


class RedisUnavailableError(StoreUnavailableError):
    """Redis (``redis.url``) did not answer: what it shares (limits, budgets) cannot be
    checked, so the request is refused (fail closed) until it answers again."""


class CorruptCacheEntryError(StoreError):
    """A cached answer's payload does not parse or does not match its digest: the answer
    caches drop it and log it, and answer without it."""


class CollectionNotFoundError(RaglineError):
    exit_code = 5
    http_status = 404

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"collection {name!r} does not exist",
            hint="list collections with `ragline collections` or ingest into it first",
        )


class IngestError(RaglineError):
    """One input could not be ingested. ``source`` names the file (and line, if any)."""

    exit_code = 6
    http_status = 422

    def __init__(self, source: str, reason: str, *, hint: str | None = None) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}", hint=hint)


class UnsupportedFileError(IngestError):
    http_status = 415


class FileTooLargeError(IngestError):
    http_status = 413


class EmptyDocumentError(IngestError):
    pass


class MalformedInputError(IngestError):
    pass


class AuthenticationError(RaglineError):
    http_status = 401

    def __init__(self, message: str = "an API key is required") -> None:
        super().__init__(
            message,
            hint="send 'Authorization: Bearer rl_…' (create a key with `ragline keys create`)",
        )


class PermissionDeniedError(RaglineError):
    http_status = 403


class ResourceNotFoundError(RaglineError):
    http_status = 404


class ConflictError(RaglineError):
    """The request is valid but the record's state forbids it (a reply to a closed item)."""

    http_status = 409


class PayloadTooLargeError(RaglineError):
    http_status = 413


class ServerBusyError(RaglineError):
    """The generation queue is full (429) or a request waited too long in it (503)."""

    def __init__(self, message: str, *, status: int, retry_after_s: float) -> None:
        self.http_status = status
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(message, hint=f"retry after {self.retry_after_s} s")


class DatasetError(RaglineError):
    """A data set (``ragline data``) cannot be used as a whole: the file is missing or empty,
    no line is a valid record, or no record has the text field asked for. Raised before any
    long work starts; one bad line alone is reported and skipped, never raised."""

    exit_code = 9
    http_status = 422


class RetrievalError(RaglineError):
    exit_code = 7


class InvalidQueryError(RetrievalError):
    exit_code = 2
    http_status = 400


class ToolError(RaglineError):
    """A tool call failed. ``tool`` names the tool; the registry turns these into a failed
    :class:`~ragline.agent.tools.ToolResult` the model can read, and traces them."""

    exit_code = 9
    http_status = 422

    def __init__(self, message: str, *, tool: str | None = None, hint: str | None = None):
        self.tool = tool
        super().__init__(message, hint=hint)


class ToolNotFoundError(ToolError):
    http_status = 404


class ToolArgumentsError(ToolError):
    """``problems`` lists each failed check as ``"path: message"``."""

    def __init__(
        self,
        message: str,
        *,
        tool: str | None = None,
        problems: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.problems = list(problems or [])
        super().__init__(message, tool=tool, hint=hint)


class ToolTimeoutError(ToolError):
    http_status = 504


class ToolExecutionError(ToolError):
    http_status = 502


class ModelError(RaglineError):
    """A model call failed. ``attempts`` lists what was tried, in order."""

    exit_code = 8
    http_status = 502

    def __init__(
        self, message: str, *, hint: str | None = None, attempts: list[Any] | None = None
    ) -> None:
        self.attempts = list(attempts or [])
        super().__init__(message, hint=hint)


class TrainingDataError(RaglineError):
    """A finetuning data file cannot be used: missing, empty, malformed, no valid example."""

    exit_code = 2
    http_status = 400


class AdapterError(ModelError):
    """A LoRA adapter is missing, unreadable, or was trained on another base model."""

    http_status = 400


class ModelTimeoutError(ModelError):
    http_status = 504


class ModelUnavailableError(ModelError):
    http_status = 503


class ProviderServerError(ModelUnavailableError):
    """HTTP 5xx or 429 (or 408) from a server: transient. ``retry_after`` in seconds, if sent."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(message, hint=hint)


class MalformedResponseError(ModelUnavailableError):
    """The server answered with something that is not a valid chat completion."""


class StreamInterruptedError(ModelUnavailableError):
    """A stream ended before its final event (connection dropped mid-response)."""


class RequestRejectedError(ModelError):
    """The provider refused the request itself (HTTP 4xx other than 408/429): not retried."""

    def __init__(self, message: str, *, status_code: int | None = None, hint: str | None = None):
        self.status_code = status_code
        super().__init__(message, hint=hint)


class ContextLengthError(ModelError):
    """The prompt does not fit the model's context window."""


class GenerationError(ModelError):
    pass


class StructuredOutputError(ModelError):
    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        attempts: list[Any] | None = None,
        usage: Any = None,
    ) -> None:
        self.usage = usage
        super().__init__(message, hint=hint, attempts=attempts)


__all__ = [
    "AdapterError",
    "AuthenticationError",
    "CollectionNotFoundError",
    "ConfigError",
    "ConflictError",
    "ContextLengthError",
    "CorruptCacheEntryError",
    "DatasetError",
    "EmptyDocumentError",
    "FileTooLargeError",
    "GenerationError",
    "IngestError",
    "InvalidQueryError",
    "MalformedInputError",
    "MalformedResponseError",
    "MigrationError",
    "MissingDependencyError",
    "ModelError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PluginError",
    "PromptError",
    "ProviderServerError",
    "RaglineError",
    "RedisUnavailableError",
    "RequestRejectedError",
    "ResourceNotFoundError",
    "RetrievalError",
    "ServerBusyError",
    "StoreError",
    "StoreUnavailableError",
    "StreamInterruptedError",
    "StructuredOutputError",
    "ToolArgumentsError",
    "ToolError",
    "ToolExecutionError",
    "ToolNotFoundError",
    "ToolTimeoutError",
    "TrainingDataError",
    "UnsupportedFileError",
]
