"""Move a home's data from its SQLite file to PostgreSQL (``ragline migrate --from … --to …``).

Table by table, in batches of rows read in ``rowid`` order: each batch is inserted and the
table's progress marker (the last ``rowid`` copied) is updated in one PostgreSQL transaction,
so a copy killed at any moment resumes where it stopped, without a duplicate or a gap. Ids
are copied as they are (collections, chunks' ``seq``, terms), then the identity sequences
are moved past them and each collection's HNSW index is built. Last, every table is verified:
the same row count on both sides and the same checksum (an order-free sum of the SHA-256 of
each row's values, vectors compared as their float32 bytes). The marker table
(``ragline_copy``) is dropped once the copy is verified.

The source is opened read-only and never changed. The target must be empty (or a copy of the
same source in progress).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.errors import ConfigError, StoreError
from ragline.store.postgres_base import PgOptions, apply_pg_migrations
from ragline.store.sqlite_stores import path_of

if TYPE_CHECKING:
    from ragline.config import Settings

#: What is copied, parents before children. Tables the source lacks are skipped.
TABLES: tuple[str, ...] = (
    "collections",
    "documents",
    "chunks",
    "terms",
    "traces",
    "spans",
    "feedback",
    "api_keys",
    "eval_runs",
    "eval_items",
    "key_usage",
    "handoff_items",
    "handoff_messages",
    "cache_entries",
    "agent_runs",
    "agent_steps",
)
#: Identity columns whose sequences must move past the copied ids.
_IDENTITIES = (
    ("collections", "id"),
    ("chunks", "seq"),
    ("terms", "id"),
    ("handoff_items", "n"),
    ("cache_entries", "seq"),
    ("agent_runs", "n"),
)
#: Columns holding float32 vectors: a BLOB in SQLite, a pgvector ``vector`` in PostgreSQL.
_VECTORS = {("chunks", "embedding")}
_MASK = (1 << 256) - 1


@dataclass(slots=True)
class TableReport:
    """One table of a copy: rows on each side and whether their checksums agree."""

    table: str
    source_rows: int
    target_rows: int = 0
    source_checksum: str = ""
    target_checksum: str = ""

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass(slots=True)
class CopyReport:
    """The outcome of :func:`copy_sqlite_to_postgres`."""

    source: str
    target: str
    tables: list[TableReport] = field(default_factory=list)
    resumed: bool = False
    #: Source tables with rows that this release's PostgreSQL schema has no table for.
    not_copied: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "resumed": self.resumed,
            "ok": self.ok,
            "not_copied": self.not_copied,
            "tables": [{**asdict(t), "ok": t.ok} for t in self.tables],
        }


def _norm(value: Any) -> Any:
    """A value as the checksum sees it, the same from either database."""
    if isinstance(value, memoryview | bytes | bytearray):
        return "b:" + bytes(value).hex()
    if isinstance(value, float):
        return "f:" + repr(float(value))
    if hasattr(value, "to_numpy") or isinstance(value, np.ndarray):
        arr = value.to_numpy() if hasattr(value, "to_numpy") else value
        return "b:" + np.asarray(arr, dtype=np.float32).tobytes().hex()
    return value


def _row_hash(row: tuple[Any, ...]) -> int:
    text = json.dumps([_norm(v) for v in row], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


class _Checksum:
    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.total = (self.total + _row_hash(row)) & _MASK
        self.rows += 1

    @property
    def hex(self) -> str:
        return f"{self.total:064x}"


def _source(url: str) -> sqlite3.Connection:
    path = path_of(url)
    if not path.exists():
        raise ConfigError(f"--from {url!r}: no such file {path}", hint="give the home's ragline.db")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    return conn


def _columns(src: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in src.execute(f"PRAGMA table_info({table})")]


def _source_rows(
    src: sqlite3.Connection, table: str, columns: list[str], after: int, batch: int
) -> list[tuple[Any, ...]]:
    return src.execute(
        f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (after, batch),
    ).fetchall()


def _to_target(table: str, columns: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    out = list(row)
    for i, col in enumerate(columns):
        if (table, col) in _VECTORS and out[i] is not None:
            out[i] = np.frombuffer(out[i], dtype=np.float32)
    return tuple(out)


def _target_tables(conn: Any) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }


def _iter_target(conn: Any, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    with conn.cursor(name=f"verify_{table}", binary=True) as cur:
        cur.itersize = 2000
        cur.execute(f"SELECT {', '.join(columns)} FROM {table}")
        yield from cur


def copy_sqlite_to_postgres(
    source_url: str,
    target_url: str,
    settings: Settings,
    *,
    batch: int = 500,
    progress: Callable[[str, int, int], None] | None = None,
) -> CopyReport:
    """Copy every table of the SQLite home at ``source_url`` into the PostgreSQL database at
    ``target_url`` (migrated first), resumably, then verify counts and checksums.

    ``progress(table, rows_done, rows_total)`` is called after each batch. Raises
    :class:`StoreError` when the verification fails (the marker stays: run it again)."""
    from ragline.store.postgres import PostgresStore
    from ragline.store.postgres_base import redact_url

    if batch <= 0:
        raise ConfigError(f"batch must be positive, got {batch}")
    src = _source(source_url)
    opts = PgOptions.of(settings)
    apply_pg_migrations(target_url, opts, apply=True)  # this is `ragline migrate`: apply them
    target = PostgresStore(target_url, opts)
    report = CopyReport(source=source_url, target=redact_url(target_url))
    try:
        source_tables = {
            r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        with target._tx() as conn:
            known = _target_tables(conn)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ragline_copy (tbl TEXT PRIMARY KEY, source TEXT "
                "NOT NULL, last_rowid BIGINT NOT NULL, copied BIGINT NOT NULL)"
            )
            markers = {
                r[0]: (r[1], int(r[2]))
                for r in conn.execute("SELECT tbl, source, last_rowid FROM ragline_copy")
            }
            if markers:
                other = {s for s, _ in markers.values()} - {source_url}
                if other:
                    raise ConfigError(
                        f"{report.target} holds an unfinished copy of {sorted(other)[0]}",
                        hint="finish that copy (run it with the same --from), or copy into "
                        "an empty database",
                    )
                report.resumed = True
            else:
                filled = [
                    t
                    for t in TABLES
                    if t in known and conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
                ]
                if filled:
                    raise ConfigError(
                        f"{report.target} is not empty (table {filled[0]} has rows)",
                        hint="copy into a new database (createdb NAME); nothing was changed",
                    )
        for table in sorted(source_tables - set(TABLES) - {"migrations", "sqlite_sequence"}):
            if src.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                report.not_copied.append(table)
        tables = [t for t in TABLES if t in source_tables and t in known]
        for table in tables:
            _copy_table(src, target, table, source_url, markers, batch, progress)
        with target._tx() as conn:
            for table, column in _IDENTITIES:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"COALESCE((SELECT MAX({column}) FROM {table}), 1), "
                    f"(SELECT MAX({column}) FROM {table}) IS NOT NULL)"
                )
            for cid, dim in conn.execute(
                "SELECT id, embedding_dim FROM collections WHERE embedding_dim IS NOT NULL"
            ).fetchall():
                target.ensure_vector_index(conn, int(cid), int(dim))
        report.tables = [_verify(src, target, t) for t in tables]
        if not report.ok:
            bad = ", ".join(t.table for t in report.tables if not t.ok)
            raise StoreError(
                f"the copy does not match its source in: {bad}",
                hint="did something write to the source during the copy? Copy again into "
                "a new database",
            )
        with target._tx() as conn:
            conn.execute("DROP TABLE IF EXISTS ragline_copy")
        return report
    finally:
        src.close()
        target.close()


def _copy_table(
    src: sqlite3.Connection,
    target: Any,
    table: str,
    source_url: str,
    markers: dict[str, tuple[str, int]],
    batch: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    columns = _columns(src, table)
    (total,) = src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    last = markers.get(table, (source_url, 0))[1]
    (done,) = src.execute(f"SELECT COUNT(*) FROM {table} WHERE rowid <= ?", (last,)).fetchone()
    if progress:
        progress(table, done, total)
    insert = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    )
    while True:
        rows = _source_rows(src, table, columns, last, batch)
        if not rows:
            break
        last = int(rows[-1][0])
        done += len(rows)
        with target._tx("copy") as conn:
            with conn.cursor() as cur:
                cur.executemany(insert, [_to_target(table, columns, r[1:]) for r in rows])
            conn.execute(
                "INSERT INTO ragline_copy (tbl, source, last_rowid, copied) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (tbl) DO UPDATE SET "
                "last_rowid = excluded.last_rowid, copied = excluded.copied",
                (table, source_url, last, done),
            )
        if progress:
            progress(table, done, total)


def _verify(src: sqlite3.Connection, target: Any, table: str) -> TableReport:
    columns = _columns(src, table)
    a, b = _Checksum(), _Checksum()
    for row in src.execute(f"SELECT {', '.join(columns)} FROM {table}"):
        a.add(tuple(row))
    with target._tx("verify") as conn:
        for row in _iter_target(conn, table, columns):
            b.add(tuple(row))
    return TableReport(table, a.rows, b.rows, a.hex, b.hex)


__all__ = ["TABLES", "CopyReport", "TableReport", "copy_sqlite_to_postgres"]
