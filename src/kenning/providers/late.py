"""Late chunking (Günther et al., 2024): embed the document, then pool each chunk's tokens.

A chunk embedded alone only knows its own words; "It must be run as the owner" says nothing about VACUUM. Late
chunking runs the transformer over the whole document at token level, so every token's vector has attended to its
neighbours, and a chunk's vector is the mean of its tokens' vectors (then L2-normalised, as the model's own pooling
would). No LLM call, and the same number of transformer passes as embedding the chunks one by one.

**The window limits it.** A model attends over at most its position limit (512 word pieces for MiniLM and MPNet, so
about 380 English words). A longer document is covered by windows of that size, each starting half a window after
the last; every token keeps the vector from the window where it sits most centrally, so it has seen at least a
quarter window of context on each side — but no token sees the whole of a long document. Only models that
pool by the mean of token vectors (MiniLM, MPNet) fit the method; others are refused by name.

>>> spans_tokens([(0, 5), (5, 9), (9, 12)], [(0, 9)])
[[0, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["late_chunk_vectors", "late_window", "spans_tokens", "check_late_model"]


def check_late_model(st_model, name: str) -> None:  # noqa: ANN001 - a SentenceTransformer
    """Raise :class:`ConfigError` unless the model is a transformer followed by mean pooling."""
    modules = list(st_model)
    pooling = modules[1] if len(modules) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers >= 5: "mean", "cls", …
    if mode is None and getattr(pooling, "pooling_mode_mean_tokens", False):  # older releases: one flag per mode
        mode = "mean"
    if not hasattr(modules[0], "auto_model") or mode != "mean":
        raise ConfigError(
            f"late chunking needs a model that mean-pools token vectors (minilm, mpnet); {name} does not, so turn "
            "context.late_chunking off for it"
        )


def late_window(st_model) -> int:  # noqa: ANN001
    """Word pieces the model attends over at once (its position limit), special tokens included."""
    limit = int(getattr(st_model.tokenizer, "model_max_length", 512) or 512)
    positions = int(getattr(st_model[0].auto_model.config, "max_position_embeddings", 512) or 512)
    return max(16, min(limit, positions, 8192))


def spans_tokens(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[list[int]]:
    """For each character span, the tokens that overlap it (by their character offsets)."""
    starts = np.asarray([o[0] for o in offsets], dtype=np.int64)
    ends = np.asarray([o[1] for o in offsets], dtype=np.int64)
    out = []
    for s, e in spans:
        out.append(np.nonzero((starts < e) & (ends > s) & (ends > starts))[0].tolist())
    return out


def _windows(n: int, inner: int) -> list[int]:
    """Starts of windows of ``inner`` tokens covering ``n`` tokens, overlapping by half a window."""
    if n <= inner:
        return [0]
    stride = max(1, inner // 2)
    starts = list(range(0, n - inner, stride))
    starts.append(n - inner)
    return starts


def late_chunk_vectors(
    st_model,  # noqa: ANN001 - a SentenceTransformer whose first module is a Transformer
    text: str,
    spans: Sequence[tuple[int, int]],
    *,
    prefix: str = "",
    batch_size: int = 8,
    truncate_dim: int | None = None,
) -> np.ndarray:
    """One L2-normalised vector per ``(start, end)`` span of ``text``, pooled from whole-document token vectors.

    A span that covers no token (whitespace) gets a zero vector; callers embed such chunks the usual way.
    """
    import torch

    tokenizer = st_model.tokenizer
    hf = st_model[0].auto_model
    window = late_window(st_model)
    inner = window - 2  # [CLS] … [SEP]
    enc = tokenizer(prefix + text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids: list[int] = enc["input_ids"]
    offsets = [(max(0, a - len(prefix)), max(0, b - len(prefix))) for a, b in enc["offset_mapping"]]
    dim = int(hf.config.hidden_size)
    out = np.zeros((len(spans), dim), dtype=np.float32)
    if not ids:
        return _finish(out, truncate_dim)
    starts = _windows(len(ids), inner)
    # each token takes its vector from the window where it is farthest from an edge
    best = np.full(len(ids), -1, dtype=np.int64)
    margin = np.full(len(ids), -1, dtype=np.int64)
    for w, s in enumerate(starts):
        t = np.arange(s, min(s + inner, len(ids)))
        m = np.minimum(t - s, s + inner - 1 - t)
        better = m > margin[t]
        best[t[better]], margin[t[better]] = w, m[better]
    token_vecs = np.zeros((len(ids), dim), dtype=np.float32)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for b in range(0, len(starts), batch_size):
            group = starts[b : b + batch_size]
            rows = [[cls, *ids[s : s + inner], sep] for s in group]
            width = max(len(r) for r in rows)
            input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            hidden = hf(input_ids=input_ids, attention_mask=mask).last_hidden_state.float().numpy()
            for j, s in enumerate(group):
                w = b + j
                t = np.arange(s, min(s + inner, len(ids)))
                own = t[best[t] == w]
                token_vecs[own] = hidden[j, 1 + (own - s)]
    for i, toks in enumerate(spans_tokens(offsets, spans)):
        if toks:
            out[i] = token_vecs[toks].mean(axis=0)
    return _finish(out, truncate_dim)


def _finish(vectors: np.ndarray, truncate_dim: int | None) -> np.ndarray:
    if truncate_dim:
        vectors = vectors[:, :truncate_dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0), dtype=np.float32)
