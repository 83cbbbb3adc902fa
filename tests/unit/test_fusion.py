from __future__ import annotations

import numpy as np

from ragline.retrieve.fusion import fuse


def test_rrf_rewards_agreement():
    lists = {
        "bm25": (np.array([1, 2, 3]), np.array([9.0, 5.0, 1.0])),
        "dense": (np.array([4, 2, 5]), np.array([0.9, 0.8, 0.7])),
    }
    rows, scores, parts = fuse(lists, k=4, rrf_k=60)
    assert rows[0] == 2  # ranked 2nd by both beats 1st-by-one
    assert scores == sorted(scores, reverse=True)
    assert parts[0] == {"bm25": 5.0, "dense": 0.8}
    assert set(rows) <= {1, 2, 3, 4, 5} and len(rows) == 4


def test_weights_shift_the_balance():
    lists = {
        "bm25": (np.array([1, 2]), np.array([2.0, 1.0])),
        "dense": (np.array([2, 1]), np.array([0.9, 0.1])),
    }
    rows, _, _ = fuse(lists, k=2, weights={"bm25": 1.0, "dense": 3.0})
    assert rows[0] == 2
    rows, _, _ = fuse(lists, k=2, method="weighted", weights={"bm25": 3.0, "dense": 1.0})
    assert rows[0] == 1
