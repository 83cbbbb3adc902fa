"""Chat-model providers: what a model name's prefix creates, found through the registry.

The gateway splits a model name at its first ``:`` into a provider name and the rest
(``llamacpp:/models/x.gguf`` → ``llamacpp`` + ``/models/x.gguf``; ``embedded`` → ``embedded``
+ ``""``) and calls the factory registered under that name in the ``ragline.chat_models``
entry-point group with a :class:`ChatModelSpec`. A name whose prefix is an endpoint of
``gateway.endpoints`` (and not a registered provider) goes to the ``openai`` provider, which
serves every OpenAI-compatible endpoint. A name of the optional local models
(``qwen2.5-0.5b``, ``qwen2.5-1.5b``: :mod:`ragline.models.local`) goes to ``llamacpp``, which
loads the file ``scripts/install.sh --model NAME`` verified and installed, and so does
``smollm2-135m`` (the embedded SmolLM2 by its base-model name).

``<base>+<adapter>`` (``smollm2-135m+support``) is the base model with a LoRA adapter of
``finetune.adapters_dir`` applied unmerged (:mod:`ragline.models.adapters`): the adapter's
base is checked against the one asked for before anything loads.

The built-ins below are registered in ragline's own ``pyproject.toml``, the same way a
third-party package registers its own::

    [project.entry-points."ragline.chat_models"]
    embedded = "ragline.models.providers:llamacpp"
    openai = "ragline.models.providers:openai_compatible"
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.errors import ConfigError

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.models.chat import ChatModel, SamplingParams

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class ChatModelSpec:
    """Everything a chat-model provider gets to create one model.

    ``name`` is the full model name asked for, ``provider`` the part before the first ``:``
    (or the endpoint's name) and ``model`` the part after it (``""`` when none).
    ``defaults`` are the gateway's sampling defaults; ``transport`` / ``async_transport`` are
    for HTTP providers (tests inject ``httpx.MockTransport``)."""

    name: str
    provider: str
    model: str
    settings: Settings
    defaults: SamplingParams
    transport: Any = None
    async_transport: Any = None


def llamacpp(spec: ChatModelSpec) -> ChatModel:
    """``embedded`` / ``llamacpp`` (the configured GGUF), ``smollm2`` / ``smollm2-135m``,
    ``llamacpp:<file.gguf>``, the optional local models (``qwen2.5-0.5b``, ``qwen2.5-1.5b``:
    their verified file), and any of the local bases with ``+<adapter>``."""
    from ragline.models.adapters import EMBEDDED_BASE, adapter_for, split_adapter
    from ragline.models.llamacpp import LlamaCppChatModel
    from ragline.models.local import LOCAL_MODELS, model_file

    cfg = spec.settings.gateway
    if spec.model and spec.provider != "llamacpp":
        raise ConfigError(
            f"unknown model {spec.name!r}: {spec.provider!r} takes no ':<model>'",
            hint="name a GGUF file as 'llamacpp:<file.gguf>'",
        )
    lora_path = None
    head, adapter_name = split_adapter(spec.name)
    if adapter_name is not None:  # the adapter's base is checked before anything loads
        lora_path = adapter_for(spec.name, spec.settings)[1].gguf
    provider = split_adapter(spec.provider)[0]
    path = cfg.model_path if head in ("embedded", "llamacpp") else None
    name = spec.name if adapter_name is not None else None  # None: embedded:<stem>
    if provider in LOCAL_MODELS:  # installed by scripts/install.sh --model NAME
        path, name = model_file(provider, spec.settings), spec.name
    elif provider == EMBEDDED_BASE:
        name = spec.name
    elif provider == "llamacpp" and spec.model:
        path = Path(spec.model).expanduser()
        name = f"llamacpp:{path.stem}"
    return LlamaCppChatModel(
        path,
        n_ctx=cfg.n_ctx,
        n_threads=cfg.n_threads,
        n_batch=cfg.n_batch,
        timeout_s=cfg.timeout_s,
        defaults=spec.defaults,
        name=name,
        prefix_cache=cfg.prefix_cache,
        lora_path=lora_path,
    )


def openai_compatible(spec: ChatModelSpec) -> ChatModel:
    """An endpoint of ``gateway.endpoints`` (vLLM, Ollama, llama.cpp server …) or ``openai``."""
    from ragline.config import GatewaySettings

    cfg = spec.settings.gateway
    endpoint_name = spec.provider
    endpoint = cfg.endpoints.get(endpoint_name)
    if endpoint is None and endpoint_name == "openai":
        endpoint = GatewaySettings.Endpoint(base_url=OPENAI_BASE_URL, api_key_env="OPENAI_API_KEY")
    if endpoint is None:
        raise ConfigError(
            f"unknown endpoint {endpoint_name!r}",
            hint=f"add it under gateway.endpoints (configured: {sorted(cfg.endpoints)})",
        )
    model = spec.model or endpoint.model or ""
    if not model:
        raise ConfigError(
            f"endpoint {endpoint_name!r} has no default model",
            hint=f"name it as '{endpoint_name}:<model>' or set its 'model'",
        )
    key = endpoint.api_key
    if key is None and endpoint.api_key_env:
        key_value = os.environ.get(endpoint.api_key_env)
        if not key_value and endpoint_name == "openai":
            raise ConfigError(
                f"no API key for {spec.name!r}",
                hint=f"set {endpoint.api_key_env} or gateway.endpoints.openai.api_key",
            )
        key = key_value or None
    from ragline.models.openai_compat import OpenAICompatChatModel

    return OpenAICompatChatModel(
        base_url=endpoint.base_url,
        model=model,
        api_key=key,
        name=f"{endpoint_name}:{model}",
        structured_output=endpoint.structured_output,
        headers=endpoint.headers,
        timeout_s=cfg.timeout_s,
        defaults=spec.defaults,
        transport=spec.transport,
        async_transport=spec.async_transport,
    )


def _local(name: str) -> bool:
    from ragline.models.adapters import EMBEDDED_BASE
    from ragline.models.local import LOCAL_MODELS

    return name in LOCAL_MODELS or name in (EMBEDDED_BASE, "smollm2", "embedded", "llamacpp")


def create_chat_model(
    name: str,
    settings: Settings,
    defaults: SamplingParams,
    *,
    transport: Any = None,
    async_transport: Any = None,
) -> ChatModel:
    """The chat model a name stands for, from the provider the registry holds for its prefix.

    Registered providers win; a configured endpoint's name goes to the ``openai`` provider,
    a local model's name (:data:`~ragline.models.local.LOCAL_MODELS`) to ``llamacpp``;
    anything else is a :class:`~ragline.errors.ConfigError` listing both."""
    from ragline import plugins
    from ragline.models.adapters import EMBEDDED_BASE, split_adapter
    from ragline.models.local import LOCAL_MODELS

    prefix, _, rest = name.partition(":")
    head, adapter = split_adapter(prefix)
    endpoints = settings.gateway.endpoints
    if adapter is not None and (rest or head in endpoints or not _local(head)):
        raise ConfigError(
            f"{name!r}: an adapter ('+{adapter}') is served on a local base model only",
            hint=f"use '<base>+{adapter}' with a base of {[EMBEDDED_BASE, *LOCAL_MODELS]}",
        )
    if plugins.has("chat_models", head):
        provider = head
    elif head in endpoints:
        provider = "openai"
    elif head in LOCAL_MODELS or head == EMBEDDED_BASE:
        provider = "llamacpp"
    else:
        known = sorted({*plugins.names("chat_models"), *endpoints, *LOCAL_MODELS, EMBEDDED_BASE})
        raise ConfigError(
            f"unknown model {name!r}",
            hint=f"use one of {known}, '<endpoint>:<model>' or 'llamacpp:<file.gguf>' "
            "(`ragline plugins` lists the chat-model providers)",
        )
    factory = plugins.load("chat_models", provider)
    spec = ChatModelSpec(
        name=name,
        provider=prefix,
        model=rest,
        settings=settings,
        defaults=defaults,
        transport=transport,
        async_transport=async_transport,
    )
    return factory(spec)


__all__ = ["OPENAI_BASE_URL", "ChatModelSpec", "create_chat_model", "llamacpp", "openai_compatible"]
