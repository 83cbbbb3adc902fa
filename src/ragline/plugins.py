"""The plugin registry: every pluggable part of ragline is found through Python entry points.

A package adds a provider by declaring an entry point in one of the groups below, in its own
``pyproject.toml``; ragline's built-ins are declared the very same way in ragline's, so the
core has no special cases (the way ``llm`` and pytest find their plugins)::

    [project.entry-points."ragline.rerankers"]
    reverse = "my_package.rerank:ReverseReranker"

Then ``retrieval.reranker = "reverse"`` picks it. What each group's entry point loads, and
which setting picks one by name:

* ``ragline.chat_models``: ``factory(spec: ChatModelSpec) -> ChatModel``
  (:mod:`ragline.models.providers`); the model name's prefix, ``NAME`` or ``NAME:…``.
* ``ragline.embedders``: ``factory(settings: EmbedderSettings) -> Embedder``;
  ``embedder.provider``.
* ``ragline.rerankers``: ``factory(settings: Settings) -> Reranker``; ``retrieval.reranker``.
* ``ragline.stores``: ``factory(url: str, settings: Settings) -> StoreBackend``
  (:mod:`ragline.store.factory`); the scheme of ``store.url``.
* ``ragline.guards``: ``factory(settings: Settings) -> Guard`` (:mod:`ragline.guard.pipeline`;
  a guard class taking the settings is such a factory); the names in ``guard.input``,
  ``guard.output``, ``guard.documents``.

* ``ragline.cache_backends``: ``factory(url: str, settings: Settings) -> CacheStore``
  (:func:`ragline.store.factory.open_cache`); the scheme of ``cache.url`` (built in:
  ``redis``, ``rediss``, ``unix``).

* ``ragline.tools``: a :class:`~ragline.agent.tools.Tool`, or a typed function with a
  docstring (made a tool named after the entry point); every one is added to
  :meth:`ragline.agent.tools.ToolRegistry.default` (``tools.plugins``).

Entry points are read once per process (a few milliseconds) and an entry point is imported
only when its name is asked for, so a broken third-party plugin fails the command that
uses it, with a :class:`~ragline.errors.PluginError` naming its distribution, and nothing
else. ``ragline plugins`` lists what is registered.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib.metadata import Distribution, EntryPoint, distributions
from typing import Any

from ragline.errors import ConfigError, PluginError

#: Short group name → entry-point group.
GROUPS: dict[str, str] = {
    "chat_models": "ragline.chat_models",
    "embedders": "ragline.embedders",
    "rerankers": "ragline.rerankers",
    "stores": "ragline.stores",
    "guards": "ragline.guards",
    "tools": "ragline.tools",
}
#: Declared for the next components (caches); nothing loads them yet.
FUTURE_GROUPS: dict[str, str] = {
    "cache_backends": "ragline.cache_backends",
}
#: What picks a plugin of each group (for error hints).
_CHOSEN_BY = {
    "chat_models": "the model name's prefix (`--model NAME:…`, gateway.default_model)",
    "embedders": "embedder.provider (RAGLINE_EMBEDDER__PROVIDER)",
    "rerankers": "retrieval.reranker (RAGLINE_RETRIEVAL__RERANKER)",
    "stores": "the scheme of store.url (RAGLINE_STORE__URL)",
    "guards": "guard.input / guard.output / guard.documents (RAGLINE_GUARD__INPUT, …)",
    "tools": "the tool names an agent or `ragline tools call` is given",
}


@dataclass(frozen=True, slots=True)
class Plugin:
    """One registered entry point: its group, name, target and providing distribution."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "group": self.group,
            "name": self.name,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
        }


def _group(group: str) -> str:
    if group in GROUPS:
        return GROUPS[group]
    if group in FUTURE_GROUPS:
        return FUTURE_GROUPS[group]
    raise ValueError(f"unknown plugin group {group!r}; known: {sorted(GROUPS | FUTURE_GROUPS)}")


