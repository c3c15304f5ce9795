"""What a sweep varies: the grid of options, each of its configurations, and every configuration against a baseline.

Every option kenning has is a dimension:

- how documents are cut: ``chunkers`` × ``sizes`` × ``overlaps``;
- what each chunk carries into the index (``contexts``): ``none``, or a ``+``-joined set of ``headers`` (title and
  heading path), ``late`` (late chunking) and ``llm`` (an LLM-written situating sentence), e.g. ``headers+late``;
- how it is searched: ``modes`` (× ``rrf_ks`` for hybrid) and query ``transforms`` (``none``, ``hyde``, ``multi``);
- how the candidates are reordered: ``rerankers`` (``none``, ``cross-encoder``, ``llm-listwise``, ``llm-pointwise``)
  × ``rerank_depths``.

Chunking and context decide the index, so configurations sharing them share one *cell* (one index). A configuration
id names only what differs from the defaults, so ids and cached cells of sweeps made before an option existed stay
valid: ``recursive-400-50-dense``, ``recursive-400-50-ctx:headers+late-dense-hyde-llm-listwise20``.

>>> grid = SweepGrid(chunkers=("recursive",), sizes=(200,), overlaps=(0,), contexts=("none", "late+headers"))
>>> [c.id for c in grid.plan()[0]]
['recursive-200-0-dense', 'recursive-200-0-ctx:headers+late-dense']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config import ContextConfig
from ..errors import ConfigError
from ..retrieve import MODES
from ..retrieve.transforms import TRANSFORMS
from .report import paired_row

__all__ = [
    "SweepGrid",
    "Config",
    "CHUNKERS",
    "CONTEXT_PARTS",
    "RERANKERS",
    "DEFAULT_RERANK_DEPTH",
    "context_config",
    "vs_baseline",
]

CHUNKERS = ("fixed", "recursive", "structure", "semantic")  # semantic embeds every sentence: slower cells
CONTEXT_PARTS = ("headers", "late", "llm")  # in the order a context's name lists them
RERANKERS = ("none", "cross-encoder", "llm-listwise", "llm-pointwise")
DEFAULT_RERANK_DEPTH = 20  # candidates given to a reranker when rerankers are asked for without rerank_depths


def _context_name(value: str) -> str:
    """``value`` ("late+headers") in its canonical form ("headers+late"); unknown parts raise :class:`ConfigError`."""
    words = [w.strip() for w in value.split("+")]
    if words == ["none"]:
        return "none"
    bad = [w for w in words if w not in CONTEXT_PARTS]
    if bad or len(set(words)) != len(words):
        raise ConfigError(
            f"sweep: context {value!r} is not a '+'-joined set of {', '.join(CONTEXT_PARTS)}, or 'none' "
            f"(e.g. headers+late)"
        )
    return "+".join(p for p in CONTEXT_PARTS if p in words)


def context_config(name: str) -> ContextConfig:
    """The :class:`~kenning.config.ContextConfig` a context name stands for."""
    parts = set(_context_name(name).split("+"))
    return ContextConfig(headers="headers" in parts, llm="llm" in parts, late_chunking="late" in parts)


@dataclass(frozen=True, slots=True)
class Config:
    """One configuration of the grid: how to chunk, what context to index, and how to retrieve from that index.

    ``reranker`` is ``cross-encoder`` whenever a ``rerank_depth`` is given without naming another one.
    """

    chunker: str
    size: int
    overlap: int
    mode: str
    rrf_k: float | None = None  # hybrid only
    rerank_depth: int | None = None
    context: str = "none"
    transform: str = "none"
    reranker: str = "none"

    def __post_init__(self) -> None:
        if self.rerank_depth is not None and self.reranker == "none":
            object.__setattr__(self, "reranker", "cross-encoder")
        if self.rerank_depth is None and self.reranker != "none":
            raise ConfigError(f"sweep: reranker {self.reranker} needs a rerank depth")

    @property
    def cell(self) -> str:
        """The index: configurations that share chunking and context share one."""
        out = f"{self.chunker}-{self.size}-{self.overlap}"
        return out if self.context == "none" else f"{out}-ctx:{self.context}"

    @property
    def id(self) -> str:
        out = f"{self.cell}-{self.mode}"
        if self.rrf_k is not None:
            out += f"-rrf{self.rrf_k:g}"
        if self.transform != "none":
            out += f"-{self.transform}"
        if self.rerank_depth is not None:
            name = "rerank" if self.reranker == "cross-encoder" else self.reranker
            out += f"-{name}{self.rerank_depth}"
        return out

    @property
    def needs_llm(self) -> bool:
        return "llm" in self.context.split("+") or self.transform != "none" or self.reranker.startswith("llm")

    def settings(self) -> dict[str, Any]:
        """What the configuration sets; options at their default are left out (so fingerprints of older sweeps hold)."""
        out: dict[str, Any] = {
            "chunker": self.chunker,
            "size": self.size,
            "overlap": self.overlap,
            "mode": self.mode,
            "rrf_k": self.rrf_k,
            "rerank_depth": self.rerank_depth,
        }
        if self.context != "none":
            out["context"] = self.context
        if self.transform != "none":
            out["transform"] = self.transform
        if self.reranker.startswith("llm"):
            out["reranker"] = self.reranker
        return out


@dataclass(frozen=True)
class SweepGrid:
    """The values to sweep; every combination is one :class:`Config`.

    ``rrf_ks`` only multiply hybrid configurations. ``rerankers`` left empty keep the original behaviour:
    ``rerank_depths`` (empty: no reranking) rerank with the cross-encoder given to the sweep. Named ``rerankers``
    multiply every depth (``none`` adds configurations without reranking; without depths, :data:`DEFAULT_RERANK_DEPTH`
    or ``k``). ``llm`` contexts, query transforms and ``llm-*`` rerankers need the sweep's LLM.
    ``per_group`` ranks each Chroma query only against its own corpus (default: every corpus, as the reference does).
    ``baseline`` names the configuration every other is tested against (default: the first one).
    """

    chunkers: tuple[str, ...] = ("recursive", "structure")
    sizes: tuple[int, ...] = (200, 400, 800)
    overlaps: tuple[int, ...] = (0, 50, 100)
    modes: tuple[str, ...] = ("dense",)
    rrf_ks: tuple[float, ...] = (60.0,)
    rerank_depths: tuple[int, ...] = ()
    k: int = 5
    tokenizer: str = "cl100k_base"
    per_group: bool = False
    contexts: tuple[str, ...] = ("none",)
    transforms: tuple[str, ...] = ("none",)
    rerankers: tuple[str, ...] = ()
    baseline: str | None = None

    def __post_init__(self) -> None:
        for name in ("chunkers", "sizes", "overlaps", "modes", "rrf_ks", "contexts", "transforms"):
            if not getattr(self, name):
                raise ConfigError(f"sweep: {name} is empty; give at least one value")
        for what, values, known in (
            ("chunker", self.chunkers, CHUNKERS),
            ("mode", self.modes, MODES),
            ("transform", self.transforms, TRANSFORMS),
            ("reranker", self.rerankers, RERANKERS),
        ):
            bad = [v for v in values if v not in known]
            if bad:
                raise ConfigError(f"sweep: unknown {what}(s) {', '.join(bad)}; choose from {', '.join(known)}")
        object.__setattr__(self, "contexts", tuple(_context_name(c) for c in self.contexts))
        if any(s <= 0 for s in self.sizes) or any(o < 0 for o in self.overlaps):
            raise ConfigError(f"sweep: sizes must be > 0 and overlaps >= 0, got {self.sizes} and {self.overlaps}")
        if any(r <= 0 for r in self.rrf_ks):
            raise ConfigError(f"sweep: RRF k must be > 0, got {self.rrf_ks}")
        if self.k <= 0:
            raise ConfigError(f"sweep: k must be > 0, got {self.k}")
        if any(d < self.k for d in self.rerank_depths):
            raise ConfigError(f"sweep: every rerank depth must be at least k={self.k}, got {self.rerank_depths}")
        if self.rerankers == ("none",) and self.rerank_depths:
            raise ConfigError("sweep: rerank depths were given but the only reranker is 'none'")
        for name in ("chunkers", "sizes", "overlaps", "modes", "rrf_ks", "rerank_depths", "contexts", "transforms"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"sweep: {name} has a repeated value: {values}")
        if len(set(self.rerankers)) != len(self.rerankers):
            raise ConfigError(f"sweep: rerankers has a repeated value: {self.rerankers}")

    def _reranking(self) -> list[tuple[str, int | None]]:
        """(reranker, depth) pairs, in the order the rerankers were named."""
        if not self.rerankers:
            return [("cross-encoder", d) for d in self.rerank_depths] or [("none", None)]
        depths = self.rerank_depths or (max(DEFAULT_RERANK_DEPTH, self.k),)
        out: list[tuple[str, int | None]] = []
        for r in self.rerankers:
            out.extend([("none", None)] if r == "none" else [(r, d) for d in depths])
        return out

    @property
    def uses(self) -> set[str]:
        """What the grid asks for beyond an embedder: ``llm``, ``cross-encoder``, ``late``."""
        out = set()
        if any("llm" in c.split("+") for c in self.contexts) or set(self.transforms) - {"none"}:
            out.add("llm")
        rerankers = {r for r, _ in self._reranking()}
        if any(r.startswith("llm") for r in rerankers):
            out.add("llm")
        if "cross-encoder" in rerankers:
            out.add("cross-encoder")
        if any("late" in c.split("+") for c in self.contexts):
            out.add("late")
        return out

    def plan(self) -> tuple[list[Config], list[dict[str, Any]]]:
        """The configurations to run, in grid order, and the cells skipped with the reason."""
        configs: list[Config] = []
        skipped: list[dict[str, Any]] = []
        reranking = self._reranking()
        for chunker in self.chunkers:
            for size in self.sizes:
                for overlap in self.overlaps:
                    if overlap >= size:
                        skipped.append(
                            {
                                "cell": f"{chunker}-{size}-{overlap}",
                                "reason": f"overlap {overlap} >= size {size}",
                            }
                        )
                        continue
                    for context in self.contexts:
                        for mode in self.modes:
                            for rrf_k in self.rrf_ks if mode == "hybrid" else (None,):
                                for transform in self.transforms:
                                    for reranker, depth in reranking:
                                        configs.append(
                                            Config(
                                                chunker, size, overlap, mode, rrf_k, depth, context, transform, reranker
                                            )
                                        )
        if not configs:
            raise ConfigError("sweep: every cell was skipped (overlap >= size everywhere); use smaller overlaps")
        if self.baseline is not None and self.baseline not in {c.id for c in configs}:
            shown = ", ".join(c.id for c in configs[:6]) + (", …" if len(configs) > 6 else "")
            raise ConfigError(f"sweep: baseline {self.baseline!r} is not a configuration of the grid ({shown})")
        return configs, skipped

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chunkers": list(self.chunkers),
            "sizes": list(self.sizes),
            "overlaps": list(self.overlaps),
            "modes": list(self.modes),
            "rrf_ks": list(self.rrf_ks),
            "rerank_depths": list(self.rerank_depths),
            "k": self.k,
            "tokenizer": self.tokenizer,
            "per_group": self.per_group,
        }
        if self.contexts != ("none",):
            out["contexts"] = list(self.contexts)
        if self.transforms != ("none",):
            out["transforms"] = list(self.transforms)
        if self.rerankers:
            out["rerankers"] = list(self.rerankers)
        if self.baseline is not None:
            out["baseline"] = self.baseline
        return out


# -------------------------------------------------------------------------------------------------- vs baseline

_OPTIONS = ("chunker", "size", "overlap", "context", "mode", "rrf_k", "transform", "reranker", "rerank_depth")


def _option(row: dict[str, Any], name: str) -> Any:
    if name in ("context", "transform"):
        return row.get(name, "none")
    if name == "reranker":
        return row.get("reranker") or ("cross-encoder" if row.get("rerank_depth") is not None else "none")
    return row.get(name)


def _changes(base: dict[str, Any], row: dict[str, Any]) -> str:
    """What ``row`` sets differently from ``base``: ``"size 200 → 400; context none → headers"``."""
    out = []
    for name in _OPTIONS:
        a, b = _option(base, name), _option(row, name)
        if a != b:
            out.append(
                f"{name} {'–' if a is None else f'{a:g}' if isinstance(a, float) else a} → "
                f"{'–' if b is None else f'{b:g}' if isinstance(b, float) else b}"
            )
    return "; ".join(out)


def vs_baseline(
    configs: Sequence[dict[str, Any]],
    qids: Sequence[str],
    primary: str,
    *,
    baseline: str | None = None,
    seed: int = 0,
    resamples: int = 10_000,
) -> dict[str, Any]:
    """Every configuration against ``baseline`` (default: the first) on ``primary`` and ``recall``: the mean
    difference over the questions both scored, its paired bootstrap interval and a paired randomization p-value
    (:func:`kenning.evaluate.stats.paired_test`). ``configs`` are rows of a sweep's results, with ``per_query``."""
    if not configs:
        raise ConfigError("sweep: no configuration to compare")
    by_id = {c["id"]: c for c in configs}
    base_id = baseline or configs[0]["id"]
    if base_id not in by_id:
        raise ConfigError(f"sweep: baseline {base_id!r} is not a configuration of the run")
    base = by_id[base_id]
    metrics = [m for m in dict.fromkeys((primary, "recall")) if m in base["per_query"]]
    rows = []
    for c in configs:
        if c["id"] == base_id:
            continue
        changes = _changes(base, c)
        for m in metrics:
            a = dict(zip(qids, base["per_query"][m], strict=True))
            b = dict(zip(qids, c["per_query"][m], strict=True))
            rows.append({**paired_row(c["id"], m, a, b, seed, resamples), "changes": changes})
    return {"baseline": base_id, "metrics": metrics, "seed": seed, "resamples": resamples, "rows": rows}
