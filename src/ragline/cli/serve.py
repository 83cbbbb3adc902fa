"""``ragline serve``: the HTTP API, the OpenAI-compatible API and the web UI in one process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.data.review import ReviewFolder


def serve(
    host: str | None = typer.Option(
        None, "--host", help="Interface to bind (default settings.server.host, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", "-p", help="Port (default settings.server.port, 8000)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve REST (/api), OpenAI-compatible (/v1) and the web UI (/) with uvicorn.

    Open (no key needed) only on loopback while no key was ever created in the home; an
    address beyond loopback needs an active key (`ragline keys create`), or it refuses to
    start. `ragline keys list` says which.
    """
    from ragline.config import load_settings
    from ragline.server import create_app
    from ragline.server.runner import bind_host, run_server
    from ragline.store.factory import open_keys

    settings = load_settings()
    cfg = settings.server
    keys = open_keys(settings)
    try:
        bound, message = bind_host(
            host or cfg.host, keys.has_active_keys(), ever_had_keys=keys.ever_had_keys()
        )
    except BaseException:
        keys.close()
        raise
    if message:
        typer.secho(message, fg="yellow", err=True)
    port = cfg.port if port is None else port
    try:  # opens the shared stores: a wrong store.url or redis.url fails here, before "serving"
        app = create_app(settings, keys=keys, host=bound, review=_review(settings))
    except BaseException:
        keys.close()
        raise
    typer.echo(f"ragline serving http://{bound}:{port}  (web UI /, API docs /docs)", err=True)
    run_server(app, bound, port, log_level=log_level)


def _review(settings: Settings) -> ReviewFolder | None:
    """The review files the web UI's Review page serves (``server.review_dir``), or None."""
    if settings.server.review_dir is None:
        return None
    from ragline.data.review import ReviewFolder

    return ReviewFolder.from_settings(settings)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
