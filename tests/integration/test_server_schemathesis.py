"""Fuzz the API from its own OpenAPI spec (schemathesis): no input may cause a 5xx.

A real uvicorn server with the real store and embedder; the chat model is a fast fake, so the
run exercises input handling rather than generation. Examples per operation are bounded so
the whole run stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("fuzz-home")
    cfg = server_settings(
        home,
        server={"max_queue": 64, "max_json_bytes": 200_000},
        trace={"enabled": False},
    )
    fake = FakeChatModel(["Fine [1]."], name="fake:embedded")
    gateway = Gateway(cfg, models={"embedded": fake})
    with running_server(cfg, gateway=gateway) as server:
        corpus = write_corpus(home / "corpus")
        files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
        assert httpx.post(f"{server.url}/api/collections/docs/files", files=files).is_success
        yield server


def test_no_input_makes_the_server_fail(live: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            response = case.call(base_url=live.url, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        run()
    assert operations >= 12
    assert not failures, "\n".join(failures[:10])
    assert httpx.get(f"{live.url}/healthz").status_code == 200
