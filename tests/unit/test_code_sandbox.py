"""The code-execution sandbox holds at the kernel, not only in Python.

Each test runs a real child interpreter. The programs reach around the audit hook with
``ctypes`` where that is the point: the barrier must be the kernel's (namespaces, Landlock,
seccomp, rlimits), not the hook. A barrier this kernel cannot put up skips the test locally
and fails it in CI (``RAGLINE_CI=1``), so CI cannot pass without the sandbox holding.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics import check_correctness, run_python
from ragline.evaluate.metrics.code import ExecutionResult

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")

README = Path(__file__).resolve().parents[2] / "README.md"


def _run(program: str, **kwargs) -> ExecutionResult:
    return run_python(program, allow_code_execution=True, **kwargs)


def _require(result: ExecutionResult, barrier: str) -> None:
    if not any(barrier in a for a in result.applied):
        message = f"this kernel did not allow {barrier!r}: {result.missing}"
        if os.environ.get("RAGLINE_CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_refuses_without_the_flag() -> None:
    for call in (
        lambda: run_python("print(1)"),
        lambda: check_correctness("def f():\n    return 1\n", "assert f() == 1"),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        text = f"{info.value.message} {info.value.hint}"
        assert "--allow-code-execution" in text and "eval.allow_code_execution" in text


def test_cannot_read_a_file_outside_its_directory(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-content")
    secret.chmod(0o600)
    assert README.is_file()
    program = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for path in ({str(secret)!r}, {str(README)!r}):\n"
        "    fd = libc.open(path.encode(), 0)\n"  # around the audit hook: the kernel decides
        "    print('fd', fd, ctypes.get_errno())\n"
        "    try:\n"
        "        print(open(path).read())\n"
        "    except PermissionError as exc:\n"
        "        print('denied', exc.errno)\n"
    )
    result = _run(program)
    _require(result, "landlock")
    assert result.passed, result.stderr
    assert "the-secret-content" not in result.stdout
    assert result.stdout.count("denied 13") == 2
    assert result.stdout.count("fd -1 13") == 2
    # the same program can read what it wrote in its own directory
    own = _run("open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())")
    assert own.passed and own.stdout == "ok\n"


def test_cannot_write_to_the_home_directory(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the user's home, as the parent sees it
    target = Path("~/x").expanduser()
    assert target.parent == home
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"fd = libc.open({str(target)!r}.encode(), os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "print('fd', fd, ctypes.get_errno())\n"
        f"open({str(target)!r}, 'w').write('written')\n"
    )
    result = _run(program)
    _require(result, "landlock")
    assert result.status == "failed"
    assert "PermissionError" in result.stderr
    assert "fd -1 13" in result.stdout
    assert not target.exists()
    # ~ inside the sandbox is its own temporary directory
    inside = _run("import os\nprint(os.path.expanduser('~'))")
    assert "ragline-exec-" in inside.stdout


def test_cannot_open_a_socket_even_to_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        program = (  # a raw connect(2) through ctypes: the audit hook never sees it
            "import ctypes, struct\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "fd = libc.socket(2, 1, 0)\n"
            f"addr = struct.pack('=H', 2) + struct.pack('!H', {port}) + bytes([127, 0, 0, 1])"
            " + bytes(8)\n"
            "print('connect', libc.connect(fd, addr, 16), ctypes.get_errno())\n"
        )
        result = _run(program)
        _require(result, "network namespace")
        assert result.passed, result.stderr
        assert result.stdout.startswith("connect -1 ")
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever reached the listener
        plain = _run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)")
        assert plain.status == "failed"
        with pytest.raises(TimeoutError):
            server.accept()


def test_is_killed_past_its_time_limit() -> None:
    for program in ("while True:\n    pass\n", "import time\ntime.sleep(60)\n"):
        result = _run(program, timeout=1.0)
        assert result.status == "timeout" and result.returncode is None
        assert result.seconds < 5


def test_cannot_start_processes_or_threads() -> None:
    program = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('fork', libc.fork())\n"
        "import threading\n"
        "threading.Thread(target=print).start()\n"
    )
    result = _run(program)
    _require(result, "seccomp")
    assert result.status == "failed"
    assert "fork -1" in result.stdout
    assert "can't start new thread" in result.stderr


def test_reports_what_it_applied_and_what_it_could_not() -> None:
    result = _run("print(1)")
    assert result.passed
    assert any(a.startswith("rlimits") for a in result.applied)
    for note in result.missing:  # a missing barrier says which and why
        assert ":" in note


def _code_spec(tmp_path: Path) -> Path:
    import json

    items = [
        {
            "id": "add",
            "question": "write add",
            "entry_point": "add",
            "test": "def check(fn):\n    assert fn(2, 3) == 5\n",
            "prediction": "def add(a, b):\n    return a + b\n",
        },
        {
            "id": "sub",
            "question": "write sub",
            "entry_point": "sub",
            "test": "def check(fn):\n    assert fn(5, 3) == 2\n",
            "prediction": "def sub(a, b):\n    return a + b\n",  # wrong
        },
    ]
    data = tmp_path / "code.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in items))
    spec = {
        "name": "code",
        "dataset": str(data),
        "system": {"output_field": "prediction"},
        "metrics": [{"type": "code"}],
    }
    path = tmp_path / "code.json"
    path.write_text(json.dumps(spec))
    return path


def test_eval_run_refuses_the_code_metric_without_the_flag(tmp_path: Path, ragline_home) -> None:
    import json

    from typer.testing import CliRunner

    from ragline.cli.main import app

    runner = CliRunner()
    spec = _code_spec(tmp_path)
    refused = runner.invoke(app, ["eval", "run", str(spec), "--json"])
    assert refused.exit_code != 0 and isinstance(refused.exception, ConfigError)
    assert "--allow-code-execution" in str(refused.exception)
    assert "eval.allow_code_execution" in str(refused.exception)
    allowed = runner.invoke(app, ["eval", "run", str(spec), "--json", "--allow-code-execution"])
    assert allowed.exit_code == 0, allowed.output
    metrics = {m["name"]: m for m in json.loads(allowed.stdout)["metrics"]}
    assert metrics["pass@1"]["mean"] == 0.5


def test_a_barrier_the_kernel_refuses_is_reported(tmp_path: Path) -> None:
    """Fault injection with the kernel's own refusal: the child is started under a seccomp
    filter that fails ``unshare`` with EPERM (as a container that forbids it does)."""
    import platform

    from ragline.evaluate.metrics import _fence

    unshare = {"x86_64": 272, "aarch64": 97}.get(platform.machine())
    if unshare is None:
        pytest.skip(f"no unshare syscall number for {platform.machine()}")
    wrapper = tmp_path / "python-without-unshare"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import ctypes, os, sys\n"
        f"sys.path.insert(0, {str(Path(_fence.__file__).parent)!r})\n"
        "import _fence\n"
        "ctypes.CDLL(None).prctl(_fence.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)\n"
        f"assert _fence.deny_syscalls(({unshare},)) is None\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    result = _run("print('ran')", python=str(wrapper))
    assert result.passed and result.stdout == "ran\n", result.stderr
    assert any(m.startswith("network namespace: Operation not permitted") for m in result.missing)
    assert not any(a.startswith("network namespace") for a in result.applied)
