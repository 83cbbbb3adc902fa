"""The conformance suite of the :class:`ragline.store.keys_base.ApiKeyStore` Protocol.

A backend's tests inherit :class:`KeyStoreConformance` and supply a ``keys`` fixture that
yields a fresh, empty store, and ``reopen`` that opens the same storage again::

    class TestMyKeyStore(KeyStoreConformance):
        @pytest.fixture
        def keys(self, tmp_path):
            s = MyKeyStore(tmp_path / "k.db")
            yield s
            s.close()

        @pytest.fixture
        def reopen(self, tmp_path):
            return lambda: MyKeyStore(tmp_path / "k.db")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from ragline.errors import ConfigError
from ragline.store.keys_base import (
    ApiKeyStore,
    KeyPolicy,
    hash_secret,
    home_access,
    looks_like_key,
    parse_expiry,
)


class KeyStoreConformance:
    """Every API-key store behaves like this."""

    def test_is_a_key_store(self, keys: ApiKeyStore) -> None:
        assert isinstance(keys, ApiKeyStore)

    def test_empty_store_has_no_keys(self, keys: ApiKeyStore) -> None:
        assert keys.list_keys() == []
        assert not keys.has_active_keys() and not keys.ever_had_keys()
        assert home_access(keys.list_keys(include_revoked=True)).open

    def test_create_returns_the_key_once_and_verify_finds_it(self, keys: ApiKeyStore) -> None:
        made = keys.create_key("ci", "read", ["docs"])
        assert looks_like_key(made.secret) and made.secret.startswith(f"rl_{made.key.id}_")
        assert made.secret not in repr(made)
        assert keys.has_active_keys()
        found = keys.verify(made.secret)
        assert found == made.key
        assert found is not None and found.role == "read" and found.collections == ("docs",)

    def test_listing_never_holds_a_secret_or_its_hash(self, keys: ApiKeyStore) -> None:
        made = keys.create_key("ci", "admin")
        listed = keys.list_keys()
        assert [k.id for k in listed] == [made.key.id]
        text = repr(listed) + repr([k.to_dict() for k in listed])
        assert made.secret not in text and hash_secret(made.secret) not in text

    def test_wrong_or_malformed_keys_are_rejected(self, keys: ApiKeyStore) -> None:
        made = keys.create_key("ci", "read")
        assert keys.verify(made.secret[:-1] + ("A" if made.secret[-1] != "A" else "B")) is None
        assert keys.verify("") is None
        assert keys.verify("not a key") is None
        assert keys.verify(hash_secret(made.secret)) is None

    def test_revoke_by_id_or_key(self, keys: ApiKeyStore) -> None:
        a = keys.create_key("a", "read")
        b = keys.create_key("b", "ingest")
        revoked = keys.revoke_key(a.key.id)
        assert revoked.id == a.key.id and revoked.revoked_at is not None and not revoked.active
        assert keys.verify(a.secret) is None
        assert keys.verify(b.secret) is not None
        assert [k.id for k in keys.list_keys()] == [b.key.id]
        assert {k.id for k in keys.list_keys(include_revoked=True)} == {a.key.id, b.key.id}
        keys.revoke_key(b.secret)
        assert not keys.has_active_keys()
        assert keys.ever_had_keys()  # a revoked key still closes the home
        access = home_access(keys.list_keys(include_revoked=True))
        assert not access.open and "2 revoked" in access.reason
        again = keys.revoke_key(a.key.id)  # idempotent: keeps the first revocation time
        assert again.revoked_at == revoked.revoked_at

    def test_revoke_unknown_raises(self, keys: ApiKeyStore) -> None:
        with pytest.raises(ConfigError, match="no API key"):
            keys.revoke_key("deadbeef")

    def test_roles_and_names_are_validated(self, keys: ApiKeyStore) -> None:
        with pytest.raises(ConfigError, match="unknown role"):
            keys.create_key("x", "owner")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            keys.create_key("  ", "read")
        assert keys.list_keys() == []

    def test_collections_are_normalized(self, keys: ApiKeyStore) -> None:
        every = keys.create_key("all", "read", None).key
        star = keys.create_key("star", "read", ["docs", "*"]).key
        some = keys.create_key("some", "read", ["b", "a", "b", " "]).key
        assert every.collections == ("*",) and every.may_use("anything")
        assert star.collections == ("*",)
        assert some.collections == ("a", "b")
        assert some.may_use("a") and not some.may_use("c")

    def test_role_order(self, keys: ApiKeyStore) -> None:
        admin = keys.create_key("a", "admin").key
        read = keys.create_key("r", "read").key
        assert admin.allows("read") and admin.allows("ingest") and admin.allows("admin")
        assert read.allows("read") and not read.allows("ingest")

    def test_keys_are_unique(self, keys: ApiKeyStore) -> None:
        made = [keys.create_key(f"k{i}", "read") for i in range(20)]
        assert len({m.secret for m in made}) == 20 and len({m.key.id for m in made}) == 20

    def test_keys_persist(self, keys: ApiKeyStore, reopen: Callable[[], ApiKeyStore]) -> None:
        made = keys.create_key("ci", "ingest", ["docs"])
        keys.close()
        again = reopen()
        try:
            assert again.verify(made.secret) == made.key
        finally:
            again.close()

    def test_policy_is_stored_and_returned(self, keys: ApiKeyStore) -> None:
        policy = KeyPolicy.of(
            models=["openai:gpt-4o-mini", "embedded", "embedded"],
            rpm=10,
            tpm=5000,
            budget_usd=0.01,
            expires_at=parse_expiry("30d"),
        )
        made = keys.create_key("bot", "read", ["docs"], policy=policy)
        found = keys.verify(made.secret)
        assert found == made.key
        assert found is not None and found.policy == KeyPolicy(
            ("embedded", "openai:gpt-4o-mini"), 10, 5000, 0.01, policy.expires_at
        )
        listed = keys.list_keys()[0].to_dict()
        assert listed["models"] == ["embedded", "openai:gpt-4o-mini"]
        assert (listed["rpm"], listed["tpm"], listed["budget_usd"]) == (10, 5000, 0.01)

    def test_a_key_without_policy_may_do_anything(self, keys: ApiKeyStore) -> None:
        key = keys.create_key("free", "read").key
        assert key.policy == KeyPolicy() and key.may_call("openai:gpt-4o")
        assert key.policy.rpm is None and key.policy.budget_usd is None

    def test_model_allowlist_takes_names_and_patterns(self, keys: ApiKeyStore) -> None:
        key = keys.create_key(
            "m", "read", policy=KeyPolicy.of(models=["openai:gpt-4o-mini", "llamacpp:*"])
        ).key
        assert key.may_call("openai:gpt-4o-mini") and key.may_call("llamacpp:qwen")
        assert not key.may_call("openai:gpt-4o") and not key.may_call("embedded")

    def test_bad_limits_are_refused(self, keys: ApiKeyStore) -> None:
        for bad in ({"rpm": 0}, {"tpm": -1}, {"budget_usd": 0.0}):
            with pytest.raises(ConfigError, match="must be above 0"):
                keys.create_key("x", "read", policy=KeyPolicy(**bad))  # type: ignore[arg-type]
        assert keys.list_keys() == []

    def test_an_expired_key_is_refused_but_still_counts(self, keys: ApiKeyStore) -> None:
        past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat(timespec="seconds")
        made = keys.create_key("old", "read", policy=KeyPolicy(expires_at=past))
        assert keys.verify(made.secret) is None
        assert not made.key.active and made.key.expired
        assert not keys.has_active_keys() and keys.ever_had_keys()
        access = home_access(keys.list_keys(include_revoked=True))
        assert not access.open and "1 expired" in access.reason
        fresh = keys.create_key("new", "read", policy=KeyPolicy.of(expires_at=parse_expiry("1h")))
        assert keys.verify(fresh.secret) == fresh.key and keys.has_active_keys()
        assert "1 active" in home_access(keys.list_keys(include_revoked=True)).reason

    def test_expiry_is_read_from_durations_and_dates(self) -> None:
        now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        assert parse_expiry("30d", now=now) == "2030-01-31T00:00:00+00:00"
        assert parse_expiry("12h", now=now) == "2030-01-01T12:00:00+00:00"
        assert parse_expiry("2031-02-03", now=now) == "2031-02-03T00:00:00+00:00"
        assert parse_expiry(None) is None and parse_expiry(" ") is None
        for bad in ("soon", "0d", "2020-01-01"):
            with pytest.raises(ConfigError, match="expires"):
                parse_expiry(bad, now=now)

    def test_policy_persists(self, keys: ApiKeyStore, reopen: Callable[[], ApiKeyStore]) -> None:
        made = keys.create_key("p", "read", policy=KeyPolicy.of(models=["embedded"], rpm=3))
        keys.close()
        again = reopen()
        try:
            assert again.verify(made.secret) == made.key
            assert made.key.policy.rpm == 3
        finally:
            again.close()
