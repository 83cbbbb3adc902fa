from __future__ import annotations

import numpy as np
import pytest

from ragline.config import EmbedderSettings
from ragline.errors import MissingDependencyError
from ragline.models.embedder import OnnxMiniLMEmbedder, get_embedder
from ragline.retrieve.rerank import NoopReranker
from ragline.testing.embedder_conformance import EmbedderConformance, RerankerConformance


class TestOnnxMiniLM(EmbedderConformance):
    @pytest.fixture
    def embedder(self):
        return get_embedder(EmbedderSettings())

    def test_matches_published_similarity(self, embedder):
        # sentence-transformers all-MiniLM-L6-v2 (fp32) gives 0.7553 for this pair
        a, b = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
        assert float(a @ b) == pytest.approx(0.7553, abs=0.01)

    def test_truncates_at_the_model_window(self, embedder):
        long = "word " * 1000
        np.testing.assert_allclose(
            embedder.embed([long]), embedder.embed([long + " extra tail"]), atol=1e-6
        )


class TestNoopReranker(RerankerConformance):
    @pytest.fixture
    def reranker(self):
        return NoopReranker()


def test_missing_model_file_names_the_fix(tmp_path):
    with pytest.raises(MissingDependencyError, match="not found"):
        OnnxMiniLMEmbedder(EmbedderSettings(model_path=tmp_path / "nope.onnx"))
