"""What ``kenning tune`` will do and how long it may take: its options, the budget, and a measured plan.

>>> parse_budget("1h30m"), parse_budget("45m"), parse_budget("600")
(5400.0, 2700.0, 600.0)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass

from ..errors import ConfigError, InputError
from ..providers.embedders import Embedder
from ..store.base import Store
from .trainer import TrainConfig

__all__ = ["TuneOptions", "TunePlan", "plan_tune", "parse_budget", "train_config", "minutes"]

_MIN_STEPS = 20  # fewer optimizer steps than this cannot move a model usefully


@dataclass(frozen=True, slots=True, kw_only=True)
class TuneOptions:
    """What ``kenning tune`` does and how long it may take."""

    budget_seconds: float = 3600.0
    max_pairs: int = 8000
    validation: float = 0.1
    max_validation: int = 400
    embedder: bool = True
    reranker: bool = True
    rerank_depth: int = 30
    rerank_negatives: int = 3
    epochs: float = 1.0
    batch_size: int = 32
    embedder_lr: float = 2e-5
    reranker_lr: float = 5e-5
    matryoshka: tuple[int, ...] = ()
    dim: int | None = None  # cut the adopted embedder's vectors to this many dimensions (needs matryoshka)
    alpha: float = 0.05
    llm_queries: int = 0
    seed: int = 0
    adopt: bool = True  # False: train and report, never switch (a dry run of the guard)

    def __post_init__(self) -> None:
        if self.budget_seconds <= 0:
            raise ConfigError(f"tune budget must be > 0, got {self.budget_seconds} s")
        if not 0 < self.validation < 0.5:
            raise ConfigError(f"tune validation must be in (0, 0.5), got {self.validation}")
        if not 10 <= self.rerank_depth <= 500:
            raise ConfigError(f"tune rerank_depth must be in [10, 500], got {self.rerank_depth}")
        if self.dim is not None and self.dim not in self.matryoshka:
            raise ConfigError(f"tune dim {self.dim} must be one of the matryoshka dimensions {self.matryoshka}")
        if not (self.embedder or self.reranker):
            raise ConfigError("tune: nothing to do (both the embedder and the reranker are turned off)")

    def fingerprint(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k not in ("budget_seconds", "adopt")}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def parse_budget(text: str) -> float:
    """``"45m"``, ``"1h30m"``, ``"90s"`` or plain seconds → seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ConfigError(f"budget: cannot read {text!r}; write e.g. 45m, 1h30m or 900s")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


@dataclass(frozen=True, slots=True)
class TunePlan:
    """Estimated seconds per step (from a measured encoding speed) and the step caps the budget allows."""

    chunks: int
    seconds_per_text: float
    estimates: dict[str, float]
    embedder_steps: int
    reranker_steps: int
    embedder_seconds: float
    reranker_seconds: float

    @property
    def total(self) -> float:
        return sum(self.estimates.values())

    def describe(self) -> str:
        lines = [f"plan for {self.chunks} chunks (encoding {1 / self.seconds_per_text:.0f} texts/s here):"]
        lines += [f"  {name:<16} ~{minutes(s)}" for name, s in self.estimates.items()]
        lines.append(f"  {'total':<16} ~{minutes(self.total)}")
        return "\n".join(lines)


def plan_tune(collection: Store, embedder: Embedder, options: TuneOptions, n_pairs: int | None = None) -> TunePlan:
    """Measure the embedder on a few chunks and estimate each step; fail early when the budget is too short."""
    texts = [t for _, t in zip(range(64), (t for _, t in collection.catalog.chunk_texts()), strict=False)]
    _, n_chunks = collection.catalog.counts()
    embedder.embed(texts[:4])  # load the model before timing
    t0 = time.perf_counter()
    embedder.embed(texts)
    per_text = max((time.perf_counter() - t0) / max(1, len(texts)), 1e-4)
    pairs = min(options.max_pairs, n_pairs or options.max_pairs, 4 * n_chunks)  # cloze 3 a chunk, plus titles
    train_pairs = pairs * (1 - options.validation)
    val = min(options.max_validation, pairs * options.validation)
    fit_example = 13.0 * per_text  # a query, a positive and a negative, forward + backward (measured: SciFact)
    pair_cost = 5.0 * per_text  # one (query, text) pair through a cross-encoder, forward + backward (measured)
    est = {
        "pairs": 0.002 * n_chunks + 2 + 5.0 * options.llm_queries,  # an LLM question: ~1-2 s remote, ~8 s local
        "negatives": (pairs + 0) * per_text * 0.4 + 0.01 * pairs,
        "before": val * 0.02 + 2,
    }
    fixed = sum(est.values())
    if options.embedder:
        est["embedder-guard"] = n_chunks * per_text + val * 0.03
    if options.reranker:
        est["reranker-guard"] = 2 * val * options.rerank_depth * per_text * 1.2
    est["adopt"] = 5.0 + n_chunks * 0.0005
    fixed = sum(est.values())
    room = options.budget_seconds - fixed
    share_e = 0.5 if options.embedder and options.reranker else 1.0
    e_sec = room * share_e if options.embedder else 0.0
    r_sec = room - e_sec if options.reranker else 0.0
    cfg = TrainConfig(epochs=options.epochs, batch_size=options.batch_size)
    e_planned = cfg.planned_steps(int(train_pairs)) if options.embedder else 0
    r_planned = cfg.planned_steps(int(train_pairs * (1 + options.rerank_negatives))) if options.reranker else 0
    e_steps = min(e_planned, int(e_sec / (fit_example * options.batch_size))) if options.embedder else 0
    r_steps = min(r_planned, int(r_sec / (pair_cost * options.batch_size))) if options.reranker else 0
    if options.embedder:
        est["embedder"] = e_steps * fit_example * options.batch_size
    if options.reranker:
        est["reranker"] = r_steps * pair_cost * options.batch_size
    short = [
        (w, s, p)
        for w, s, p in (("embedder", e_steps, e_planned), ("reranker", r_steps, r_planned))
        if p and s < min(_MIN_STEPS, p)
    ]
    if short:
        need = fixed + sum(
            min(_MIN_STEPS, p) * (fit_example if w == "embedder" else pair_cost) * options.batch_size
            for w, _, p in short
        )
        raise InputError(
            f"a budget of {minutes(options.budget_seconds)} is too short: training the {short[0][0]} needs at least "
            f"{_MIN_STEPS} steps after the other steps' ~{minutes(fixed)}; give --budget {minutes(need * 1.3)} or more"
        )
    order = ["pairs", "negatives", "before", "embedder", "embedder-guard", "reranker", "reranker-guard", "adopt"]
    return TunePlan(n_chunks, per_text, {k: est[k] for k in order if k in est}, e_steps, r_steps, e_sec, r_sec)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def train_config(options: TuneOptions, *, learning_rate: float, steps: int, seconds: float) -> TrainConfig:
    """The trainer's settings for one of tune's models: its step cap and its share of the budget (with slack)."""
    return TrainConfig(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=learning_rate,
        max_steps=steps,
        budget_seconds=seconds * 1.25,
        seed=options.seed,
        max_length=256,
    )
