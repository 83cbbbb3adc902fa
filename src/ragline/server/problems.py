"""Errors to HTTP, in exactly one place: every failure becomes an RFC 9457 problem.

Each :class:`~ragline.errors.RaglineError` carries ``http_status``, ``message`` and ``hint``;
:func:`problem_for` turns any exception into ``(status, body, headers)`` and
:func:`install` registers the handlers on the app. A body looks like::

    {"type": "urn:ragline:problem:collection-not-found", "title": "Collection not found",
     "status": 404, "detail": "collection 'x' does not exist",
     "hint": "list collections with `ragline collections` or ingest into it first",
     "instance": "/api/collections/x/search"}

Every body goes through the one redaction function (:func:`ragline.trace.redact.redact`): a
key, a bearer token or a configured secret quoted in an error message never reaches the
caller. Under ``/v1`` (the OpenAI-compatible API) the body also carries OpenAI's
``{"error": {"message", "type", "code"}}`` so that OpenAI clients show the message.
A stream that fails after its first byte sends the same body as an ``error`` event.

The server's own errors (``AuthenticationError``, ``PermissionDeniedError``,
``ResourceNotFoundError``, ``PayloadTooLargeError``, ``ServerBusyError``) are part of the one
tree in :mod:`ragline.errors` and re-exported here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ragline.errors import (
    AuthenticationError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RaglineError,
    ResourceNotFoundError,
    ServerBusyError,
)
from ragline.trace.redact import redact

log = logging.getLogger("ragline.server")

PROBLEM_JSON = "application/problem+json"
_SPEC_HINT = "the request schema is in /openapi.json (browse it at /docs)"


def _slug(name: str) -> str:
    name = name.removesuffix("Error") or name
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    hint: str | None = None,
    instance: str | None = None,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A problem body (RFC 9457) with ragline's ``hint`` member."""
    body: dict[str, Any] = {
        "type": f"urn:ragline:problem:{slug}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if hint:
        body["hint"] = hint
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def _validation_detail(errors: Sequence[Mapping[str, Any]]) -> tuple[int, str, list[dict]]:
    items = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": e.get("type"),
        }
        for e in errors
    ]
    if any(e["type"] == "json_invalid" for e in items):
        bad = next(e for e in items if e["type"] == "json_invalid")
        return 400, f"the body is not valid JSON ({bad['msg']})", items
    parts = [f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in items[:5]]
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return 422, "; ".join(parts) + more, items


def problem_for(exc: BaseException, path: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, body, headers)`` for any exception: the one mapping of the server."""
    headers: dict[str, str] = {}
    if isinstance(exc, RaglineError):
        status = int(exc.http_status)
        body = problem(
            status,
            _slug(type(exc).__name__),
            exc.message,
            hint=exc.hint,
            instance=path or None,
        )
        if isinstance(exc, ServerBusyError):
            headers["Retry-After"] = str(exc.retry_after_s)
            body["retry_after"] = exc.retry_after_s
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="ragline"'
        if status >= 500:
            log.warning("%s %s: %s", status, path, exc)
    elif isinstance(exc, RequestValidationError):
        status, detail, items = _validation_detail(exc.errors())
        slug = "malformed-json" if status == 400 else "invalid-request"
        body = problem(status, slug, detail, hint=_SPEC_HINT, instance=path or None, errors=items)
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        hint = _SPEC_HINT if status in (404, 405) else None
        body = problem(
            status,
            _slug(_TITLES.get(status, "error").title().replace(" ", "")),
            detail,
            hint=hint,
            instance=path or None,
        )
        headers.update(exc.headers or {})
    else:
        log.error("unhandled error on %s", path, exc_info=exc)
        status = 500
        body = problem(
            500,
            "internal",
            f"the server failed on this request ({type(exc).__name__})",
            hint="this is a bug in ragline: the server log has the traceback",
            instance=path or None,
        )
    if path.startswith("/v1/"):
        message = body["detail"] + (f" ({body['hint']})" if body.get("hint") else "")
        kind = "invalid_request_error" if status < 500 else "server_error"
        if status in (401, 403):
            kind = "authentication_error" if status == 401 else "permission_error"
        elif status == 429:
            kind = "rate_limit_error"
        body["error"] = {"message": message, "type": kind, "code": body["type"].rsplit(":", 1)[-1]}
    return status, redact(body), headers


def problem_response(exc: BaseException, path: str = "") -> JSONResponse:
    status, body, headers = problem_for(exc, path)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(exc, request.url.path)


def install(app: FastAPI) -> None:
    """Register the handlers: ragline errors, validation, HTTP errors, and everything else."""
    for exc_type in (RaglineError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, _handle)


__all__ = [
    "PROBLEM_JSON",
    "AuthenticationError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ResourceNotFoundError",
    "ServerBusyError",
    "install",
    "problem",
    "problem_for",
    "problem_response",
]
