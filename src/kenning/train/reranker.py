"""Train a cross-encoder reranker from the same pairs: binary cross-entropy over positives and mined negatives.

No cross-encoder ships in a package, so the reranker starts from the packaged MiniLM (its transformer, with a new
one-logit head) and learns from the collection's own pairs: (query, positive) is 1, (query, hard negative) is 0. The
positive class is weighted by the number of negatives per query, so both classes count alike.

>>> reranker_columns([])
{'query': [], 'text': [], 'label': []}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..providers.embedders import import_sentence_transformers
from .negatives import Mined
from .trainer import FitResult, Progress, TrainConfig, device, fit

__all__ = ["train_reranker", "reranker_columns", "RECIPE"]

RECIPE = "kenning-reranker/1: MiniLM cross-encoder, BCE over positives and mined negatives"


def reranker_columns(mined: Sequence[Mined], negatives: int = 3) -> dict[str, list[Any]]:
    """(query, text, label) rows: each positive, then up to ``negatives`` of its mined negatives."""
    query: list[str] = []
    text: list[str] = []
    label: list[float] = []
    for m in mined:
        if not m.negatives:
            continue
        for t, y in [(m.pair.positive, 1.0)] + [(n, 0.0) for n in m.negatives[:negatives]]:
            query.append(m.pair.query)
            text.append(t)
            label.append(y)
    return {"query": query, "text": text, "label": label}


def train_reranker(
    base_folder: Path,
    train: Sequence[Mined],
    validation: Sequence[Mined],
    out_dir: Path,
    config: TrainConfig,
    *,
    base_id: str,
    negatives: int = 3,
    data: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Train a CrossEncoder from the transformer in ``base_folder``; saved in ``out_dir``."""
    st = import_sentence_transformers("Training the reranker")
    import torch
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    torch.manual_seed(config.seed)
    model = st.CrossEncoder(
        str(base_folder), num_labels=1, device=device(), local_files_only=True, max_length=config.max_length or 256
    )
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(max(1, negatives))))
    return fit(
        model,
        kind="reranker",
        recipe=RECIPE,
        base=base_id,
        train=reranker_columns(train, negatives),
        validation=reranker_columns(validation, negatives),
        loss=loss,
        out_dir=out_dir,
        config=config,
        data=data,
        progress=progress,
    )
