"""``ragline serve``: the HTTP API, the OpenAI-compatible API and the web UI in one process."""

from __future__ import annotations

import typer


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
        app = create_app(settings, keys=keys, host=bound)
    except BaseException:
        keys.close()
        raise
    typer.echo(f"ragline serving http://{bound}:{port}  (web UI /, API docs /docs)", err=True)
    run_server(app, bound, port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
