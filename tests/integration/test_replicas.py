"""Two ``ragline serve`` processes on one store and one Redis behave as one (issue 16).

Over real sockets: two replica processes (``ragline serve``), each with its own home, share
the store at ``store.url``, the uploads folder (``server.uploads_dir``) and one Redis
(``redis.url``, started by the tests). A priced OpenAI-compatible stub
(:class:`~ragline.testing.fault_server.FaultServer`) stands in for a paid model, since the
point is the accounting.

1. one key with 10 requests/minute, 30 concurrent requests spread over both: exactly 10
   succeed, 20 get 429;
2. a $0.05 budget, 20 concurrent paid-model requests over both: the spend recorded never
   passes the budget by more than one request's cost, and it is what the answers cost;
3. a document ingested through one is searchable through the other;
4. a key revoked through one (``ragline keys revoke`` with its configuration: keys have no
   HTTP route) is refused by the other within a second;
5. kill -9 one replica mid-ingest: the other keeps serving, and re-running the ingest through
   it completes the collection with no duplicate or missing chunk.

Every check reads the store through the factory (not SQL), so the same tests run on any
backend: :data:`STORE_FIXTURES` names the fixtures that give a store URL both replicas share.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.config import Settings, load_settings
from ragline.errors import CollectionNotFoundError
from ragline.models.chat import Usage
from ragline.models.pricing import Price
from ragline.store.factory import open_documents, open_keys, open_limits
from ragline.store.keys_base import KeyPolicy
from ragline.store.limits_base import SPEND_USD
from ragline.testing.fault_server import FaultServer
from ragline.testing.redis_server import free_port

pytestmark = pytest.mark.integration

#: Fixtures yielding a store URL for both replicas (a fresh, empty store); nothing else in
#: this module names a backend.
STORE_FIXTURES = ["sqlite_store_url", "postgres_store_url"]

#: USD per million tokens of the stub's paid model.
PAID = Price(input_per_million=10.0, output_per_million=300.0)
#: The stub's answer: 12 words, 12 completion tokens (about $0.0037 a request).
REPLY = "Venus is the hottest planet because its thick atmosphere traps the heat."
START_TIMEOUT_S = 90.0
N_BULK = 120


@pytest.fixture(scope="module")
def sqlite_store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('shared-store') / 'ragline.db'}"


@pytest.fixture(scope="module")
def postgres_store_url(postgres_service: Any) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL 18 + pgvector (dropped afterwards)."""
    import uuid

    import psycopg

    name = f"replicas_{uuid.uuid4().hex[:12]}"
    yield postgres_service.create_database(name)
    with psycopg.connect(postgres_service.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=STORE_FIXTURES)
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


@pytest.fixture(scope="module")
def module_redis_url(redis_server: Any) -> str:
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return str(redis_server.url)


