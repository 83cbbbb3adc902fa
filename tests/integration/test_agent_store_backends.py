"""The agent-run store conformance suite on both backends: SQLite and a real PostgreSQL
(``pg_url``), opened through each backend's factory (``agent_runs()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.config import load_settings
from ragline.store.postgres_stores import PostgresStores
from ragline.store.sqlite_stores import SQLiteStores
from ragline.testing.agent_store_conformance import AgentRunStoreConformance

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return SQLiteStores(f"sqlite:///{tmp_path}/db/ragline.db", load_settings(home=tmp_path))
    return PostgresStores(request.getfixturevalue("pg_url"), load_settings(home=tmp_path))


class TestAgentRunStore(AgentRunStoreConformance):
    @pytest.fixture
    def agent_runs(self, backend: Any) -> Iterator[Any]:
        store = backend.agent_runs()
        yield store
        with contextlib.suppress(Exception):
            store.close()

    @pytest.fixture
    def reopen(self, backend: Any) -> Callable[[], Any]:
        return backend.agent_runs


def test_the_factory_opens_it_with_the_settings_retention(tmp_path: Path) -> None:
    from ragline.store.factory import open_agent_runs
    from ragline.testing.agent_store_conformance import run_record

    settings = load_settings(home=tmp_path, agent={"keep_runs": 2})
    store = open_agent_runs(settings)
    try:
        assert "0008_agent_runs" in store.applied_migrations()  # type: ignore[attr-defined]
        for i in range(5):
            store.save_run(run_record(f"r{i}", "done"))
        assert [r.id for r in store.list_runs()] == ["r4", "r3"]
    finally:
        store.close()
