"""A real ragline server for tests and benchmarks: uvicorn on 127.0.0.1, a free port.

:func:`running_server` builds the app (real store and embedder; the gateway you pass, e.g.
one holding a :class:`~ragline.testing.chat_conformance.FakeChatModel` as ``embedded``, or
the real SmolLM2 when none is given) and runs it in a thread; :func:`write_corpus` writes a
few small documents to ingest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragline.api import Ragline
from ragline.config import Settings, load_settings
from ragline.data.review import ReviewFolder
from ragline.server import create_app
from ragline.server.context import ServerContext
from ragline.server.runner import ServerThread

CORPUS: Mapping[str, str] = {
    "venus.md": "# Venus\n\nVenus is the hottest planet in the Solar System. Its thick carbon "
    "dioxide atmosphere traps heat, and the surface stays near 465 degrees Celsius.\n",
    "coffee.md": "# Brewing coffee\n\nUse water just off the boil, about 94 degrees Celsius. A "
    "pour-over takes three to four minutes; grind finer if it runs faster.\n",
    "passwords.txt": "Password policy. Passwords must have at least 14 characters. They are "
    "never shared, and a password manager is the recommended way to store them.\n",
}


def write_corpus(folder: Path, docs: Mapping[str, str] = CORPUS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def server_settings(home: Path, **sections: Any) -> Settings:
    """Settings rooted at ``home``; ``server={...}``, ``gateway={...}`` … override sections."""
    return load_settings(home=home, **sections)


@dataclass
class LiveServer:
    thread: ServerThread
    app: Any

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def context(self) -> ServerContext:
        return self.app.state.ragline


@contextmanager
def running_server(
    settings: Settings,
    *,
    rag: Ragline | None = None,
    gateway: Any = None,
    keys: Any = None,
    review: Any = None,
) -> Iterator[LiveServer]:
    """The app on a free port; ``review`` defaults to ``server.review_dir``'s files."""
    if review is None:
        review = ReviewFolder.from_settings(settings)
    app = create_app(settings, rag=rag, gateway=gateway, keys=keys, review=review)
    with ServerThread(app) as thread:
        yield LiveServer(thread, app)


__all__ = ["CORPUS", "LiveServer", "running_server", "server_settings", "write_corpus"]
