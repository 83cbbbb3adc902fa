"""deploy/compose.yaml cannot drift from the settings (it is not run here: no Docker in CI).

The file is parsed, its ragline services' ``RAGLINE_*`` variables are loaded through
:func:`ragline.config.load_settings` (which forbids unknown names), and the values that make
a scale-out deployment are checked: one PostgreSQL, one Redis, the engine as the default
model, a shared uploads folder, and a proxy in front of both replicas.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from ragline.config import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _expand(value: str) -> str:
    """``${NAME:?message}`` / ``${NAME}`` as compose would, with a stand-in value."""
    return re.sub(r"\$\{(\w+)(?::?[?-][^}]*)?\}", lambda m: f"test-{m.group(1).lower()}", value)


def _ragline_services(compose: dict) -> dict[str, dict]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if any(k.startswith("RAGLINE_") for k in (svc.get("environment") or {}))
    }


def test_the_compose_file_has_the_whole_stack() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert services["redis"]["image"].startswith("redis:")
    assert "llama.cpp" in services["engine"]["image"]
    replicas = [n for n, s in services.items() if "serve" in (s.get("command") or [])]
    assert sorted(replicas) == ["ragline-1", "ragline-2"]
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    for replica in replicas:
        assert f"{replica}:8000" in caddy
    assert "/healthz" in caddy  # a route the server really has
    assert (DEPLOY / "Dockerfile").is_file()
    assert (
        "CREATE EXTENSION IF NOT EXISTS vector" in (DEPLOY / "initdb" / "10-vector.sql").read_text()
    )


@pytest.mark.parametrize("service", ["ragline-migrate", "ragline-1", "ragline-2"])
def test_ragline_environment_names_real_settings(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _ragline_services(_compose())[service]["environment"]
    assert env["RAGLINE_STORE__URL"].startswith("postgresql://")
    for name in list(os.environ):
        if name.startswith("RAGLINE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        assert name.startswith("RAGLINE_"), f"{service}: {name} is not a ragline setting"
        monkeypatch.setenv(name, _expand(str(value)))
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path))  # the container's path need not exist here
    settings = load_settings()  # extra="forbid": a misspelt or removed setting fails here
    assert settings.store.url == "postgresql://ragline:test-postgres_password@postgres:5432/ragline"
    assert settings.store.auto_migrate is False
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.redis.generation_slots == 4
    assert str(settings.server.uploads_dir) == "/shared/uploads"
    engine = settings.gateway.endpoints["engine"]
    assert engine.base_url == "http://engine:8080/v1"
    assert settings.gateway.default_model == "engine"
    # The engine's parallel slots match the cluster-wide generation slots.
    command = _compose()["services"]["engine"]["command"]
    assert command[command.index("-np") + 1] == str(settings.redis.generation_slots)


def test_a_wrong_name_would_be_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ragline.errors import ConfigError

    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAGLINE_REDIS__GENERATION_SLOT", "4")
    with pytest.raises(ConfigError):
        load_settings()
