"""Issue 13 on a real uvicorn server: fail closed per request, per-key policy, ownership.

* A server on ``0.0.0.0`` with one admin key: revoke it while the server runs, and every
  route answers 401 to callers with no key (reached through 127.0.0.1; no other address is
  ever contacted).
* ``--rpm 10``: of 30 concurrent requests exactly 10 succeed, the rest 429 with Retry-After.
* ``--budget-usd 0.01`` on a priced fake model through the real gateway: spending stops within
  one request's cost, and what is counted is the price table's cost of each answer.
* ``--models``: a model outside the list is 403, on /api and /v1 alike; a key with a budget
  may not use an unpriced model.
* Feedback on a trace of a collection the key may not read is 404.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ragline.api import Ragline
from ragline.cli.main import app as cli
from ragline.errors import ConfigError
from ragline.models.chat import Usage
from ragline.models.gateway import Gateway
from ragline.models.pricing import Price, PriceTable
from ragline.server import create_app
from ragline.server.runner import ServerThread
from ragline.store.keys_base import KeyPolicy
from ragline.store.limits_base import SPEND_USD
from ragline.store.sqlite_keys import SQLiteKeyStore
from ragline.store.traces_base import FeedbackQuery
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import server_settings, write_corpus

pytestmark = pytest.mark.integration

#: USD per million tokens of the fake priced model.
PAID = Price(input_per_million=10.0, output_per_million=100.0)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("policy-home")
    with Ragline(server_settings(home, trace={"enabled": False})) as rag:
        corpus = write_corpus(home / "corpus")
        rag.ingest([corpus], collection="a")
        rag.ingest([corpus / "venus.md"], collection="b")
    return home


def _gateway(settings) -> Gateway:
    models = {
        "embedded": FakeChatModel(["Venus is the hottest planet [1]."], name="embedded"),
        "paid": FakeChatModel(["one two three four five six seven eight"], name="paid"),
        "unpriced": FakeChatModel(["free?"], name="unpriced"),
    }
    prices = PriceTable({"paid": PAID, "embedded": Price(0.0, 0.0)})
    return Gateway(settings, models=models, price_table=prices)


@pytest.fixture
def serve(home: Path):
    """Start a server on ``host`` (trace settings optional); yields (thread, app)."""
    started: list[ServerThread] = []

    def start(host: str = "127.0.0.1", **sections):
        settings = server_settings(home, **({"trace": {"enabled": False}} | sections))
        app = create_app(settings, gateway=_gateway(settings))
        thread = ServerThread(app, host=host).start()
        started.append(thread)
        return thread, app

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
def keys(home: Path) -> Iterator[SQLiteKeyStore]:
    store = SQLiteKeyStore(home / "ragline.db")
    yield store
    for key in store.list_keys():  # each test leaves the home without an active key
        store.revoke_key(key.id)
    store.close()


def _call(url: str, method: str, path: str, key: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.request(method, path, headers=headers, **kw)


CHAT = {"messages": [{"role": "user", "content": "What is the hottest planet?"}]}
#: Every route of the app with a body that would succeed with an admin key.
ROUTES = [
    ("GET", "/api/me", {}),
    ("GET", "/api/collections", {}),
    ("POST", "/api/collections", {"json": {"name": "c"}}),
    ("GET", "/api/collections/a", {}),
    ("POST", "/api/collections/a/search", {"json": {"query": "hottest planet"}}),
    ("POST", "/api/collections/a/ask", {"json": {"question": "hottest planet?", "stream": False}}),
    ("POST", "/api/collections/a/documents", {"json": {"documents": [{"text": "Mars."}]}}),
    ("POST", "/api/feedback", {"json": {"trace_id": "0" * 32, "thumbs": "up"}}),
    ("GET", "/v1/models", {}),
    ("POST", "/v1/chat/completions", {"json": {"model": "ragline:a", **CHAT}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "embedded", **CHAT}}),
    ("POST", "/v1/embeddings", {"json": {"model": "ragline", "input": "x"}}),
    ("GET", "/metrics", {}),
    ("DELETE", "/api/collections/a", {}),
]


def test_revoking_the_last_key_of_a_server_on_all_interfaces_closes_every_route(
    serve, keys: SQLiteKeyStore
) -> None:
    admin = keys.create_key("root", "admin")
    thread, app = serve("0.0.0.0")
    url = thread.local_url  # 127.0.0.1: the test never contacts another address
    assert app.state.ragline.listen_host == "0.0.0.0"
    assert _call(url, "GET", "/api/me", admin.secret).json()["key_id"] == admin.key.id
    assert _call(url, "GET", "/v1/models").status_code == 401
    keys.revoke_key(admin.key.id)  # while the server runs
    assert not keys.has_active_keys()
    for method, path, kw in ROUTES:
        for secret in (None, admin.secret):
            r = _call(url, method, path, secret, **kw)
            assert r.status_code == 401, (method, path, secret is not None, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert _call(url, "GET", "/healthz").status_code == 200  # liveness only
    assert _call(url, "GET", "/api/collections/a").status_code == 401  # not deleted
    fresh = keys.create_key("new", "admin")
    assert _call(url, "GET", "/api/collections/a", fresh.secret).status_code == 200
    assert _call(url, "GET", "/api/collections/a").status_code == 401


def test_a_server_on_all_interfaces_is_closed_even_with_an_empty_home(tmp_path: Path) -> None:
    """Decided per request from where the server listens, not once at start: a server bound
    to 0.0.0.0 by other means than `ragline serve` does not fall open either."""
    empty = server_settings(tmp_path / "empty", trace={"enabled": False})
    for host, status in (("0.0.0.0", 401), ("127.0.0.1", 200)):  # loopback, no key ever: open
        with ServerThread(create_app(empty, gateway=_gateway(empty)), host=host) as thread:
            assert _call(thread.local_url, "GET", "/api/collections").status_code == status


def test_on_loopback_a_revoked_key_still_closes_the_home(serve, keys: SQLiteKeyStore) -> None:
    made = keys.create_key("gone", "read")
    keys.revoke_key(made.key.id)
    thread, _ = serve("127.0.0.1")
    r = _call(thread.url, "POST", "/api/collections/a/search", json={"query": "planet"})
    assert r.status_code == 401
    assert _call(thread.url, "GET", "/v1/models", made.secret).status_code == 401


def test_30_concurrent_requests_with_rpm_10_succeed_exactly_10_times(
    serve, keys: SQLiteKeyStore
) -> None:
    made = keys.create_key("limited", "read", policy=KeyPolicy(rpm=10))
    thread, _ = serve()

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {made.secret}"}
        async with httpx.AsyncClient(base_url=thread.url, headers=headers, timeout=60) as c:
            calls = [
                c.post("/api/collections/a/search", json={"query": "hottest planet"})
                for _ in range(30)
            ]
            return await asyncio.gather(*calls)

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 10 + [429] * 20
    refused = [r for r in responses if r.status_code == 429]
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert "10 requests per minute" in refused[0].json()["detail"]
    other = keys.create_key("free", "read")  # limits are per key
    assert _call(thread.url, "GET", "/api/me", other.secret).status_code == 200


def _cost(usage: dict[str, int]) -> float:
    return PAID.cost(Usage(usage["prompt_tokens"], usage["completion_tokens"]))


def test_a_budget_stops_spending_within_one_request(serve, keys: SQLiteKeyStore) -> None:
    budget = 0.01
    made = keys.create_key("spender", "read", policy=KeyPolicy(budget_usd=budget))
    thread, app = serve()
    body = {"model": "paid", "max_tokens": 5, **CHAT}

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {made.secret}"}
        async with httpx.AsyncClient(base_url=thread.url, headers=headers, timeout=60) as c:
            return await asyncio.gather(
                *[c.post("/v1/chat/completions", json=body) for _ in range(40)]
            )

    responses = asyncio.run(burst())
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert ok and refused
    assert {r.status_code for r in refused} == {403}
    assert "budget" in refused[0].json()["detail"]
    costs = [_cost(r.json()["usage"]) for r in ok]
    spent = app.state.ragline.limits.used(made.key.id, SPEND_USD, window_s=None)
    assert spent == pytest.approx(sum(costs))  # counted from the price table, per answer
    assert spent <= budget + max(costs)
    # and sequentially until refused: it stops within one request's cost of the budget
    while True:
        r = _call(thread.url, "POST", "/v1/chat/completions", made.secret, json=body)
        if not r.is_success:
            break
        spent += _cost(r.json()["usage"])
    assert r.status_code == 403
    assert budget - 0.003 <= spent <= budget + max(costs)  # 0.003: a request's worst case


def test_models_outside_the_list_and_unpriced_models(serve, keys: SQLiteKeyStore) -> None:
    only_paid = keys.create_key("paid-only", "read", policy=KeyPolicy(models=("paid",)))
    budgeted = keys.create_key("budget", "read", policy=KeyPolicy(budget_usd=1.0))
    thread, _ = serve()
    url = thread.url
    r = _call(url, "POST", "/v1/chat/completions", only_paid.secret, json={"model": "paid", **CHAT})
    assert r.status_code == 200
    for model in ("embedded", "ragline:a"):  # ragline:a answers with the default model
        r = _call(
            url, "POST", "/v1/chat/completions", only_paid.secret, json={"model": model, **CHAT}
        )
        assert r.status_code == 403, model
        assert "may not use model 'embedded'" in r.json()["error"]["message"]
    ask = {"question": "hottest planet?", "stream": False}
    assert (
        _call(url, "POST", "/api/collections/a/ask", only_paid.secret, json=ask).status_code == 403
    )
    r = _call(
        url, "POST", "/api/collections/a/ask", only_paid.secret, json={**ask, "model": "paid"}
    )
    assert r.status_code == 200
    # unknown price is unknown, never free: a key with a budget may not use it
    r = _call(
        url, "POST", "/v1/chat/completions", budgeted.secret, json={"model": "unpriced", **CHAT}
    )
    assert r.status_code == 403 and "no price" in r.json()["detail"]
    assert "price table" in r.json()["hint"]
    r = _call(
        url, "POST", "/v1/chat/completions", budgeted.secret, json={"model": "embedded", **CHAT}
    )
    assert r.status_code == 200  # priced at zero: a known price


def test_tokens_per_minute_are_429_with_retry_after(serve, keys: SQLiteKeyStore) -> None:
    made = keys.create_key("tpm", "read", policy=KeyPolicy(tpm=280))
    thread, _ = serve()
    body = {"model": "paid", "max_tokens": 60, **CHAT}
    first = _call(thread.url, "POST", "/v1/chat/completions", made.secret, json=body)
    assert first.status_code == 200  # reserved ~265 tokens, then settled to what it used
    second = _call(thread.url, "POST", "/v1/chat/completions", made.secret, json=body)
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
    assert second.json()["error"]["type"] == "rate_limit_error"
    huge = {**body, "max_tokens": 500}
    r = _call(thread.url, "POST", "/v1/chat/completions", made.secret, json=huge)
    assert r.status_code == 403 and "more than" in r.json()["detail"]  # can never fit
    # embeddings count their tokens too
    small = keys.create_key("tpm-emb", "read", policy=KeyPolicy(tpm=12))
    emb = {"model": "ragline", "input": "one two three"}
    codes, used = [], []
    for _ in range(6):
        r = _call(thread.url, "POST", "/v1/embeddings", small.secret, json=emb)
        codes.append(r.status_code)
        if r.status_code == 200:
            used.append(r.json()["usage"]["prompt_tokens"])
    fits = 12 // used[0]
    assert codes == [200] * fits + [429] * (6 - fits)


def test_feedback_only_on_traces_of_readable_collections(serve, keys: SQLiteKeyStore) -> None:
    reader_a = keys.create_key("a", "read", ["a"])
    reader_b = keys.create_key("b", "read", ["b"])
    thread, app = serve(trace={"enabled": True})
    url = thread.url
    ask = {"question": "What is the hottest planet?", "stream": False}
    answer = _call(url, "POST", "/api/collections/a/ask", reader_a.secret, json=ask).json()
    trace_id = answer["trace_id"]
    assert trace_id
    thumbs = {"trace_id": trace_id, "thumbs": "down", "comment": "from b"}
    r = _call(url, "POST", "/api/feedback", reader_b.secret, json=thumbs)
    assert r.status_code == 404  # the same answer as for a trace that does not exist
    r = _call(
        url, "POST", "/api/feedback", reader_b.secret, json={**thumbs, "trace_id": trace_id[:8]}
    )
    assert r.status_code == 404  # nor by a prefix
    # regenerating through b with a's trace id records nothing on a's trace
    regen = {"question": "Venus?", "stream": False, "regenerate_of": trace_id}
    assert (
        _call(url, "POST", "/api/collections/b/ask", reader_b.secret, json=regen).status_code == 200
    )
    store = app.state.ragline.rag.feedback.store

    judged = FeedbackQuery(trace_ids=(trace_id,), kinds=("thumbs", "regeneration"))
    assert store.list_feedback(judged) == []
    r = _call(url, "POST", "/api/feedback", reader_a.secret, json={**thumbs, "comment": "from a"})
    assert r.status_code == 201
    assert [f.kind for f in store.list_feedback(judged)] == ["thumbs"]
    regen = {**regen, "question": "again?"}
    assert _call(url, "POST", "/api/collections/a/ask", reader_a.secret, json=regen).is_success
    assert sorted(f.kind for f in store.list_feedback(judged)) == ["regeneration", "thumbs"]


def test_keys_cli_policy_and_home_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path / "cli-home"))
    runner = CliRunner()
    status = runner.invoke(cli, ["keys", "list"])
    assert status.exit_code == 0 and status.stdout.startswith("open: no key was ever created")
    refused = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert isinstance(refused.exception, ConfigError)  # `ragline` prints it and exits 1
    assert "refusing to serve 0.0.0.0" in refused.exception.message
    args = ["keys", "create", "--name", "bot", "--role", "read", "--collections", "a,b"]
    args += ["--models", "openai:gpt-4o-mini,embedded", "--rpm", "10", "--tpm", "5000"]
    made = runner.invoke(cli, [*args, "--budget-usd", "0.5", "--expires", "30d", "--json"])
    assert made.exit_code == 0, made.output
    record = json.loads(made.stdout)
    assert record["key"].startswith(f"rl_{record['id']}_")
    assert record["collections"] == ["a", "b"]
    assert record["models"] == ["embedded", "openai:gpt-4o-mini"]
    assert (record["rpm"], record["tpm"], record["budget_usd"]) == (10, 5000, 0.5)
    assert record["expires_at"] > record["created_at"]
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.stdout.startswith("closed: 1 active key(s)") and "10 rpm" in listed.stdout
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--expires", "soon"])
    assert isinstance(bad.exception, ConfigError) and "expires" in bad.exception.message
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--rpm", "0"])
    assert isinstance(bad.exception, ConfigError) and "must be above 0" in bad.exception.message
