"""The child side of the code-execution sandbox: fence this process in, then run a program.

Run as a script, ``python -I _fence.py CONFIG_JSON PROGRAM REPORT_FD`` (it imports nothing
but the standard library, so it works without ragline on the path). Before the program's
first line it applies, in this order, what the kernel permits:

1. resource limits (``resource.setrlimit``): address space, CPU seconds, size of written
   files, no core dumps, 64 open files;
2. new user and network namespaces (``unshare(CLONE_NEWUSER | CLONE_NEWNET)``; a network
   namespace alone where user namespaces are refused): no interface but a loopback that is
   down, so no connection anywhere, 127.0.0.1 included;
3. the process-count limit (``RLIMIT_NPROC`` = 0), which the kernel does not apply to root;
4. ``no_new_privs`` and a Landlock ruleset: the program may read (and execute) only the
   Python installation and the system libraries, read and write only its temporary
   directory, open no TCP connection, and signal no process outside its own;
5. a seccomp filter: ``fork``, ``clone`` (threads too), ``clone3``, ``execve`` fail with
   ``EPERM`` — for root too;
6. an audit hook refusing sockets and subprocesses, so plain Python code gets a clear
   ``PermissionError`` (``ctypes`` steps around this one; the barriers above hold anyway).

Each barrier that could not be applied is reported to the parent on ``REPORT_FD`` (a JSON
object ``{"applied": [...], "missing": [...]}``), which is closed before the program runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every
# architecture that has them.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_ALL_V1 = (1 << 13) - 1  # execute … make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
# Files the dynamic loader and the time functions read; devices programs write to.
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())


def set_limits(config: dict, applied: list[str]) -> None:
    limits = [
        (resource.RLIMIT_CPU, config["cpu_seconds"], config["cpu_seconds"] + 1),
        (resource.RLIMIT_FSIZE, config["file_bytes"], config["file_bytes"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, 64, 64),
    ]
    if config.get("memory_bytes"):
        limits.append((resource.RLIMIT_AS, config["memory_bytes"], config["memory_bytes"]))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    applied.append(
        "rlimits: cpu, file size, core, open files"
        + (", memory" if config.get("memory_bytes") else "")
    )


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def enter_namespaces(applied: list[str], missing: list[str]) -> None:
    """New user and network namespaces, or a network namespace alone."""
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        try:  # map our own ids (allowed to anyone): files keep their owners
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as exc:
            missing.append(f"user namespace id map: {exc.strerror}")
        applied.append("network namespace (no interface up)")
        applied.append("user namespace")
        return
    user_error = _errno_text()
    if libc.unshare(CLONE_NEWNET) == 0:
        applied.append("network namespace (no interface up)")
        missing.append(f"user namespace: {user_error}")
        return
    missing.append(f"network namespace: {_errno_text()} (unshare not permitted here)")
    missing.append(f"user namespace: {user_error}")


_ROOT_NPROC = "process-count limit (RLIMIT_NPROC): not applied to root"


def limit_processes(applied: list[str], missing: list[str]) -> None:
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if os.getuid() == 0:
        # The kernel never applies RLIMIT_NPROC to root (real uid 0, any namespace); the
        # seccomp filter below stops new processes there.
        missing.append(_ROOT_NPROC)
    else:
        applied.append("process-count limit (RLIMIT_NPROC = 0: no fork, no threads)")


# seccomp: fork, clone (threads too), clone3, execve and execveat fail with EPERM.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SPAWN_SYSCALLS = {"x86_64": (56, 57, 58, 59, 322, 435), "aarch64": (220, 221, 281, 435)}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_BPF_LD_ABS, _BPF_JEQ, _BPF_JGE, _BPF_RET = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_KILL, _RET_EPERM = 0x7FFF0000, 0x80000000, 0x00050000 | 1


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def deny_syscalls(blocked: tuple[int, ...]) -> str | None:
    """Install a seccomp filter under which the ``blocked`` syscalls (numbers of this
    machine) fail with ``EPERM``; the reason when it could not be. Needs ``no_new_privs``
    (or ``CAP_SYS_ADMIN``); the filter stays across ``exec``."""
    machine = os.uname().machine
    if machine not in _AUDIT_ARCH:
        return f"no syscall table for {machine}"
    m = len(blocked)
    prog = [
        (_BPF_LD_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ, 1, 0, _AUDIT_ARCH[machine]),
        (_BPF_RET, 0, 0, _RET_KILL),  # another ABI (i386, x32 entry points)
        (_BPF_LD_ABS, 0, 0, 0),  # seccomp_data.nr
        (_BPF_JGE, m + 1, 0, 0x40000000),  # x32 syscall numbers
        *((_BPF_JEQ, m - i, 0, nr) for i, nr in enumerate(blocked)),
        (_BPF_RET, 0, 0, _RET_ALLOW),
        (_BPF_RET, 0, 0, _RET_EPERM),
    ]
    filters = (_SockFilter * len(prog))(*(_SockFilter(*ins) for ins in prog))
    fprog = _SockFprog(len(prog), filters)
    if _libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return _errno_text()
    return None


def block_spawning(applied: list[str], missing: list[str]) -> None:
    table = _SPAWN_SYSCALLS.get(os.uname().machine, ())
    problem = deny_syscalls(table)
    if problem is not None:
        missing.append(f"seccomp process filter: {problem}")
    else:
        applied.append("seccomp: no fork, clone, thread or exec")


def _rule(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this system does not have
    try:
        if not os.path.isdir(path):
            access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
        attr = _PathBeneath(access, fd)
        if libc.syscall(SYS_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(attr), 0):
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {_errno_text()}")
    finally:
        os.close(fd)


def landlock(workdir: str, applied: list[str], missing: list[str]) -> None:
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        missing.append(f"no_new_privs: {_errno_text()}")
        return
    abi = libc.syscall(SYS_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        missing.append(f"landlock (filesystem and TCP fence): {_errno_text()}")
        return
    fs = FS_ALL_V1
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0, 0)
    size = 8
    if abi >= 4:
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        missing.append(f"landlock ruleset: {_errno_text()}")
        return
    try:
        python_dirs = {
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
        }
        for path in sorted(python_dirs) + list(SYSTEM_DIRS) + list(SYSTEM_FILES):
            _rule(libc, ruleset, path, READ_ONLY)
        for path in DEVICES:
            _rule(libc, ruleset, path, FS_READ_FILE | FS_WRITE_FILE)
        _rule(libc, ruleset, workdir, fs)
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) != 0:
            missing.append(f"landlock restrict_self: {_errno_text()}")
            return
    finally:
        os.close(ruleset)
    applied.append(f"landlock v{abi}: files outside the Python install and the work directory")
    if abi >= 4:
        applied.append("landlock: no TCP bind or connect")
    else:
        missing.append(f"landlock TCP fence: needs Landlock ABI 4, the kernel has {abi}")


_BLOCKED = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
    }
)


def _audit(event: str, args: tuple) -> None:
    if event in _BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")


def fence(config: dict) -> dict:
    applied: list[str] = []
    missing: list[str] = []
    set_limits(config, applied)
    enter_namespaces(applied, missing)
    limit_processes(applied, missing)
    landlock(config["workdir"], applied, missing)  # sets no_new_privs, which seccomp needs
    block_spawning(applied, missing)
    if _ROOT_NPROC in missing and any(a.startswith("seccomp") for a in applied):
        missing.remove(_ROOT_NPROC)  # the seccomp filter holds the process count for root
        applied.append("process count: held by seccomp (RLIMIT_NPROC does not apply to root)")
    sys.addaudithook(_audit)
    applied.append("audit hook: sockets and subprocesses (Python-level only)")
    return {"applied": applied, "missing": missing}


def main() -> None:
    config = json.loads(sys.argv[1])
    program_path = sys.argv[2]
    report_fd = int(sys.argv[3])
    with open(program_path, encoding="utf-8") as f:
        source = f.read()
    code = compile(source, "program.py", "exec")
    try:
        report = fence(config)
    except Exception as exc:  # a fence that fails half-way must not let the program run
        report = {"applied": [], "missing": [], "error": f"{type(exc).__name__}: {exc}"}
        os.write(report_fd, json.dumps(report).encode())
        os.close(report_fd)
        sys.exit(125)
    os.write(report_fd, json.dumps(report).encode())
    os.close(report_fd)
    del source, config, report, f
    sys.argv = [program_path]
    exec(code, {"__name__": "__main__", "__file__": program_path, "__builtins__": __builtins__})


if __name__ == "__main__":
    main()
