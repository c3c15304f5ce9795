"""Fine-tune a bi-encoder (the collection's embedder) on mined pairs with MultipleNegativesRankingLoss.

Each example is (query, positive, hard negative): the loss pushes the query towards its positive and away from its
negative *and* from every other positive in the batch (in-batch negatives; the batch sampler keeps duplicate texts
out of a batch, so no in-batch negative is secretly a positive). With ``matryoshka`` dimensions the loss is summed
over vector prefixes of those sizes, so the vectors can later be cut short (``--dim``) and still rank well.

>>> embedder_columns([])
{'anchor': [], 'positive': [], 'negative': []}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..providers.embedders import import_sentence_transformers
from .negatives import Mined
from .trainer import FitResult, Progress, TrainConfig, fit

__all__ = ["train_embedder", "embedder_columns", "RECIPE"]

RECIPE = "kenning-embedder/1: MNRL + 1 mined hard negative, no-duplicates batches"


def embedder_columns(mined: Sequence[Mined], prefixes: tuple[str, str] = ("", "")) -> dict[str, list[str]]:
    """(anchor, positive, negative) columns; pairs for which no negative survived the filters are left out."""
    q, d = prefixes
    rows = [(q + m.pair.query, d + m.pair.positive, d + m.negatives[0]) for m in mined if m.negatives]
    return {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows], "negative": [r[2] for r in rows]}


def train_embedder(
    base_folder: Path,
    train: Sequence[Mined],
    validation: Sequence[Mined],
    out_dir: Path,
    config: TrainConfig,
    *,
    base_id: str,
    prefixes: tuple[str, str] = ("", ""),
    matryoshka: Sequence[int] = (),
    data: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Fine-tune the sentence-transformers model in ``base_folder``; the result is saved in ``out_dir``."""
    st = import_sentence_transformers("Tuning the embedder")
    import torch
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    from .trainer import device

    torch.manual_seed(config.seed)
    model = st.SentenceTransformer(str(base_folder), device=device(), local_files_only=True)
    loss: Any = MultipleNegativesRankingLoss(model)
    if matryoshka:
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=sorted(set(matryoshka), reverse=True))
    return fit(
        model,
        kind="embedder",
        recipe=RECIPE + (f" + Matryoshka {sorted(matryoshka, reverse=True)}" if matryoshka else ""),
        base=base_id,
        train=embedder_columns(train, prefixes),
        validation=embedder_columns(validation, prefixes),
        loss=loss,
        out_dir=out_dir,
        config=config,
        data=data,
        progress=progress,
    )