@dataclass
class Replica:
    """One ``ragline serve`` process."""

    name: str
    home: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        self.port = free_port()
        code = "from ragline.cli.main import main; main()"
        cmd = [sys.executable, "-c", code, "serve", "--port", str(self.port)]
        cmd += ["--log-level", "warning"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"replica {self.name} exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"replica {self.name} did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def settings(self) -> Settings:
        """This replica's settings, as its process reads them (for the test's own checks)."""
        ragline = {k[len("RAGLINE_") :].lower(): v for k, v in self.env.items()}
        return load_settings(
            home=self.home,
            store={"url": ragline["store__url"]},
            redis={"url": ragline["redis__url"]},
        )


@dataclass
class Cluster:
    replicas: list[Replica]
    stub: FaultServer

    @property
    def a(self) -> Replica:
        return self.replicas[0]

    @property
    def b(self) -> Replica:
        return self.replicas[1]

    def key(self, name: str, **policy: Any) -> tuple[str, str]:
        """A new admin key (id, secret) in the shared store."""
        keys = open_keys(self.a.settings())
        try:
            made = keys.create_key(name, "admin", policy=KeyPolicy(**policy))
        finally:
            keys.close()
        return made.key.id, made.secret


def _config_toml(stub: FaultServer, prices: Path) -> str:
    return (
        "[gateway]\n"
        f'price_table = "{prices}"\n'
        "max_retries = 0\n"
        "[gateway.endpoints.stub]\n"
        f'base_url = "{stub.url("ok")}"\n'
        'model = "paid"\n'
        'structured_output = "none"\n'
    )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, store_url: str, module_redis_url: str
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    prices = root / "prices.json"
    entry = {"input_per_million": PAID.input_per_million, "output_per_million": 300.0}
    prices.write_text(json.dumps({"models": {"stub": entry, "stub:paid": entry}}))

    def reply(body: dict[str, Any]) -> str:
        time.sleep(0.3)  # a paid model takes a while: the requests overlap
        return REPLY

    base = {k: v for k, v in os.environ.items() if not k.startswith("RAGLINE_")}
    with FaultServer(reply=reply) as stub:
        replicas = []
        for name in ("a", "b"):
            home = root / f"home-{name}"
            home.mkdir()
            (home / "config.toml").write_text(_config_toml(stub, prices))
            env = {
                **base,
                "HF_HUB_OFFLINE": "1",
                "RAGLINE_HOME": str(home),
                "RAGLINE_STORE__URL": store_url,
                "RAGLINE_REDIS__URL": module_redis_url,
                "RAGLINE_SERVER__UPLOADS_DIR": str(root / "uploads"),
                "RAGLINE_TRACE__ENABLED": "false",
                "RAGLINE_INGEST__BATCH_DOCUMENTS": "8",
                "RAGLINE_EMBEDDER__THREADS": "1",
            }
            replicas.append(Replica(name, home, env))
        try:
            for replica in replicas:
                replica.start()
            yield Cluster(replicas, stub)
        finally:
            for replica in replicas:
                replica.stop()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _concurrently(calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every ``(method, url, kwargs)`` at once (one thread each, released together)."""
    barrier = threading.Barrier(len(calls))

    def one(call: tuple[str, str, dict[str, Any]]) -> httpx.Response:
        method, url, kwargs = call
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            return client.request(method, url, **kwargs)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_a_rate_limit_is_shared_exactly(cluster: Cluster) -> None:
    _, secret = cluster.key("rpm", rpm=10)
    calls = [
        ("GET", f"{cluster.replicas[i % 2].url}/api/me", {"headers": _bearer(secret)})
        for i in range(30)
    ]
    got = _concurrently(calls)
    statuses = sorted(r.status_code for r in got)
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses
    assert {r.url.port for r in got} == {cluster.a.port, cluster.b.port}
    refused = next(r for r in got if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert "10 requests per minute" in refused.json()["detail"]


def test_a_budget_is_shared_and_never_overspent(cluster: Cluster) -> None:
    budget = 0.05
    key_id, secret = cluster.key("budget", budget_usd=budget)
    body = {
        "model": "stub",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Which planet is the hottest?"}],
    }
    calls = [
        (
            "POST",
            f"{cluster.replicas[i % 2].url}/v1/chat/completions",
            {"headers": _bearer(secret), "json": body},
        )
        for i in range(20)
    ]
    got = _concurrently(calls)
    ok = [r for r in got if r.status_code == 200]
    refused = [r for r in got if r.status_code == 403]
    assert len(ok) + len(refused) == 20, [(r.status_code, r.text[:200]) for r in got]
    assert ok and refused, "the budget should let some requests through and stop the rest"
    assert all("budget" in r.json()["detail"] for r in refused)
    costs = [
        PAID.cost(
            Usage(
                prompt_tokens=r.json()["usage"]["prompt_tokens"],
                completion_tokens=r.json()["usage"]["completion_tokens"],
            )
        )
        for r in ok
    ]
    limits = open_limits(cluster.a.settings())
    try:
        recorded = limits.used(key_id, SPEND_USD, window_s=None)
    finally:
        limits.close()
    assert recorded <= budget + max(costs) + 1e-12
    assert recorded == pytest.approx(sum(costs), abs=1e-9)  # settled to what each cost


def _documents(cluster: Cluster, collection: str) -> dict[str, Any]:
    store = open_documents(cluster.a.settings())
    try:
        return store.documents(collection)
    except CollectionNotFoundError:
        return {}
    finally:
        store.close()


def test_a_document_ingested_through_one_is_found_through_the_other(cluster: Cluster) -> None:
    _, secret = cluster.key("ingest")
    docs = {
        "documents": [
            {"id": "venus", "text": "Venus is the hottest planet; its surface is 465 C."},
            {"id": "coffee", "text": "Brew pour-over coffee with water at 94 degrees Celsius."},
        ]
    }
    put = httpx.post(
        f"{cluster.a.url}/api/collections/shared/documents",
        json=docs,
        headers=_bearer(secret),
        timeout=120,
    )
    assert put.status_code == 200, put.text
    assert put.json()["added"] == 2
    found = httpx.post(
        f"{cluster.b.url}/api/collections/shared/search",
        json={"query": "what temperature for pour-over coffee", "k": 1},
        headers=_bearer(secret),
        timeout=120,
    )
    assert found.status_code == 200, found.text
    assert found.json()["hits"][0]["document_key"].endswith("#coffee")


def test_a_key_revoked_through_one_is_refused_by_the_other_within_a_second(
    cluster: Cluster,
) -> None:
    key_id, secret = cluster.key("revoke-me")
    for replica in cluster.replicas:
        assert httpx.get(f"{replica.url}/api/me", headers=_bearer(secret)).status_code == 200
    code = "from ragline.cli.main import main; main()"
    revoke = subprocess.run(
        [sys.executable, "-c", code, "keys", "revoke", key_id],
        env=cluster.a.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert revoke.returncode == 0, revoke.stderr
    revoked_at = time.monotonic()
    while True:
        status = httpx.get(f"{cluster.b.url}/api/me", headers=_bearer(secret)).status_code
        if status == 401:
            break
        assert time.monotonic() - revoked_at < 1.0, f"b still answers {status} after 1 s"
        time.sleep(0.02)
    assert httpx.get(f"{cluster.a.url}/api/me", headers=_bearer(secret)).status_code == 401


def _bulk_documents() -> dict[str, Any]:
    filler = "It has a few sentences of filler text to embed and to index for search. " * 14
    return {
        "documents": [
            {"id": f"note-{i:04d}", "text": f"Note {i} is about topic {i % 17}. {filler}"}
            for i in range(N_BULK)
        ]
    }


def _check_whole(cluster: Cluster, collection: str, n_docs: int) -> int:
    """Every document has its chunks, numbered 0..n-1 once each; returns the chunk count."""
    store = open_documents(cluster.b.settings())
    try:
        documents = store.documents(collection)
        index = store.load_index(collection)
        chunks = store.get_chunks(collection, list(index.chunk_ids))
    finally:
        store.close()
    assert len(documents) == n_docs
    assert len(set(index.chunk_ids)) == len(index.chunk_ids), "a chunk is stored twice"
    ordinals: dict[str, list[int]] = {}
    for chunk in chunks:
        ordinals.setdefault(chunk.document_id, []).append(chunk.ordinal)
    assert {d.id for d in documents.values()} == set(ordinals), "a document has no chunk"
    for doc_id, seen in ordinals.items():
        assert sorted(seen) == list(range(len(seen))), f"{doc_id}: chunks {sorted(seen)}"
    return len(chunks)


def test_kill_9_one_replica_mid_ingest_the_other_serves_and_finishes_it(
    cluster: Cluster,
) -> None:
    _, secret = cluster.key("bulk")
    body = _bulk_documents()
    result: dict[str, Any] = {}

    def ingest_through_a() -> None:
        try:
            result["a"] = httpx.post(
                f"{cluster.a.url}/api/collections/bulk/documents",
                json=body,
                headers=_bearer(secret),
                timeout=300,
            )
        except httpx.HTTPError as exc:
            result["a"] = exc

    sender = threading.Thread(target=ingest_through_a)
    sender.start()
    deadline = time.monotonic() + 120
    try:
        while len(_documents(cluster, "bulk")) < 16:
            assert cluster.a.alive, cluster.a.log()
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.05)
        cluster.a.kill9()
        sender.join(timeout=60)
        assert isinstance(result.get("a"), httpx.HTTPError), "a answered before it was killed"
        committed = len(_documents(cluster, "bulk"))
        assert 16 <= committed < N_BULK, "the kill must land mid-ingest"

        # b keeps serving, the part that a committed included
        assert httpx.get(f"{cluster.b.url}/healthz", timeout=30).status_code == 200
        search = httpx.post(
            f"{cluster.b.url}/api/collections/bulk/search",
            json={"query": "topic 3", "k": 3},
            headers=_bearer(secret),
            timeout=120,
        )
        assert search.status_code == 200 and search.json()["hits"], search.text
        _check_whole(cluster, "bulk", committed)

        again = httpx.post(
            f"{cluster.b.url}/api/collections/bulk/documents",
            json=body,
            headers=_bearer(secret),
            timeout=300,
        )
        assert again.status_code == 200, again.text
        report = again.json()
        assert report["unchanged"] == committed
        assert report["added"] == N_BULK - committed
        assert report["failed"] == [] and report["updated"] == 0
        assert _check_whole(cluster, "bulk", N_BULK) >= N_BULK
    finally:
        if not cluster.a.alive:
            cluster.a.start()  # the other tests (in any order) find two replicas
