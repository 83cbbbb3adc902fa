"""Functional correctness of generated code: sandboxed test runs and unbiased pass@k.

Running generated code is **off by default**, as in HumanEval-style harnesses:
:func:`run_python` and :func:`check_correctness` raise :class:`~ragline.errors.ConfigError`
unless called with ``allow_code_execution=True``, which ``ragline eval run
--allow-code-execution`` or the setting ``eval.allow_code_execution`` turns on.

Each program then runs in its own child interpreter (``python -I``) with a fresh temporary
working directory (removed afterwards, ``HOME`` and ``TMPDIR`` inside it), an environment
cleared down to ``PATH`` and ``LANG``, and a wall-clock timeout that kills the child's whole
process group. Before the program's first line the child fences itself in with what the
kernel permits (:mod:`ragline.evaluate.metrics._fence`): resource limits (memory, CPU time,
file size, open files, process count), new user and network namespaces (no network, not
even 127.0.0.1), and a Landlock ruleset (no file outside the Python installation, the
system libraries and its directory; no TCP). An audit hook gives plain Python code a clear
error; it is not relied on, since ``ctypes`` steps around it. What could not be applied on
this machine is listed in :attr:`ExecutionResult.missing`, and the metric reports it.
docs/evaluation.md ("Code execution") says what this does not protect against.

:func:`check_correctness` runs a candidate against its tests (HumanEval style: the tests
define ``check(candidate)``, or plain asserts), and :func:`pass_at_k` is the unbiased
estimator of Chen et al. (2021): ``1 - C(n - c, k) / C(n, k)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ragline.errors import ConfigError

Status = Literal["passed", "failed", "timeout", "error"]

_OUTPUT_LIMIT = 64 * 1024
_FENCE = Path(__file__).with_name("_fence.py")

#: How to turn code execution on, named by the refusal.
ENABLE_HINT = (
    "pass --allow-code-execution to `ragline eval run`, or set eval.allow_code_execution = "
    "true (RAGLINE_EVAL__ALLOW_CODE_EXECUTION=1); read docs/evaluation.md, Code execution, first"
)


def require_code_execution(allowed: bool) -> None:
    """Raise :class:`ConfigError` unless running generated code was explicitly allowed."""
    if not allowed:
        raise ConfigError(
            "the code-execution metric runs model-generated programs on this machine and is "
            "off by default",
            hint=ENABLE_HINT,
        )


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How one sandboxed run ended."""

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    #: the barriers the child put up, and those it could not (with the reason)
    applied: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _decode(data: bytes | None) -> str:
    return (data or b"")[:_OUTPUT_LIMIT].decode("utf-8", errors="replace")


def _read_report(fd: int) -> dict:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    try:
        return json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}


def run_python(
    program: str,
    *,
    allow_code_execution: bool = False,
    timeout: float = 10.0,
    memory_mb: int | None = 1024,
    max_file_mb: int = 16,
    stdin: str = "",
    python: str | None = None,
) -> ExecutionResult:
    """Run ``program`` in a fenced child interpreter (see the module docstring).

    ``status`` is ``"passed"`` for exit code 0, ``"failed"`` for a non-zero exit (an
    exception, a failed assert, a memory error), ``"timeout"`` when the wall clock ran out,
    and ``"error"`` when the child could not be started or fenced in.
    """
    require_code_execution(allow_code_execution)
    if timeout <= 0:
        raise ConfigError(f"timeout must be positive, got {timeout}")
    if memory_mb is not None and memory_mb < 64:
        raise ConfigError(f"memory_mb must be at least 64, got {memory_mb}")
    workdir = Path(tempfile.mkdtemp(prefix="ragline-exec-"))
    try:
        source = workdir / "program.py"
        source.write_text(program, encoding="utf-8")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            # numeric libraries reserve address space per thread; keep them to one
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        config = {
            "workdir": str(workdir),
            "cpu_seconds": max(1, int(timeout) + 1),
            "file_bytes": max_file_mb * 1024 * 1024,
            "memory_bytes": memory_mb * 1024 * 1024 if memory_mb is not None else None,
        }
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        try:
            child = subprocess.Popen(
                [
                    python or sys.executable,
                    "-I",
                    str(_FENCE),
                    json.dumps(config),
                    str(source),
                    str(write_fd),
                ],
                cwd=workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: the timeout kills it all
                pass_fds=(write_fd,),
            )
        except OSError as exc:
            os.close(read_fd)
            return ExecutionResult("error", None, "", str(exc), 0.0)
        finally:
            os.close(write_fd)
        try:
            out, err = child.communicate(stdin.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            out, err = child.communicate()
            status: Status = "timeout"
        else:
            status = "passed" if child.returncode == 0 else "failed"
        seconds = time.perf_counter() - started
        report = _read_report(read_fd)
        if report.get("error"):
            status = "error"
            err = f"sandbox setup failed: {report['error']}\n".encode() + (err or b"")
        return ExecutionResult(
            status,
            None if status == "timeout" else child.returncode,
            _decode(out),
            _decode(err),
            seconds,
            applied=tuple(report.get("applied", ())),
            missing=tuple(report.get("missing", ())),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()


def check_correctness(
    candidate: str,
    tests: str,
    *,
    entry_point: str | None = None,
    prompt: str = "",
    allow_code_execution: bool = False,
    timeout: float = 10.0,
    memory_mb: int | None = 1024,
) -> ExecutionResult:
    """Run ``prompt + candidate`` followed by ``tests`` in the sandbox (refused unless
    ``allow_code_execution``).

    With ``entry_point`` the tests are expected to define ``check(fn)`` (HumanEval), which is
    then called on the named function; without it the tests run as they are (asserts).
    """
    require_code_execution(allow_code_execution)
    program = f"{prompt}{candidate}\n\n{tests}\n"
    if entry_point:
        if not entry_point.isidentifier():
            raise ConfigError(f"entry_point must be an identifier, got {entry_point!r}")
        program += f"\ncheck({entry_point})\n"
    return run_python(program, allow_code_execution=True, timeout=timeout, memory_mb=memory_mb)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed (Chen et al. 2021)."""
    if not 0 <= c <= n or k < 1 or n < 1:
        raise ConfigError(f"need 0 <= c <= n, n >= 1 and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ConfigError(f"k={k} exceeds the number of samples n={n}")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k) / C(n, k) as a stable product.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(samples: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as ``(n, c)`` pairs."""
    if not samples:
        raise ConfigError("no problems to average pass@k over")
    return sum(pass_at_k(n, c, k) for n, c in samples) / len(samples)


__all__ = [
    "ENABLE_HINT",
    "ExecutionResult",
    "Status",
    "check_correctness",
    "mean_pass_at_k",
    "pass_at_k",
    "require_code_execution",
    "run_python",
]
