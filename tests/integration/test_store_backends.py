"""Every store conformance suite, unchanged, on both backends: SQLite and a real PostgreSQL 18
with pgvector (started once per session by ``tests/conftest.py``; a database per test)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.config import load_settings
from ragline.store.postgres_stores import PostgresStores
from ragline.store.sqlite_limits import SQLiteLimitStore
from ragline.store.sqlite_stores import SQLiteStores
from ragline.testing.cache_conformance import CacheStoreConformance
from ragline.testing.eval_store_conformance import EvalStoreConformance
from ragline.testing.handoff_conformance import HandoffStoreConformance
from ragline.testing.keys_conformance import KeyStoreConformance
from ragline.testing.limits_conformance import FakeClock, LimitStoreConformance
from ragline.testing.memory_store_conformance import MemoryStoreConformance
from ragline.testing.store_conformance import StoreConformance
from ragline.testing.trace_conformance import TraceStoreConformance
from ragline.testing.vector_index_conformance import VectorIndexConformance

pytestmark = pytest.mark.integration

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return SQLiteStores(f"sqlite:///{tmp_path}/db/ragline.db")
    return PostgresStores(request.getfixturevalue("pg_url"), load_settings())


def _opened(store: Any) -> Iterator[Any]:
    yield store
    with contextlib.suppress(Exception):  # a test may have closed it
        store.close()


class TestStore(StoreConformance):
    @pytest.fixture
    def store(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.documents())


class TestTraceStore(TraceStoreConformance):
    @pytest.fixture
    def traces(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.traces())


class TestEvalStore(EvalStoreConformance):
    @pytest.fixture
    def eval_store(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.evals())


class TestKeyStore(KeyStoreConformance):
    @pytest.fixture
    def keys(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.keys())

    @pytest.fixture
    def reopen(self, backend: Any) -> Callable[[], Any]:
        return backend.keys


def _limits(backend: Any, clock: FakeClock) -> Any:
    if isinstance(backend, SQLiteStores):
        return SQLiteLimitStore(backend.path, clock=clock)
    return backend.limits(clock=clock)


class TestLimitStore(LimitStoreConformance):
    @pytest.fixture
    def limits(self, backend: Any, clock: FakeClock) -> Iterator[Any]:
        yield from _opened(_limits(backend, clock))

    @pytest.fixture
    def reopen(self, backend: Any, clock: FakeClock) -> Callable[[], Any]:
        return lambda: _limits(backend, clock)


class TestHandoffStore(HandoffStoreConformance):
    @pytest.fixture
    def handoffs(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.handoffs())

    @pytest.fixture
    def reopen(self, backend: Any) -> Callable[[], Any]:
        return backend.handoffs


class TestCacheStore(CacheStoreConformance):
    @pytest.fixture
    def cache_store(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.cache())

    @pytest.fixture
    def reopen(self, backend: Any) -> Callable[[], Any]:
        return backend.cache


class TestMemoryStore(MemoryStoreConformance):
    @pytest.fixture
    def memory(self, backend: Any) -> Iterator[Any]:
        yield from _opened(backend.memory())

    @pytest.fixture
    def reopen(self, backend: Any) -> Callable[[], Any]:
        return backend.memory


class TestPostgresVectorIndex(VectorIndexConformance):
    """pgvector HNSW, one index per collection (SQLite has no vector index of its own)."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Any]:
        yield from _opened(PostgresStores(pg_url, load_settings()).documents())
