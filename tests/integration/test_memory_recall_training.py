"""The memory recall model's weights are what ``benchmarks/train_memory_recall.py`` fits:
the sessions it trains on are in the repository (``benchmarks/data/memory_sessions*.json``),
the fit is deterministic, and the chosen threshold and recency settings are the shipped ones
(real MiniLM, real SQLite store)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.config import MemorySettings
from ragline.memory.recall_model import WEIGHTS

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_training_script_reproduces_the_shipped_recall_weights() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_memory_recall.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "the shipped weights match" in done.stdout
    shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    chosen = f"threshold {shipped['threshold']}, recency_supersede {shipped['recency_supersede']}"
    assert chosen in done.stdout
    settings = MemorySettings()
    assert settings.min_probability is None  # the shipped threshold applies
    assert settings.recency_min_share == shipped["recency_min_share"]
