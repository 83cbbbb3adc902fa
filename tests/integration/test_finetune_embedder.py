"""A real embedder finetune: all-MiniLM-L6-v2, a few steps on 16 triples, exported to ONNX
int8 in the default embedder's form, then used by ingest and search (and re-indexing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError
from ragline.finetune.data import Triple

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("sentence_transformers")
pytest.importorskip("onnx")

FACTS = [
    ("Which planet is the hottest?", "Venus is the hottest planet, with thick clouds."),
    ("How tall is the Eiffel Tower?", "The Eiffel Tower is 330 metres tall."),
    ("When does coffee lose its aroma?", "Ground coffee loses its aroma within days."),
    ("What do pandas eat?", "Giant pandas eat bamboo almost exclusively."),
    ("How fast is light?", "Light travels at about 300,000 km per second."),
    ("Where is the Great Barrier Reef?", "The Great Barrier Reef lies off Queensland, Australia."),
    ("What is the boiling point of water?", "Water boils at 100 degrees Celsius at sea level."),
    ("Who wrote Hamlet?", "Hamlet is a tragedy written by William Shakespeare."),
]


def triples() -> list[Triple]:
    out = []
    for i, (q, p) in enumerate(FACTS):
        negative = FACTS[(i + 1) % len(FACTS)][1]
        out.append(Triple(q, p, negative))
        out.append(Triple(q.lower().rstrip("?"), p, negative))
    return out


def test_finetuned_embedder_exports_int8_onnx_and_serves_search(tmp_path: Path) -> None:
    from ragline.api import Ragline
    from ragline.finetune.embedder import EmbedderTrainConfig, embedder_settings, train_embedder
    from ragline.finetune.reindex import reindex
    from ragline.models.embedder import get_embedder

    settings = load_settings(home=tmp_path / "home")
    out = settings.embedders_dir / "tiny"
    config = EmbedderTrainConfig(output=out, epochs=1, lr=2e-5, batch_size=8, max_seq_len=64)
    report = train_embedder(triples(), config)
    assert report.steps == 2 and report.with_negative == 16 and all(np.isfinite(report.losses))
    import onnx

    graph = onnx.load(str(out / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in graph.output] == ["last_hidden_state"]
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in graph.node)
    assert (out / "model.onnx").stat().st_size < 30_000_000  # int8: ~23 MB, fp32 would be 90

    tuned = embedder_settings("tiny", settings)
    embedder = get_embedder(tuned.embedder)
    assert embedder.name == "finetuned:tiny" and embedder.dim == 384
    vectors = embedder.embed([q for q, _ in FACTS] + [p for _, p in FACTS])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors[:8] @ vectors[8:].T
    assert (sims.argmax(axis=1) == np.arange(8)).mean() >= 0.75  # still an embedder

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, (_, p) in enumerate(FACTS):
        (docs / f"fact{i}.md").write_text(p + "\n", encoding="utf-8")
    with Ragline(settings) as rag:  # the default embedder's collection
        rag.ingest([docs], collection="facts")
        moved = reindex(rag, "facts", "facts-tiny", embedder)
        assert (moved.documents, moved.embedder) == (8, "finetuned:tiny")
        with pytest.raises(ConfigError, match="already exists"):
            reindex(rag, "facts", "facts-tiny", embedder)
    with Ragline(tuned) as rag:  # searched with the finetuned embedder, by its name
        assert rag.store.embedder_of("facts-tiny") == "finetuned:tiny"
        hits = rag.search("hottest planet", collection="facts-tiny", mode="dense", k=1)
        assert "Venus" in hits[0].chunk.text
        with pytest.raises(ConfigError, match="embedded with"):
            rag.search("hottest planet", collection="facts", mode="dense", k=1)
        rag.ingest([docs], collection="fresh")  # ingest with it too
        assert rag.store.embedder_of("fresh") == "finetuned:tiny"
    with pytest.raises(ConfigError, match="no finetuned embedder 'nope'"):
        embedder_settings("nope", settings)
