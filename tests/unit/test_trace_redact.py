"""Secrets never reach a stored trace; PII is masked when asked; text is bounded."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, SecretStr

from ragline.config import TraceSettings, load_settings
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.trace import StoreSink, Tracer
from ragline.trace.redact import REDACTED, Redactor, configured_secrets

SECRETS = [
    "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9Pl",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xoxb-123456789012-abcdefghij",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_credential_shapes_are_scrubbed(secret):
    out = Redactor().text(f"call the API with {secret} please")
    assert REDACTED in out
    assert secret.split()[-1] not in out


def test_assignments_urls_and_private_keys():
    r = Redactor()
    assert r.text("password=hunter2!") == f"password={REDACTED}"
    assert r.text('api_key: "abcd1234"') == f'api_key: "{REDACTED}"'  # quotes kept: JSON stays JSON
    assert r.text("https://bob:s3cret@db.example.com/x") == f"https://{REDACTED}@db.example.com/x"
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----"
    assert r.text(f"key:\n{pem}\n") == f"key:\n{REDACTED}\n"
    assert r.text("max tokens: 4096 and 12 input_tokens") == "max tokens: 4096 and 12 input_tokens"


def test_secret_keys_secretstr_and_exact_configured_values():
    r = Redactor(secrets=["my-very-own-secret-value"])
    attrs = {
        "headers": {"Authorization": "Basic Zm9vOmJhcg==", "Accept": "json"},
        "api_key": "abc",
        "token": SecretStr("t0k3n"),
        "prompt": "echo my-very-own-secret-value back",
        "gen_ai.usage.input_tokens": 12,
    }
    out = r.attributes(attrs, frozenset())
    assert out["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert out["api_key"] == REDACTED and out["token"] == REDACTED
    assert out["prompt"] == f"echo {REDACTED} back"
    assert out["gen_ai.usage.input_tokens"] == 12


def test_configured_secrets_walks_settings_and_named_env_vars(monkeypatch):
    class Endpoint(BaseModel):
        api_key: SecretStr | None = None
        api_key_env: str | None = None

    class Cfg(BaseModel):
        endpoints: dict[str, Endpoint]

    monkeypatch.setenv("MY_VLLM_KEY", "from-the-environment")
    cfg = Cfg(
        endpoints={
            "a": Endpoint(api_key=SecretStr("inline-secret")),
            "b": Endpoint(api_key_env="MY_VLLM_KEY"),
        }
    )
    assert configured_secrets(cfg) >= {"inline-secret", "from-the-environment"}
    settings = load_settings(trace={"otlp_headers": {"x-honeycomb-team": "hc-secret-123"}})
    assert "hc-secret-123" in configured_secrets(settings)
    assert (
        "hc-secret-123" not in repr(settings) and "hc-secret-123" not in settings.model_dump_json()
    )


def test_pii_only_when_enabled():
    text = (
        "Mail jane.doe@example.org or call +44 20 7946 0958, card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, host 192.168.1.20. "
        "Order 1234 of 2026-01-31 costs 19.99."
    )
    assert Redactor().text(text) == text
    out = Redactor(redact_pii=True).text(text)
    for leaked in ("jane.doe", "7946", "4111", "DE89", "123-45-6789", "192.168"):
        assert leaked not in out, out
    for kept in ("Order 1234", "2026-01-31", "19.99"):
        assert kept in out
    assert {"[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[SSN]", "[IP]"} <= set(
        w.strip(",.") for w in out.split()
    )


def test_non_luhn_numbers_are_not_cards():
    assert "[CARD]" not in Redactor(redact_pii=True).text("ticket 1234 5678 9012 3456")


def test_truncation_and_capture_text_off():
    r = Redactor(max_text_chars=100)
    assert r.text("x" * 150).startswith("x" * 100) and r.text("x" * 150).endswith("[50 more]")
    off = Redactor(capture_text=False)
    assert off.attributes({"query": "private", "k": 5}, frozenset({"query"})) == {"k": 5}


def test_values_become_json(tmp_path):
    import numpy as np

    out = Redactor().value({"a": (1, 2.5, float("nan")), "b": np.float32(0.5), "c": {1, 2}})
    json.dumps(out)
    assert out["a"] == [1, 2.5, None] and out["b"] == 0.5


def test_nothing_secret_reaches_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789abcdefghij")
    settings = load_settings(
        trace={"redact_pii": True, "otlp_headers": {"authorization": "Bearer zzz-top-secret"}}
    )
    store = SQLiteTraceStore(tmp_path / "r.db")
    tracer = Tracer(
        TraceSettings(redact_pii=True),
        [StoreSink(lambda: store)],
        redactor=Redactor(redact_pii=True, secrets=configured_secrets(settings)),
    )
    with tracer.trace("ask", query="my key is sk-live-0123456789abcdefghij, mail a@b.io") as s:
        s.set(headers={"authorization": "Bearer zzz-top-secret"}, note="Bearer zzz-top-secret")
        s.record_error(RuntimeError("auth failed for zzz-top-secret"))
    tracer.close()
    raw = (tmp_path / "r.db").read_bytes() + (tmp_path / "r.db-wal").read_bytes()
    for secret in (b"sk-live-0123456789abcdefghij", b"zzz-top-secret", b"a@b.io"):
        assert secret not in raw
    store.close()


def test_loaded_settings_register_their_secrets_with_every_redactor(monkeypatch):
    """No secrets are passed in: loading the settings is enough (once, at load)."""
    import ragline.config as config

    monkeypatch.setenv("RL_TEST_PROVIDER_KEY", "env-held-provider-key-42")
    before = config.secrets_version
    r = Redactor()  # made before the settings load: picks them up on next use
    assert "inline-provider-key-17" in r.text("inline-provider-key-17")
    load_settings(
        gateway={
            "endpoints": {
                "a": {"base_url": "http://h/v1", "api_key": "inline-provider-key-17"},
                "b": {"base_url": "http://h/v1", "api_key_env": "RL_TEST_PROVIDER_KEY"},
                "c": {"base_url": "http://h/v1", "headers": {"X-Api-Key": "header-held-key-99"}},
            }
        }
    )
    assert config.secrets_version > before
    text = "inline-provider-key-17 / env-held-provider-key-42 / header-held-key-99"
    assert r.text(text) == f"{REDACTED} / {REDACTED} / {REDACTED}"
    version = config.secrets_version
    load_settings(gateway={"endpoints": {"a": {"base_url": "http://h/v1"}}})
    assert config.secrets_version == version  # nothing new: redactors keep their caches


def test_ragline_keys_and_header_lines_are_redacted():
    r = Redactor()
    key = "rl_0a1b2c3d_" + "x" * 43
    assert key not in r.text(f"ask with {key} please")
    assert r.text("send 'Authorization: Bearer rl_…'") == "send 'Authorization: Bearer rl_…'"
    out = r.text('{"headers": "X-API-Key: abcdef123456", "n": 1}')
    assert out == '{"headers": "X-API-Key: [REDACTED]", "n": 1}'
    assert r.value({"x-csrf-token": "abc", "first_token_ns": 5, "tokens": 3}) == {
        "x-csrf-token": REDACTED,
        "first_token_ns": 5,
        "tokens": 3,
    }


def test_a_password_in_a_store_or_redis_url_is_a_secret():
    from ragline.config import Settings

    settings = Settings(
        store={"url": "postgresql://app:pg-pass%40word1@db:5432/ragline"},
        redis={"url": "redis://:redis-secret-9@cache:6379/0"},
    )
    assert {"pg-pass@word1", "redis-secret-9"} <= configured_secrets(settings)
    assert "app" not in configured_secrets(settings)
    text = Redactor(secrets=configured_secrets(settings)).text("dsn pg-pass@word1 here")
    assert "pg-pass@word1" not in text
