"""Fuzz a running server from its own OpenAPI document with schemathesis, all checks on.

:func:`fuzz_api` generates requests for every operation — data that fits the schema and
data that does not — sends them with the given headers (a valid key, or none), and runs every
built-in response check of schemathesis on each answer: no 5xx, documented status codes,
documented content types, response bodies and headers that match their schema, negative
data rejected, positive data accepted, missing required headers and unsupported methods
answered correctly, auth not ignored. Failures are counted per operation and check, with
one example each. ``tests/integration/test_server_schemathesis.py`` runs it with a few
examples; ``benchmarks/fuzz_api.py`` with 100 per operation and mode.

The stateful checks that need a sequence of linked calls (use-after-free, resource
availability, object-level authorization) are not part of this run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES: tuple[str, ...] = ("positive", "negative")

#: Refusals of schema-violating data that schemathesis' negative_data_rejection does not list
#: (its defaults: 400, 401, 403, 404, 405, 406, 409, 415, 422, 428, 429, 5xx), and why each is
#: a refusal all the same.
EXTRA_REJECTIONS: dict[int, str] = {
    413: "the body limit (server.max_json_bytes) refuses an oversized body before validation",
}

#: Schema-valid requests the server rightly refuses, for a reason JSON Schema cannot state:
#: ``(operation, status) -> why``. The report counts them apart from failures.
SEMANTIC_REJECTIONS: dict[tuple[str, int], str] = {
    ("POST /api/collections/{name}/files", 415): (
        "the file type comes from the file's name, which a multipart schema cannot constrain"
    ),
    ("POST /api/collections/{name}/files", 400): (
        "an upload's collection name becomes a folder: letters, digits, '.', '_', '-' (the "
        "auth dependency declares {name} for every route, without that pattern)"
    ),
    ("POST /api/collections/{name}/documents", 400): (
        "as for files; and the document ids of one request must be unique"
    ),
    ("POST /api/collections/{name}/search", 400): (
        "`k` is capped by the server's `server.max_k` setting, which a static schema cannot know"
    ),
    ("POST /api/collections/{name}/ask", 400): "`model` must name a configured gateway model",
    ("POST /v1/chat/completions", 400): "`model` must name a configured gateway model",
}


@dataclass
class CheckFailure:
    """One check that failed on an operation: how often, and the first request that did it."""

    check: str
    code: str
    title: str
    count: int
    example: str

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class OperationResult:
    """What fuzzing one operation in one generation mode found."""

    operation: str
    mode: str
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, CheckFailure] = field(default_factory=dict)
    #: No request of this mode exists (negative data for an operation without inputs).
    unsatisfiable: bool = False
    #: Requests refused for a reason in :data:`SEMANTIC_REJECTIONS` (schema-valid) or
    #: :data:`EXTRA_REJECTIONS` (schema-violating), by status.
    declared: Counter[int] = field(default_factory=Counter)

    def record(self, check: str, code: str, title: str, example: str) -> None:
        seen = self.failures.get(code)
        if seen is None:
            self.failures[code] = CheckFailure(check, code, title, 1, example)
        else:
            seen.count += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "mode": self.mode,
            "examples": self.examples,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "unsatisfiable": self.unsatisfiable,
            "declared_rejections": {str(k): v for k, v in sorted(self.declared.items())},
            "failures": [f.to_dict() for f in self.failures.values()],
        }


@contextmanager
def fuzz_target(home: Path) -> Iterator[tuple[Any, str]]:
    """``(LiveServer, admin key)``: a real server (store, embedder, a small ingested
    collection ``docs``) whose chat model is a fast fake, with one admin key, so no request
    runs open."""
    import httpx

    from ragline.models.gateway import Gateway
    from ragline.store.factory import open_keys
    from ragline.testing.chat_conformance import FakeChatModel
    from ragline.testing.live_server import running_server, server_settings, write_corpus
    from ragline.testing.review_conformance import review_item, write_review_file

    review_dir = home / "review"  # /api/review has a file to page through and decide on
    write_review_file(review_dir / "review.jsonl", [review_item(i) for i in range(3)])
    cfg = server_settings(
        home,
        server={"max_queue": 64, "max_json_bytes": 200_000, "review_dir": review_dir},
        trace={"enabled": False},
    )
    keys = open_keys(cfg)
    try:
        secret = keys.create_key("fuzz", "admin").secret
    finally:
        keys.close()
    gateway = Gateway(cfg, models={"embedded": FakeChatModel(["Fine [1]."], name="fake:embedded")})
    with running_server(cfg, gateway=gateway) as server:
        corpus = write_corpus(home / "corpus")
        files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
        auth = {"Authorization": f"Bearer {secret}"}
        upload = httpx.post(
            f"{server.url}/api/collections/docs/files", files=files, headers=auth, timeout=300
        )
        upload.raise_for_status()
        yield server, secret


def all_checks() -> list[Any]:
    """Every built-in per-response check schemathesis registers (the stateful check classes,
    which need a sequence of linked calls, are left out)."""
    from schemathesis.checks import CHECKS, is_check_class, load_all_checks

    load_all_checks()
    return [c for c in CHECKS.get_all() if not is_check_class(c)]


def _describe(case: Any, status: int | None) -> str:
    body = "" if case.body is None or not isinstance(case.body, dict | list | str) else case.body
    return (
        f"{case.method} {case.formatted_path} query={case.query} body={str(body)[:200]} -> {status}"
    )


def fuzz_api(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_examples: int = 100,
    modes: Sequence[str] = MODES,
    timeout_s: float = 30.0,
) -> list[OperationResult]:
    """Fuzz every operation of the server at ``base_url`` in each mode; see the module doc."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import Failure, FailureGroup

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    checks = all_checks()
    sent = dict(headers or {})
    results: list[OperationResult] = []
    for mode in modes:
        for loaded in schema.get_all_operations():
            operation = loaded.ok()
            result = OperationResult(operation.label, mode)
            results.append(result)
            strategy = operation.as_strategy(GenerationMode(mode))

            def check_one(case: Any, result: OperationResult = result) -> None:
                result.examples += 1
                response = case.call(base_url=base_url, headers=sent, timeout=timeout_s)
                result.statuses[response.status_code] += 1
                try:
                    case.validate_response(
                        response,
                        checks=checks,
                        headers=sent,
                        transport_kwargs={"base_url": base_url, "headers": sent},
                    )
                except (Failure, FailureGroup) as exc:
                    found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                    for failure in found:
                        if failure.code == "ST201" and response.status_code in EXTRA_REJECTIONS:
                            result.declared[response.status_code] += 1
                            continue
                        if failure.code == "ST202" and (
                            (result.operation, response.status_code) in SEMANTIC_REJECTIONS
                        ):
                            result.declared[response.status_code] += 1
                            continue
                        check = ",".join(type(failure).checks) or type(failure).__name__
                        example = f"{_describe(case, response.status_code)}: {failure.message}"
                        result.record(check, failure.code, failure.title, example[:600])

            @given(case=strategy)
            @settings(
                max_examples=max_examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # count every example, shrink none
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                check_one(case)

            try:
                run()
            except Unsatisfiable:  # negative mode, and nothing about the operation can be wrong
                result.unsatisfiable = True
    return results


def failures_of(results: Sequence[OperationResult]) -> list[str]:
    """One line per (operation, mode, failed check), for an assertion message."""
    return [
        f"[{r.mode}] {r.operation}: {f.code} {f.title} ×{f.count} — {f.example}"
        for r in results
        for f in r.failures.values()
    ]


__all__ = [
    "EXTRA_REJECTIONS",
    "MODES",
    "SEMANTIC_REJECTIONS",
    "CheckFailure",
    "OperationResult",
    "all_checks",
    "failures_of",
    "fuzz_api",
    "fuzz_target",
]
