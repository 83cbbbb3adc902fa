"""Every error becomes an RFC 9457 problem in one place; the loopback rule; key helpers."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ragline import errors
from ragline.server.problems import (
    AuthenticationError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerBusyError,
    problem_for,
)
from ragline.server.runner import LOOPBACK, bind_host, is_loopback
from ragline.store.keys_base import normalize_collections


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.CollectionNotFoundError("x"), 404),
        (errors.InvalidQueryError("bad k", hint="use 1..100"), 400),
        (errors.ConfigError("bad"), 400),
        (errors.UnsupportedFileError("a.exe", "unsupported"), 415),
        (errors.FileTooLargeError("a.txt", "too big"), 413),
        (errors.EmptyDocumentError("a.txt", "empty"), 422),
        (errors.MissingDependencyError("no extra"), 501),
        (errors.ModelTimeoutError("slow"), 504),
        (errors.GenerationError("all failed"), 502),
        (errors.StoreError("disk"), 500),
        (AuthenticationError(), 401),
        (PermissionDeniedError("no"), 403),
        (PayloadTooLargeError("big"), 413),
    ],
)
def test_ragline_errors_map_to_their_status(exc: errors.RaglineError, status: int) -> None:
    code, body, headers = problem_for(exc, "/api/x")
    assert code == status == body["status"]
    assert body["detail"] == exc.message and body["instance"] == "/api/x"
    assert body["type"].startswith("urn:ragline:problem:") and body["title"]
    if exc.hint:
        assert body["hint"] == exc.hint
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Bearer")


def test_busy_carries_retry_after() -> None:
    code, body, headers = problem_for(ServerBusyError("full", status=429, retry_after_s=2.2))
    assert code == 429 and headers["Retry-After"] == "3" and body["retry_after"] == 3


def test_validation_errors() -> None:
    exc = RequestValidationError([{"loc": ("body", "k"), "msg": "too big", "type": "less_than"}])
    code, body, _ = problem_for(exc)
    assert code == 422 and body["detail"] == "body.k: too big" and body["errors"]
    exc = RequestValidationError([{"loc": ("body", 1), "msg": "JSON", "type": "json_invalid"}])
    code, body, _ = problem_for(exc)
    assert code == 400 and "not valid JSON" in body["detail"]


def test_http_errors_and_bugs() -> None:
    code, body, _ = problem_for(HTTPException(405, "Method Not Allowed"))
    assert code == 405 and body["type"].endswith("method-not-allowed")
    code, body, _ = problem_for(RuntimeError("secret detail"))
    assert code == 500 and "secret" not in body["detail"] and "RuntimeError" in body["detail"]


def test_openai_paths_also_carry_an_openai_error() -> None:
    _, body, _ = problem_for(errors.CollectionNotFoundError("x"), "/v1/chat/completions")
    assert body["error"]["type"] == "invalid_request_error"
    assert "does not exist" in body["error"]["message"]
    _, body, _ = problem_for(ServerBusyError("busy", status=429, retry_after_s=1), "/v1/x")
    assert body["error"]["type"] == "rate_limit_error"


def test_without_keys_only_loopback() -> None:
    with pytest.raises(errors.ConfigError, match="refusing to serve 0\\.0\\.0\\.0") as refused:
        bind_host("0.0.0.0", has_keys=False, ever_had_keys=True)
    assert "ragline keys create" in (refused.value.hint or "") and LOOPBACK in refused.value.hint
    host, message = bind_host("127.0.0.1", has_keys=False)
    assert host == "127.0.0.1" and "loopback only" in (message or "")
    assert bind_host("::1", has_keys=False)[0] == "::1"
    assert bind_host("0.0.0.0", has_keys=True) == ("0.0.0.0", None)
    assert is_loopback("localhost") and not is_loopback("example.org")


def test_collections_normalization() -> None:
    assert normalize_collections(None) == ("*",)
    assert normalize_collections(["b", "a"]) == ("a", "b")
