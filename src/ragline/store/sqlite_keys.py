"""API keys in the same SQLite file as the documents (table ``api_keys``).

All API-key SQL lives here. The key store keeps a connection of its own; the schema belongs to
``ragline.store.migrations`` (``0003_api_keys``, ``0005_key_policy``): on open, the document
store is opened once to apply any pending migration.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

_COLUMNS = (
    "id, name, role, collections, created_at, revoked_at, models, rpm, tpm, budget_usd, expires_at"
)
_ACTIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        role=row[2],
        collections=tuple(json.loads(row[3])),
        created_at=row[4],
        revoked_at=row[5],
        policy=KeyPolicy(tuple(json.loads(row[6])), row[7], row[8], row[9], row[10]),
    )


class SQLiteKeyStore(SQLiteBackend):
    """:class:`ragline.store.keys_base.ApiKeyStore` on the store's SQLite file."""

    what = "key store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

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
        self._query(
            f"INSERT INTO api_keys ({_COLUMNS}, secret_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        rows = self._query(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, rowid")
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        ident = key_id.strip()
        if looks_like_key(ident):
            rows = self._query(
                f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ?", (hash_secret(ident),)
            )
        else:
            rows = self._query(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (ident,))
        if not rows:
            raise ConfigError(
                f"no API key {key_id!r}", hint="list key ids with `ragline keys list --all`"
            )
        key = _key(rows[0])
        if key.revoked_at is None:
            now = now_iso()
            self._query("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now, key.id))
            key = dataclasses.replace(key, revoked_at=now)
        return key

    def verify(self, secret: str) -> ApiKey | None:
        if not looks_like_key(secret):
            return None
        rows = self._query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ? AND {_ACTIVE}",
            (hash_secret(secret), now_iso()),
        )
        return _key(rows[0]) if rows else None

    def has_active_keys(self) -> bool:
        return bool(self._query(f"SELECT 1 FROM api_keys WHERE {_ACTIVE} LIMIT 1", (now_iso(),)))

    def ever_had_keys(self) -> bool:
        return bool(self._query("SELECT 1 FROM api_keys LIMIT 1"))


__all__ = ["SQLiteKeyStore"]
