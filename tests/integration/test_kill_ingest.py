"""A real ingest process killed with SIGKILL leaves the store consistent; re-running
finishes the job without duplicates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

N_FILES = 200


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # tables not created yet
    finally:
        conn.close()


def _ingest_cmd(folder: Path) -> list[str]:
    code = "from ragline.cli.main import main; main()"
    return [sys.executable, "-c", code, "ingest", str(folder), "-c", "k", "--quiet"]


def test_sigkill_mid_ingest_then_rerun(tmp_path: Path, ragline_home: Path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(N_FILES):
        (folder / f"note-{i:04d}.md").write_text(
            f"# Note {i}\n\nThis is note number {i} about topic {i % 17}. "
            + "It has a few sentences of filler text to embed. " * 5
        )
    env = {**os.environ, "RAGLINE_HOME": str(ragline_home), "RAGLINE_INGEST__BATCH_DOCUMENTS": "8"}
    db = ragline_home / "ragline.db"
    proc = subprocess.Popen(
        _ingest_cmd(folder), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while _count(db, "SELECT COUNT(*) FROM documents") < 16:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    committed = _count(db, "SELECT COUNT(*) FROM documents")
    assert 16 <= committed < N_FILES, "the kill must land mid-ingest"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # every committed document is whole: it has its chunks, and no chunk is orphaned
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS "
            "(SELECT 1 FROM chunks k WHERE k.document_id = d.id)"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM chunks k LEFT JOIN documents d ON d.id = k.document_id "
            "WHERE d.id IS NULL"
        ).fetchone()[0]
        == 0
    )
    conn.close()

    done = subprocess.run(
        [*_ingest_cmd(folder), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout)
    assert report["unchanged"] == committed
    assert report["added"] == N_FILES - committed
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == N_FILES
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM (SELECT document_id, ordinal FROM chunks "
            "GROUP BY document_id, ordinal HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    assert conn.execute("SELECT COUNT(DISTINCT key) FROM documents").fetchone()[0] == N_FILES
    conn.close()
