"""The suite's own guards (tests/conftest.py): under RAGLINE_CI a skip fails, and no test may
connect anywhere but loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pytest_socket import SocketConnectBlockedError

from conftest import REPO
from ragline.testing.chat_conformance import ChatModelConformance, FakeChatModel

TESTS = """
import pytest

def test_passes():
    pass

def test_needs_a_browser():
    pytest.skip("no /usr/bin/chromium")
"""
MODULE_SKIP = """
import pytest
pytest.importorskip("no_such_optional_dependency_xyz")

def test_never_collected():
    pass
"""


def _run(tmp_path: Path, ci: str | None, **files: str) -> subprocess.CompletedProcess[str]:
    """A child pytest over ``files`` with the suite's own conftest and pytest settings."""
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "RAGLINE_CI"}
    if ci is not None:
        env["RAGLINE_CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skip_is_a_skip_outside_ci(tmp_path: Path) -> None:
    res = _run(tmp_path, None, test_a=TESTS, test_b=MODULE_SKIP)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 2 skipped" in res.stdout


def test_under_ci_a_skip_fails_with_its_reason(tmp_path: Path) -> None:
    res = _run(tmp_path, "1", test_a=TESTS)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 failed, 1 passed" in res.stdout
    assert "would skip: Skipped: no /usr/bin/chromium" in res.stdout
    assert "RAGLINE_CI is set, so a skip is a failure" in res.stdout


def test_under_ci_a_module_level_skip_is_a_collection_error(tmp_path: Path) -> None:
    res = _run(tmp_path, "1", test_b=MODULE_SKIP)
    assert res.returncode == pytest.ExitCode.INTERRUPTED, res.stdout + res.stderr
    assert "would skip: Skipped: could not import 'no_such_optional_dependency_xyz'" in (res.stdout)
    assert "1 error" in res.stdout and "skipped" not in res.stdout


LATE_SKIP = """
import pytest

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield  # runs after the suite's own hook has looked at the report
    if call.when == "call":
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 1, "Skipped: late")
    return report
"""


def test_under_ci_a_skip_that_slips_past_the_hook_still_fails_the_session(
    tmp_path: Path,
) -> None:
    (tmp_path / "late").mkdir()
    (tmp_path / "late" / "conftest.py").write_text(LATE_SKIP)
    (tmp_path / "late" / "test_late.py").write_text("def test_late():\n    pass\n")
    res = _run(tmp_path, "1")
    assert "1 skipped" in res.stdout, res.stdout + res.stderr
    assert res.returncode == 1
    assert "RAGLINE_CI: 1 skipped; a skip fails CI" in res.stdout
    assert _run(tmp_path, None).returncode == 0


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect:UserWarning")
def test_connecting_beyond_loopback_is_blocked_before_any_packet() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): documentation only, routed nowhere.
    with pytest.raises(SocketConnectBlockedError, match=r'host "192\.0\.2\.1"'):
        socket.create_connection(("192.0.2.1", 80), timeout=0.5)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 53))  # a UDP "connect" picks a route: blocked as well


def test_loopback_is_allowed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted = threading.Thread(target=lambda: server.accept()[0].close())
        accepted.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        accepted.join(5)
    assert not accepted.is_alive()


def test_a_declared_capability_is_checked_not_skipped() -> None:
    """The chat conformance suite asserts what a provider declares it cannot do."""
    model = FakeChatModel(["a b c d e f"], logprobs=[-0.25])

    class Reports(ChatModelConformance):
        supports_logprobs = True

    class DeclaresNone(ChatModelConformance):
        supports_logprobs = False

    Reports().test_logprobs(model)
    with pytest.raises(AssertionError):  # it said "no log-probabilities" yet reported one
        DeclaresNone().test_logprobs(model)
