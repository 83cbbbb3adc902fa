"""Functional correctness of generated code: sandboxed test runs and unbiased pass@k.

:func:`run_python` runs a Python program in a child interpreter that is fenced in:

* a fresh temporary working directory, removed afterwards; ``HOME`` and ``TMPDIR`` point
  into it and the environment is otherwise empty (no proxies, no credentials);
* ``python -I`` (isolated: no user site, no ``PYTHON*`` variables, no cwd on the path);
* resource limits: address space (``RLIMIT_AS``), CPU seconds, size of written files, no
  core dumps; a wall-clock timeout that kills the child's whole process group;
* no network: the child first tries to move into fresh user and network namespaces (only a
  loopback interface, down), and in any case installs an audit hook that refuses socket
  creation and connections, and the spawning of other programs (``subprocess``,
  ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.fork``).

This is a guard against accidents and careless code, not a security boundary against
hostile code (``ctypes`` can undo most of it); run untrusted code in a container as well.

:func:`check_correctness` runs a candidate against its tests (HumanEval style: the tests
define ``check(candidate)``, or plain asserts), and :func:`pass_at_k` is the unbiased
estimator of Chen et al. (2021): ``1 - C(n - c, k) / C(n, k)``.
"""

from __future__ import annotations

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

# Runs inside the child before the program. It must not leave names behind that the program
# could rely on, so it lives in a function and deletes itself.
_PRELUDE = r"""
def _ragline_fence():
    import sys
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
        if libc.unshare(CLONE_NEWNET) != 0:
            libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except Exception:
        pass
    blocked = (
        "socket.__new__", "socket.connect", "socket.bind", "socket.sendto",
        "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname",
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
        "os.fork", "os.forkpty", "pty.spawn",
    )
    def hook(event, args):
        if event in blocked:
            raise PermissionError(f"sandbox: {event} is not allowed")
    sys.addaudithook(hook)
_ragline_fence()
del _ragline_fence
"""

_RUNNER = r"""
import sys
with open(sys.argv[1], encoding="utf-8") as _f:
    _source = _f.read()
exec(compile(_PRELUDE, "<sandbox>", "exec"))
del _f
_code = compile(_source, "program.py", "exec")
del _source
exec(_code, {"__name__": "__main__", "__file__": sys.argv[1], "__builtins__": __builtins__})
"""


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How one sandboxed run ended."""

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _limits(memory_bytes: int | None, cpu_seconds: int, file_bytes: int) -> None:
    import resource

    if memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _decode(data: bytes | None) -> str:
    return (data or b"")[:_OUTPUT_LIMIT].decode("utf-8", errors="replace")


def run_python(
    program: str,
    *,
    timeout: float = 10.0,
    memory_mb: int | None = 1024,
    max_file_mb: int = 16,
    stdin: str = "",
    python: str | None = None,
) -> ExecutionResult:
    """Run ``program`` in a fenced child interpreter (see the module docstring).

    ``status`` is ``"passed"`` for exit code 0, ``"failed"`` for a non-zero exit (an
    exception, a failed assert, a memory error), ``"timeout"`` when the wall clock ran out,
    and ``"error"`` when the child could not be started.
    """
    if timeout <= 0:
        raise ConfigError(f"timeout must be positive, got {timeout}")
    if memory_mb is not None and memory_mb < 64:
        raise ConfigError(f"memory_mb must be at least 64, got {memory_mb}")
    workdir = Path(tempfile.mkdtemp(prefix="ragline-exec-"))
    try:
        source = workdir / "program.py"
        source.write_text(program, encoding="utf-8")
        runner = workdir / "_runner.py"
        runner.write_text(f"_PRELUDE = {_PRELUDE!r}\n{_RUNNER}", encoding="utf-8")
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
        memory = memory_mb * 1024 * 1024 if memory_mb is not None else None
        cpu = max(1, int(timeout) + 1)
        started = time.perf_counter()
        try:
            child = subprocess.Popen(
                [python or sys.executable, "-I", str(runner), str(source)],
                cwd=workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=lambda: _limits(memory, cpu, max_file_mb * 1024 * 1024),
            )
        except OSError as exc:
            return ExecutionResult("error", None, "", str(exc), 0.0)
        try:
            out, err = child.communicate(stdin.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            out, err = child.communicate()
            return ExecutionResult(
                "timeout", None, _decode(out), _decode(err), time.perf_counter() - started
            )
        seconds = time.perf_counter() - started
        status: Status = "passed" if child.returncode == 0 else "failed"
        return ExecutionResult(status, child.returncode, _decode(out), _decode(err), seconds)
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
    timeout: float = 10.0,
    memory_mb: int | None = 1024,
) -> ExecutionResult:
    """Run ``prompt + candidate`` followed by ``tests`` in the sandbox.

    With ``entry_point`` the tests are expected to define ``check(fn)`` (HumanEval), which is
    then called on the named function; without it the tests run as they are (asserts).
    """
    program = f"{prompt}{candidate}\n\n{tests}\n"
    if entry_point:
        if not entry_point.isidentifier():
            raise ConfigError(f"entry_point must be an identifier, got {entry_point!r}")
        program += f"\ncheck({entry_point})\n"
    return run_python(program, timeout=timeout, memory_mb=memory_mb)


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
    "ExecutionResult",
    "Status",
    "check_correctness",
    "mean_pass_at_k",
    "pass_at_k",
    "run_python",
]
