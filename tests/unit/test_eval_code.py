"""Sandboxed execution of generated code, and the unbiased pass@k estimator."""

from __future__ import annotations

import itertools
import sys
from math import comb

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics import check_correctness, mean_pass_at_k, pass_at_k
from ragline.evaluate.metrics import run_python as _run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sandbox limits are Linux-only")


def run_python(program: str, **kwargs):
    return _run_python(program, allow_code_execution=True, **kwargs)


def test_pass_at_k_matches_the_combinatorial_definition() -> None:
    for n, c, k in itertools.product(range(1, 12), range(0, 12), range(1, 12)):
        if c > n or k > n:
            continue
        expected = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert pass_at_k(200, 0, 10) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert mean_pass_at_k([(5, 2), (5, 0)], 1) == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ConfigError):
        pass_at_k(5, 1, 6)


def test_passing_and_failing_programs() -> None:
    ok = run_python("print('hello')")
    assert ok.passed and ok.stdout == "hello\n" and ok.returncode == 0
    bad = run_python("assert 1 == 2, 'nope'")
    assert bad.status == "failed" and "nope" in bad.stderr


def test_humaneval_style_check() -> None:
    candidate = "def add(a, b):\n    return a + b\n"
    tests = "def check(fn):\n    assert fn(2, 3) == 5\n    assert fn(-1, 1) == 0\n"
    assert check_correctness(candidate, tests, entry_point="add", allow_code_execution=True).passed
    wrong = "def add(a, b):\n    return a - b\n"
    assert (
        check_correctness(wrong, tests, entry_point="add", allow_code_execution=True).status
        == "failed"
    )
    with pytest.raises(ConfigError):
        check_correctness(candidate, tests, entry_point="add; import os", allow_code_execution=True)


def test_timeout_kills_the_program() -> None:
    result = run_python("while True:\n    pass\n", timeout=1.0)
    assert result.status == "timeout"
    assert result.seconds < 5


def test_memory_limit() -> None:
    result = run_python("x = bytearray(600 * 1024 * 1024)\nprint('allocated')", memory_mb=256)
    assert result.status == "failed"
    assert "MemoryError" in result.stderr


def test_network_and_subprocesses_are_refused() -> None:
    net = run_python("import socket\ns = socket.create_connection(('127.0.0.1', 9), timeout=1)\n")
    assert net.status == "failed"
    assert "PermissionError" in net.stderr or "OSError" in net.stderr
    spawn = run_python("import subprocess\nsubprocess.run(['true'])\n")
    assert spawn.status == "failed" and "not allowed" in spawn.stderr
    system = run_python("import os\nos.system('true')\n")
    assert system.status == "failed" and "not allowed" in system.stderr


def test_runs_in_a_clean_temporary_directory(tmp_path) -> None:
    program = (
        "import os, sys\n"
        "open('out.txt', 'w').write('x')\n"
        "print(os.getcwd())\n"
        "print(sorted(k for k in os.environ if 'TOKEN' in k or 'KEY' in k))\n"
    )
    result = run_python(program)
    assert result.passed
    cwd, secrets = result.stdout.splitlines()
    assert "ragline-exec-" in cwd
    assert secrets == "[]"
    import os

    assert not os.path.exists(cwd)  # removed afterwards
