"""Fuzz the API from its own OpenAPI document (schemathesis, every response check on), with a
valid admin key and with none.

A real uvicorn server with the real store and embedder; the chat model is a fast fake, so the
run exercises input handling rather than generation. Each operation gets a few examples here
(data that fits the schema and data that does not); ``benchmarks/fuzz_api.py`` runs 100.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from ragline.server.runner import ServerThread
from ragline.testing.fuzz import failures_of, fuzz_api, fuzz_target
from ragline.testing.live_server import LiveServer

pytestmark = pytest.mark.integration
EXAMPLES = 6
PUBLIC = {"GET /healthz"}  # answers without a key


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    with fuzz_target(tmp_path_factory.mktemp("fuzz-home")) as (server, secret):
        yield server, secret


def test_with_a_key_every_answer_matches_the_schema(live: tuple[LiveServer, str]) -> None:
    server, secret = live
    results = fuzz_api(
        server.url, headers={"Authorization": f"Bearer {secret}"}, max_examples=EXAMPLES
    )
    assert len({r.operation for r in results}) >= 12
    assert not failures_of(results), "\n".join(failures_of(results)[:10])
    accepted = {r.operation for r in results if any(200 <= s < 300 for s in r.statuses)}
    assert len(accepted) >= 8, accepted  # the key works: fuzzing reached past the auth check
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_without_a_key_every_answer_matches_the_schema_and_none_succeeds(
    live: tuple[LiveServer, str],
) -> None:
    server, _ = live
    results = fuzz_api(server.url, max_examples=EXAMPLES)
    assert not failures_of(results), "\n".join(failures_of(results)[:10])
    for r in results:
        if r.operation not in PUBLIC:
            assert not [s for s in r.statuses if 200 <= s < 300], (r.operation, r.statuses)
            assert r.statuses[401] or r.unsatisfiable or r.mode == "negative", r.to_dict()


def test_the_fuzzer_catches_an_undocumented_status_and_content_type() -> None:
    """The checks are really on: an app that lies about its answers fails them."""
    app = FastAPI()

    @app.get("/thing/{n}", responses={200: {"content": {"application/json": {}}}})
    async def thing(n: int) -> PlainTextResponse:
        return PlainTextResponse("plain", status_code=200 if n % 2 else 418)

    with ServerThread(app) as thread:
        results = fuzz_api(thread.url, max_examples=20, modes=("positive",))
    codes = {f.code for r in results for f in r.failures.values()}
    assert {"ST103", "ST105"} <= codes, failures_of(results)  # undocumented status, content type
