"""API keys and per-key limits on PostgreSQL (``0003_api_keys``, ``0005_key_policy``).

Keys: rows as in SQLite (only the secret's hash is stored); a key revoked through one
replica is refused by every other at its next request, since ``verify`` reads the table.

Limits: a total (a spend budget) is checked and counted in one ``UPDATE … WHERE used + x <=
limit`` (PostgreSQL's row lock makes two concurrent requests wait on each other, so they
cannot both take the last cent). A sliding window (requests and tokens per minute) is a log of
rows in ``key_windows``, checked and appended under a transaction-scoped advisory lock per
key, kind and window: replicas on one database share one window exactly. Window times come
from ``clock`` (wall-clock seconds by default, so replicas on several machines agree).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence

from ragline.errors import ConfigError
from ragline.store.keys_base import (
    ApiKey,
    KeyPolicy,
    NewApiKey,
    Role,
    check_role,
    hash_secret,
    looks_like_key,
    new_secret,
    normalize_collections,
    now_iso,
)
from ragline.store.limits_base import EPSILON, Grant
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_keys import _COLUMNS, _key

_ACTIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %s)"


class PostgresKeyStore(PostgresBackend):
    """:class:`ragline.store.keys_base.ApiKeyStore` on PostgreSQL."""

    what = "key store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

    def create_key(
        self,
        name: str,
        role: Role,
        collections: Sequence[str] | None = None,
        *,
        policy: KeyPolicy | None = None,
    ) -> NewApiKey:
        role = check_role(role)
        if not name.strip():
            raise ConfigError("a key needs a name", hint="e.g. --name ci-bot")
        p = KeyPolicy.of(
            models=policy.models if policy else None,
            rpm=policy.rpm if policy else None,
            tpm=policy.tpm if policy else None,
            budget_usd=policy.budget_usd if policy else None,
            expires_at=policy.expires_at if policy else None,
        )
        key_id, secret = new_secret()
        record = ApiKey(
            key_id, name.strip(), role, normalize_collections(collections), now_iso(), policy=p
        )
        self._execute(
            f"INSERT INTO api_keys ({_COLUMNS}, secret_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                record.id,
                record.name,
                record.role,
                json.dumps(list(record.collections)),
                record.created_at,
                None,
                json.dumps(list(p.models)),
                p.rpm,
                p.tpm,
                p.budget_usd,
                p.expires_at,
                hash_secret(secret),
            ),
        )
        return NewApiKey(record, secret)

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._query(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, seq")
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        ident = key_id.strip()
        if looks_like_key(ident):
            rows = self._query(
                f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = %s", (hash_secret(ident),)
            )
        else:
            rows = self._query(f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s", (ident,))
        if not rows:
            raise ConfigError(
                f"no API key {key_id!r}", hint="list key ids with `ragline keys list --all`"
            )
        key = _key(rows[0])
        if key.revoked_at is None:
            now = now_iso()
            self._execute("UPDATE api_keys SET revoked_at = %s WHERE id = %s", (now, key.id))
            key = dataclasses.replace(key, revoked_at=now)
        return key

    def verify(self, secret: str) -> ApiKey | None:
        if not looks_like_key(secret):
            return None
        rows = self._query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = %s AND {_ACTIVE}",
            (hash_secret(secret), now_iso()),
        )
        return _key(rows[0]) if rows else None

    def has_active_keys(self) -> bool:
        return bool(self._query(f"SELECT 1 FROM api_keys WHERE {_ACTIVE} LIMIT 1", (now_iso(),)))

    def ever_had_keys(self) -> bool:
        return bool(self._query("SELECT 1 FROM api_keys LIMIT 1"))


class PostgresLimitStore(PostgresBackend):
    """:class:`ragline.store.limits_base.LimitStore` on PostgreSQL: totals and windows both
    in the database, shared by every process that uses it."""

    what = "limit store"

    def __init__(
        self, url: str, opts: PgOptions, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(url, opts)
        self.clock = clock

    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        if window_s is None:
            return self._consume_total(key_id, kind, amount, limit)
        now = self.clock()
        with self._tx() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"{key_id}\x1f{kind}\x1f{window_s}",),
            )
            conn.execute(
                "DELETE FROM key_windows WHERE key_id = %s AND kind = %s AND window_s = %s "
                "AND at <= %s",
                (key_id, kind, window_s, now - window_s),
            )
            log = conn.execute(
                "SELECT at, amount FROM key_windows WHERE key_id = %s AND kind = %s "
                "AND window_s = %s ORDER BY at, ticket",
                (key_id, kind, window_s),
            ).fetchall()
            used = float(sum(r[1] for r in log))
            if used + amount <= limit + EPSILON:
                (ticket,) = conn.execute(
                    "INSERT INTO key_windows (key_id, kind, window_s, at, amount) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING ticket",
                    (key_id, kind, window_s, now, amount),
                ).fetchone()
                return Grant(
                    True, key_id, kind, amount, used + amount, limit, window_s, ticket=str(ticket)
                )
        wait = _retry_after(log, used, amount, limit, window_s, now)
        return Grant(False, key_id, kind, amount, used, limit, window_s, retry_after_s=wait)

    def _consume_total(self, key_id: str, kind: str, amount: float, limit: float) -> Grant:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO key_usage (key_id, kind, used) VALUES (%s, %s, 0) "
                "ON CONFLICT (key_id, kind) DO NOTHING",
                (key_id, kind),
            )
            counted = conn.execute(
                "UPDATE key_usage SET used = used + %s "
                "WHERE key_id = %s AND kind = %s AND used + %s <= %s",
                (amount, key_id, kind, amount, limit + EPSILON),
            ).rowcount
            (used,) = conn.execute(
                "SELECT used FROM key_usage WHERE key_id = %s AND kind = %s", (key_id, kind)
            ).fetchone()
        return Grant(counted == 1, key_id, kind, amount, float(used), limit, None)

    def settle(self, grant: Grant, actual: float) -> None:
        if not grant.allowed:
            return
        if grant.window_s is not None:
            # Gone from the log: it left the window, and with it from every count.
            self._execute(
                "UPDATE key_windows SET amount = GREATEST(0, %s) WHERE ticket = %s",
                (actual, int(grant.ticket or 0)),
            )
            return
        self._execute(
            "UPDATE key_usage SET used = GREATEST(0, used + %s) WHERE key_id = %s AND kind = %s",
            (actual - grant.amount, grant.key_id, grant.kind),
        )

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        if window_s is None:
            rows = self._query(
                "SELECT used FROM key_usage WHERE key_id = %s AND kind = %s", (key_id, kind)
            )
            return float(rows[0][0]) if rows else 0.0
        rows = self._query(
            "SELECT COALESCE(SUM(amount), 0) FROM key_windows WHERE key_id = %s AND kind = %s "
            "AND window_s = %s AND at > %s",
            (key_id, kind, window_s, self.clock() - window_s),
        )
        return float(rows[0][0])


def _retry_after(
    log: Sequence[tuple[float, float]],
    used: float,
    amount: float,
    limit: float,
    window: float,
    now: float,
) -> float | None:
    """Seconds until enough of the log has left the window for ``amount`` to fit."""
    if amount > limit + EPSILON:
        return None
    freed = 0.0
    for at, size in log:
        freed += size
        if used - freed + amount <= limit + EPSILON:
            return max(0.0, at + window - now)
    return window


__all__ = ["PostgresKeyStore", "PostgresLimitStore"]
