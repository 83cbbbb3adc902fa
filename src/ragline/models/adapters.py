"""LoRA adapters of the local chat models: base names, the adapter folder, the base check.

A chat adapter ``NAME`` (``ragline finetune chat -o NAME``) is the folder
``<finetune.adapters_dir>/NAME`` (default ``$RAGLINE_HOME/adapters/NAME``) holding

* ``adapter.gguf``: the LoRA in llama.cpp's GGUF adapter format, loaded **unmerged** on top of
  the base model's GGUF (llama.cpp ``lora_path``);
* ``adapter.json``: what it was trained on (:class:`AdapterInfo`): its base model, rank,
  alpha, the data file's sha256, the evaluation at the end of training.

A model name ``<base>+NAME`` (``smollm2-135m+support``, ``qwen2.5-0.5b+support``) selects the
adapter per request, through the gateway and the OpenAI-compatible API. The adapter's base
is checked before anything loads: one trained on another base model is refused with
:class:`~ragline.errors.AdapterError` (a LoRA only makes sense on the weights it was trained
on). The GGUF carries the base name too (``ragline.base_model``), for other tools.

Base names: ``smollm2-135m`` is the embedded SmolLM2-135M-Instruct (``smollm2`` and
``embedded``, when ``gateway.model_path`` is unset, are the same model); the optional local
models (:data:`ragline.models.local.LOCAL_MODELS`) are bases under their own names.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.errors import AdapterError, ConfigError

if TYPE_CHECKING:
    from ragline.config import Settings

#: The embedded chat model as a base for adapters.
EMBEDDED_BASE = "smollm2-135m"
ADAPTER_FILE = "adapter.gguf"
INFO_FILE = "adapter.json"
#: GGUF metadata key holding the base model's name.
GGUF_BASE_KEY = "ragline.base_model"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What ``adapter.json`` records about one adapter."""

    name: str
    base: str
    rank: int
    alpha: float
    architecture: str
    target_modules: tuple[str, ...] = ()
    data_sha256: str = ""
    examples: int = 0
    created: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


@dataclass(frozen=True, slots=True)
class Adapter:
    """An adapter found on disk: its folder, its GGUF file and its info."""

    path: Path
    info: AdapterInfo

    @property
    def gguf(self) -> Path:
        return self.path / ADAPTER_FILE


def split_adapter(name: str) -> tuple[str, str | None]:
    """``"smollm2-135m+support"`` → ``("smollm2-135m", "support")``; no ``+``: no adapter."""
    base, plus, adapter = name.partition("+")
    return (base, adapter) if plus else (name, None)


def check_name(name: str, what: str = "adapter") -> str:
    """A name usable as a folder and in a model name (letters, digits, ``_.-``)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid {what} name {name!r}",
            hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def base_names() -> list[str]:
    """The base models an adapter can be trained on."""
    from ragline.models.local import LOCAL_MODELS

    return [EMBEDDED_BASE, *LOCAL_MODELS]


def canonical_base(name: str, settings: Settings | None = None) -> str | None:
    """The base model a chat-model name stands for, or None when it is not a local base
    (an endpoint, ``llamacpp:<file>``, or ``embedded`` configured to another file)."""
    from ragline.models.local import LOCAL_MODELS

    if name in (EMBEDDED_BASE, "smollm2"):
        return EMBEDDED_BASE
    if name in ("embedded", "llamacpp"):
        path = settings.gateway.model_path if settings is not None else None
        return EMBEDDED_BASE if path is None else None
    return name if name in LOCAL_MODELS else None


def base_file(name: str, settings: Settings | None = None) -> Path:
    """The GGUF file of a base model (verified for the optional local models).

    An unknown name raises :class:`~ragline.errors.ConfigError` listing the bases."""
    from ragline.models.llamacpp import default_model_path
    from ragline.models.local import model_file

    base = canonical_base(name, settings)
    if base is None:
        raise ConfigError(
            f"unknown base model {name!r}",
            hint=f"use one of {base_names()} (an adapter is trained on a local GGUF model)",
        )
    return default_model_path() if base == EMBEDDED_BASE else model_file(base, settings)


def adapters_dir(settings: Settings) -> Path:
    return settings.adapters_dir


def list_adapters(settings: Settings) -> list[Adapter]:
    """Every readable adapter folder under the adapters directory, by name."""
    root = adapters_dir(settings)
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if (folder / INFO_FILE).is_file() and (folder / ADAPTER_FILE).is_file():
            try:
                found.append(load_adapter(folder))
            except AdapterError:
                continue
    return found


def load_adapter(folder: Path) -> Adapter:
    """The adapter in ``folder`` (``adapter.json`` and ``adapter.gguf``)."""
    info_path = folder / INFO_FILE
    if not (folder / ADAPTER_FILE).is_file() or not info_path.is_file():
        raise AdapterError(
            f"{folder} is not an adapter (it needs {ADAPTER_FILE} and {INFO_FILE})",
            hint="train one with `ragline finetune chat --data FILE -o NAME`",
        )
    try:
        raw = json.loads(info_path.read_text(encoding="utf-8"))
        raw["target_modules"] = tuple(raw.get("target_modules", ()))
        info = AdapterInfo(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise AdapterError(
            f"cannot read {info_path}: {exc}", hint="train the adapter again"
        ) from exc
    return Adapter(folder, info)


def find_adapter(name: str, settings: Settings) -> Adapter:
    """The adapter ``name`` under the adapters directory (a path to a folder works too)."""
    folder = Path(name).expanduser()
    if not (("/" in name or name.startswith(".")) and folder.is_dir()):
        folder = adapters_dir(settings) / check_name(name)
    if not folder.is_dir():
        known = [a.info.name for a in list_adapters(settings)]
        raise AdapterError(
            f"no adapter {name!r} in {adapters_dir(settings)}",
            hint=f"adapters there: {known or 'none'}; train one with "
            f"`ragline finetune chat --data FILE -o {name}` or set finetune.adapters_dir",
        )
    return load_adapter(folder)


def adapter_for(model_name: str, settings: Settings) -> tuple[str, Adapter]:
    """``(base, adapter)`` of a ``<base>+NAME`` model name, the base checked against the one
    the adapter was trained on, before anything is loaded."""
    base_part, name = split_adapter(model_name)
    if not name:
        raise ConfigError(
            f"no adapter named in {model_name!r}", hint="name one as '<base>+<adapter>'"
        )
    base = canonical_base(base_part, settings)
    if base is None:
        raise ConfigError(
            f"{base_part!r} cannot take an adapter ({model_name!r})",
            hint=f"adapters are served on the local models: {base_names()}",
        )
    adapter = find_adapter(name, settings)
    if adapter.info.base != base:
        raise AdapterError(
            f"adapter {name!r} was trained on {adapter.info.base!r}, not on {base!r}",
            hint=f"ask for '{adapter.info.base}+{name}', or train the adapter on {base!r}",
        )
    return base, adapter


__all__ = [
    "ADAPTER_FILE",
    "EMBEDDED_BASE",
    "GGUF_BASE_KEY",
    "INFO_FILE",
    "Adapter",
    "AdapterInfo",
    "adapter_for",
    "base_file",
    "base_names",
    "canonical_base",
    "check_name",
    "find_adapter",
    "list_adapters",
    "load_adapter",
    "split_adapter",
]
