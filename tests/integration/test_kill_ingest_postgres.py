"""On PostgreSQL: an ingest process killed with SIGKILL mid-way leaves every document whole,
a server replica on the same database keeps serving meanwhile, and re-running the ingest
finishes the job with no duplicate and no missing chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import running_server, server_settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
N_FILES = 60


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except psycopg.errors.UndefinedTable:
            return 0


def _ingest(folder: Path) -> list[str]:
    code = "from ragline.cli.main import main; main()"
    return [sys.executable, "-c", code, "ingest", str(folder), "-c", "k", "--quiet"]


def test_sigkill_one_ingesting_replica_the_other_serves(
    tmp_path: Path, ragline_home: Path, pg_url: str
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(N_FILES):
        (folder / f"note-{i:04d}.md").write_text(
            f"# Note {i}\n\nThis is note number {i} about topic {i % 7}. "
            + "It has a few sentences of filler text to embed. " * 3
        )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path]),
        "RAGLINE_HOME": str(ragline_home),
        "RAGLINE_STORE__URL": pg_url,
        "RAGLINE_INGEST__BATCH_DOCUMENTS": "4",
        "RAGLINE_TRACE__ENABLED": "false",
    }
    settings = server_settings(tmp_path / "b", store={"url": pg_url}, trace={"enabled": False})
    fake = FakeChatModel(lambda m, p: "ok", name="fake:embedded")
    with running_server(settings, gateway=Gateway(settings, models={"embedded": fake})) as b:
        proc = subprocess.Popen(_ingest(folder), env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        try:
            while _count(pg_url, "SELECT COUNT(*) FROM documents") < 12:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "ingest made no progress"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        committed = _count(pg_url, "SELECT COUNT(*) FROM documents")
        assert 12 <= committed < N_FILES, "the kill must land mid-ingest"
        assert (
            _count(
                pg_url,
                "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS "
                "(SELECT 1 FROM chunks k WHERE k.document_id = d.id)",
            )
            == 0
        )  # every committed document is whole
        r = httpx.post(
            f"{b.url}/api/collections/k/search",
            json={"query": "note number topic", "k": 3, "mode": "hybrid"},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["hits"], r.text  # the other replica serves

        done = subprocess.run(
            [*_ingest(folder), "--json"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["unchanged"] == committed and report["added"] == N_FILES - committed
    assert _count(pg_url, "SELECT COUNT(*) FROM documents") == N_FILES
    assert _count(pg_url, "SELECT COUNT(DISTINCT key) FROM documents") == N_FILES
    assert (
        _count(
            pg_url,
            "SELECT COUNT(*) FROM (SELECT document_id, ordinal FROM chunks "
            "GROUP BY document_id, ordinal HAVING COUNT(*) > 1) dup",
        )
        == 0
    )
    assert (
        _count(
            pg_url,
            "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS "
            "(SELECT 1 FROM chunks k WHERE k.document_id = d.id)",
        )
        == 0
    )