@cache
def _all_entry_points() -> tuple[EntryPoint, ...]:
    """Every ``ragline.*`` entry point of every installed distribution, read in one pass."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for dist in distributions():  # sys.path order: the first of a name shadows later ones
        name = _normalized(dist)
        if name in seen:
            continue
        seen.add(name)
        text = dist.read_text("entry_points.txt")
        if not text or "[ragline." not in text:
            continue
        found += [ep for ep in dist.entry_points if ep.group.startswith("ragline.")]
    return tuple(found)


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    """Name → entry point of a group; with two of one name, ragline's own wins, then the
    first distribution by name (a third party cannot shadow a built-in)."""
    full = _group(group)
    found: dict[str, EntryPoint] = {}
    eps = sorted(
        (ep for ep in _all_entry_points() if ep.group == full),
        key=lambda ep: (_dist_name(ep) != "ragline", _dist_name(ep) or ""),
    )
    for ep in eps:
        found.setdefault(ep.name, ep)
    return found


def _normalized(dist: Distribution) -> str:
    # the folder name (``Foo_Bar-1.0.dist-info``) when there is one: no METADATA parse
    folder = getattr(dist, "_path", None)
    if folder is not None and folder.name.endswith((".dist-info", ".egg-info")):
        stem = folder.name.rsplit(".", 1)[0].split("-", 1)[0]
    else:
        stem = dist.metadata["Name"] or ""
    return re.sub(r"[-_.]+", "-", stem).lower()


def _dist_name(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


_loaded: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def available(group: str) -> list[Plugin]:
    """Every plugin registered in ``group``, by name."""
    out = []
    for name, ep in sorted(_entry_points(group).items()):
        dist = getattr(ep, "dist", None)
        out.append(
            Plugin(
                group=group,
                name=name,
                value=ep.value,
                distribution=_dist_name(ep),
                version=dist.version if dist is not None else None,
            )
        )
    return out


def names(group: str) -> list[str]:
    """The registered names of ``group``, sorted."""
    return sorted(_entry_points(group))


def has(group: str, name: str) -> bool:
    return name in _entry_points(group)


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group`` (imported on first use, then cached).

    An unknown name is a :class:`~ragline.errors.ConfigError` listing what is registered; a
    plugin that fails to import is a :class:`~ragline.errors.PluginError` naming its package.
    """
    key = (group, name)
    with _lock:
        if key in _loaded:
            return _loaded[key]
    ep = _entry_points(group).get(name)
    if ep is None:
        known = ", ".join(names(group)) or "none"
        hint = (
            f"set {_CHOSEN_BY.get(group, group)} to a registered name, or install the "
            "package that provides it; `ragline plugins` lists what is installed"
        )
        if not any(p.distribution == "ragline" for p in available(group)):
            hint = (
                "ragline's own entry points are not installed (its built-ins register "
                "through them): reinstall ragline with `pip install -e .` or scripts/install.sh"
            )
        raise ConfigError(
            f"no {group.replace('_', ' ')} plugin named {name!r} (registered: {known})",
            hint=hint,
        )
    try:
        obj = ep.load()
    except Exception as exc:  # a third party's import error is its own bug: report it
        dist = _dist_name(ep) or "an unknown distribution"
        raise PluginError(
            f"the {group.replace('_', ' ')} plugin {name!r} ({ep.value}, from {dist}) "
            f"failed to load: {type(exc).__name__}: {exc}",
            hint=f"upgrade or uninstall {dist}; other plugins are unaffected",
        ) from exc
    with _lock:
        _loaded[key] = obj
    return obj


def refresh() -> None:
    """Forget what was read and loaded (after installing a plugin into a running process)."""
    with _lock:
        _loaded.clear()
    _all_entry_points.cache_clear()
    _entry_points.cache_clear()


__all__ = [
    "FUTURE_GROUPS",
    "GROUPS",
    "Plugin",
    "available",
    "has",
    "load",
    "names",
    "refresh",
]
