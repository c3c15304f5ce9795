"""``kenning tune``: adapt the embedder and train a reranker from a collection's own documents, behind a guard.

Steps (each writes its result to ``<collection>/tune/work`` and is skipped when run again, so a killed run resumes;
model training resumes from its last checkpoint):

1. ``pairs`` — training queries from the chunks (:mod:`.pairs`), split by document into train and validation;
2. ``negatives`` — hard negatives mined with the collection's hybrid search, false negatives filtered (:mod:`.negatives`);
3. ``before`` — bm25, dense, hybrid (and hybrid + the current reranker) scored on the validation queries;
4. ``embedder`` — the embedder fine-tuned with MultipleNegativesRankingLoss (:mod:`.embedder`);
5. ``embedder-guard`` — every chunk embedded with it (staged in the catalog: nothing served changes), dense and hybrid
   scored again; adopted only if it wins by a paired test (:mod:`.guard`);
6. ``reranker`` — a cross-encoder trained on the same pairs (:mod:`.reranker`);
7. ``reranker-guard`` — hybrid + rerank against hybrid (or against the current reranker); adopted only if it wins;
8. ``adopt`` — the winners switched in atomically (:mod:`kenning.index.adopt`), their lineage in the manifest;
9. ``report`` — every mode after, with confidence intervals and paired tests against before, as JSON and HTML.

Before step 1 the plan is printed with a time estimate made from a measured encoding speed, and the wall-clock
``budget`` is split between the two trainings; each stops when its share is spent.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ..config import RetrievalConfig
from ..errors import ConfigError, InputError, MissingExtraError
from ..index.adopt import adopt_embedder, adopt_reranker, reranker_for, stage_vectors, staged_vectors
from ..index.collection import Collection
from ..providers.embedders import Embedder, SentenceTransformerEmbedder
from ..providers.llm.base import LLM
from ..retrieve import Searcher
from .embedder import train_embedder
from .guard import RERANK, Decision, decide, evaluate_pairs, held_out, summarize
from .negatives import Mined, mine_negatives
from .pairs import MIN_CHUNKS, Pair, make_pairs
from .plan import TuneOptions, TunePlan, parse_budget, plan_tune, train_config
from .reranker import train_reranker
from .trainer import ModelManifest, device

__all__ = ["TuneOptions", "TunePlan", "TuneReport", "tune", "plan_tune", "parse_budget"]

Progress = Callable[[str, int, int | None], None]
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TuneReport:
    """What tuning did: data, decisions, models and the before/after scores on the validation queries."""

    collection: str
    folder: Path
    pairs: dict[str, int]
    mining: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    comparisons: dict[str, Any]
    embedder: dict[str, Any]
    reranker: dict[str, Any]
    plan: dict[str, Any]
    seconds: float
    peak_rss_mb: float
    load_average: tuple[float, float, float]
    device: str
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        out["format"] = "kenning-tune/1"
        return out


class _Work:
    """The resumable work folder: one JSON file per finished step, invalidated when the inputs change."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        stamp = folder / "fingerprint"
        if stamp.is_file() and stamp.read_text() != fingerprint:
            shutil.rmtree(folder)
            folder.mkdir(parents=True)
        stamp.write_text(fingerprint)

    def done(self, step: str) -> dict[str, Any] | None:
        path = self.folder / f"{step}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def save(self, step: str, data: dict[str, Any]) -> dict[str, Any]:
        path = self.folder / f"{step}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
        return data


def _pairs_json(pairs: Sequence[Pair]) -> list[dict[str, str]]:
    return [p.to_dict() for p in pairs]


def _mined_json(mined: Sequence[Mined]) -> list[dict[str, Any]]:
    return [{"pair": m.pair.to_dict(), "negatives": list(m.negatives)} for m in mined]


def _mined(rows: Sequence[dict[str, Any]]) -> list[Mined]:
    return [Mined(Pair(**r["pair"]), tuple(r["negatives"])) for r in rows]


def _per_query(scores: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    return {mode: {q: dict(s.per_query[q]) for q in s.queries} for mode, s in scores.items()}


def tune(
    collection: Collection,
    embedder: Embedder,
    retrieval: RetrievalConfig,
    options: TuneOptions | None = None,
    *,
    base_reranker: Path | None = None,
    llm: LLM | None = None,
    progress: Progress | None = None,
    say: Say | None = None,
) -> TuneReport:
    """Tune ``collection`` (see the module doc). ``embedder`` is the one it is built with now."""
    options = options or TuneOptions()
    tick = progress or (lambda stage, done, total: None)
    tell = say or (lambda text: None)
    started = time.perf_counter()
    if not collection.counts()[1]:
        raise InputError(f"collection {collection.name!r} is empty; index documents first")
    n_chunks = collection.catalog.counts()[1]
    if n_chunks < MIN_CHUNKS:
        raise InputError(
            f"collection {collection.name!r} has {n_chunks} chunks; tuning needs at least {MIN_CHUNKS} "
            "(a few dozen documents) so that a held-out split can tell a better model from a worse one"
        )
    if options.embedder and (collection.manifest.get("context") or {}).get("late_chunking"):
        # adopting a model re-embeds chunk texts one by one, which would silently undo late chunking
        raise ConfigError(
            f"collection {collection.name!r} is late-chunked; tune its reranker only (--no-embedder), or re-index "
            "without context.late_chunking to tune the embedder"
        )
    base_folder = _tunable_folder(embedder) if options.embedder else None
    current_model = collection.manifest["embedder"]["model"]
    work = _Work(collection.folder / "tune" / "work", options.fingerprint() + ":" + current_model)
    plan = plan_tune(collection, embedder, options)
    tell(plan.describe())
    searcher = Searcher(collection, embedder, retrieval)
    current_reranker = reranker_for(collection)

    # 1. pairs
    if (data := work.done("pairs")) is None:
        ps = make_pairs(
            collection,
            max_pairs=options.max_pairs,
            validation=options.validation,
            max_validation=options.max_validation,
            llm=llm,
            llm_queries=options.llm_queries,
            seed=options.seed,
            progress=tick,
        )
        data = work.save(
            "pairs", {"train": _pairs_json(ps.train), "validation": _pairs_json(ps.validation), "counts": ps.counts}
        )
    train_pairs = [Pair(**p) for p in data["train"]]
    val_pairs = [Pair(**p) for p in data["validation"]]
    counts = data["counts"]
    tell(
        f"pairs: {counts['train']} train, {counts['validation']} validation from {counts['documents']} documents "
        f"({', '.join(f'{k} {v}' for k, v in counts.items() if k not in ('train', 'validation', 'documents'))})"
    )

    # 2. negatives
    if (data := work.done("negatives")) is None:
        train_mined, report = mine_negatives(
            train_pairs, collection, searcher, embedder, per_query=max(1, options.rerank_negatives), progress=tick
        )
        val_mined, _ = mine_negatives(
            val_pairs, collection, searcher, embedder, per_query=max(1, options.rerank_negatives)
        )
        data = work.save(
            "negatives",
            {"train": _mined_json(train_mined), "validation": _mined_json(val_mined), "report": asdict(report)},
        )
    train_mined, val_mined = _mined(data["train"]), _mined(data["validation"])
    mining = data["report"]
    tell(
        f"negatives: kept {mining['kept']} of {mining['candidates']} candidates; dropped "
        + ", ".join(f"{k} {v}" for k, v in sorted(mining["dropped"].items()))
        + f"; {mining['without_negative']} "
        "queries had none left"
    )

    # 3. before
    before_modes = ["bm25", "dense", "hybrid"] + ([RERANK] if current_reranker else [])
    held_before = held_out(collection, val_pairs, embedder)
    if len(held_before.pairs) < 30:
        raise InputError(
            f"only {len(held_before.pairs)} held-out queries could be made from {collection.name!r}; the guard needs "
            "30 or more to tell models apart (index more documents, or raise --max-pairs)"
        )
    if (data := work.done("before")) is None:
        scores = evaluate_pairs(
            searcher,
            held_before,
            modes=before_modes,
            reranker=current_reranker,
            rerank_depth=options.rerank_depth,
            progress=tick,
        )
        data = work.save("before", {"per_query": _per_query(scores), "summary": summarize(scores, seed=options.seed)})
    before = data["per_query"]

    # 4-5. embedder
    emb_info: dict[str, Any] = {"trained": False}
    best_embedder, best_held, candidate = embedder, held_before, None
    if options.embedder and base_folder is not None:
        out = work.folder / "embedder"
        if (out / "kenning_model.json").is_file():
            manifest = ModelManifest.read(out)
        else:
            cfg = train_config(
                options, learning_rate=options.embedder_lr, steps=plan.embedder_steps, seconds=plan.embedder_seconds
            )
            tell(f"training the embedder: up to {plan.embedder_steps} steps of {options.batch_size}")
            prefixes = (getattr(embedder, "query_prefix", ""), getattr(embedder, "document_prefix", ""))
            manifest = train_embedder(
                base_folder,
                train_mined,
                val_mined,
                out,
                cfg,
                base_id=current_model,
                prefixes=prefixes,
                matryoshka=options.matryoshka,
                data=_data(collection, counts, mining),
                progress=tick,
            ).manifest
        model_id = f"kenning-tuned/{collection.name}/{manifest.created}/{_folder_hash(out)}"
        candidate = SentenceTransformerEmbedder(
            str(out),
            model_id=model_id,
            truncate_dim=options.dim,
            query_prefix=getattr(embedder, "query_prefix", ""),
            document_prefix=getattr(embedder, "document_prefix", ""),
        )
        if (data := work.done("embedder-guard")) is None:
            tell("embedding every chunk with the tuned embedder (staged: searches are unchanged)")
            with collection.locked(wait=True):
                stage_vectors(collection, candidate, model_id, progress=tick)
            held = held_out(collection, val_pairs, candidate, vectors=partial(staged_vectors, collection, model_id))
            cand_searcher = Searcher(collection, candidate, retrieval)
            scores = evaluate_pairs(cand_searcher, held, modes=("dense", "hybrid"), progress=tick)
            decision = decide(
                _rs(before),
                _as_scores(scores),
                primary=("hybrid", "dense"),
                guarded=("hybrid", "dense"),
                alpha=options.alpha,
                seed=options.seed,
                what="embedder",
            )
            data = work.save(
                "embedder-guard",
                {
                    "model_id": model_id,
                    "per_query": _per_query(scores),
                    "summary": summarize(scores, seed=options.seed),
                    "decision": asdict(decision),
                },
            )
        decision = Decision(**data["decision"])
        emb_info = {
            "trained": True,
            "model_id": data["model_id"],
            "manifest": manifest.to_json(),
            "decision": asdict(decision),
            "summary": data["summary"],
        }
        tell(("[adopt] " if decision.adopt else "[keep]  ") + decision.reason)
        if decision.adopt:
            best_embedder = candidate
            best_held = held_out(
                collection, val_pairs, candidate, vectors=partial(staged_vectors, collection, data["model_id"])
            )

    # 6-7. reranker
    rr_info: dict[str, Any] = {"trained": False}
    new_reranker = None
    if options.reranker:
        out = work.folder / "reranker"
        if (out / "kenning_model.json").is_file():
            manifest = ModelManifest.read(out)
        else:
            cfg = train_config(
                options, learning_rate=options.reranker_lr, steps=plan.reranker_steps, seconds=plan.reranker_seconds
            )
            tell(f"training the reranker: up to {plan.reranker_steps} steps of {options.batch_size}")
            manifest = train_reranker(
                base_reranker or _minilm_folder(),
                train_mined,
                val_mined,
                out,
                cfg,
                base_id="sentence-transformers/all-MiniLM-L6-v2",
                negatives=options.rerank_negatives,
                data=_data(collection, counts, mining),
                progress=tick,
            ).manifest
        from ..rerank import CrossEncoderReranker

        variants = {f: CrossEncoderReranker(out, max_length=256, fusion=f) for f in ("none", "rrf")}
        shared: dict[tuple[str, str], float] = {}
        for v in variants.values():  # one model, one score per pair, two ways to order by it
            v.cache = shared
            v._model = variants["none"].model  # noqa: SLF001
        if (data := work.done("reranker-guard")) is None:
            s = Searcher(collection, best_embedder, retrieval)
            base_modes = ("hybrid", RERANK) if current_reranker else ("hybrid",)
            base_scores = evaluate_pairs(
                s,
                best_held,
                modes=base_modes,
                reranker=current_reranker,
                rerank_depth=options.rerank_depth,
                progress=tick,
            )
            tried = {
                f: evaluate_pairs(
                    s,
                    best_held,
                    modes=(RERANK,),
                    reranker=v,
                    rerank_depth=options.rerank_depth,
                    progress=tick,
                )
                for f, v in variants.items()
            }
            fusion = max(tried, key=lambda f: tried[f][RERANK].mean["ndcg@10"])
            scores = tried[fusion]
            baseline = RERANK if current_reranker else "hybrid"
            decision = decide(
                {RERANK: base_scores[baseline]},
                scores,
                primary=(RERANK,),
                alpha=options.alpha,
                seed=options.seed,
                what=f"reranker (fusion {fusion})",
            )
            data = work.save(
                "reranker-guard",
                {
                    "per_query": _per_query(scores),
                    "summary": summarize(scores),
                    "baseline": baseline,
                    "fusion": fusion,
                    "tried": {f: round(t[RERANK].mean["ndcg@10"], 4) for f, t in tried.items()},
                    "decision": asdict(decision),
                },
            )
        new_reranker = variants[data["fusion"]]
        decision = Decision(**data["decision"])
        rr_info = {
            "trained": True,
            "manifest": manifest.to_json(),
            "decision": asdict(decision),
            "summary": data["summary"],
            "baseline": data["baseline"],
        }
        tell(("[adopt] " if decision.adopt else "[keep]  ") + decision.reason)
        if not decision.adopt:
            new_reranker = None

    # 8. adopt
    adopted_embedder = options.adopt and emb_info.get("decision", {}).get("adopt", False)
    adopted_reranker = options.adopt and new_reranker is not None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if adopted_embedder:
        entry = _embedder_entry(collection, work.folder / "embedder", stamp, candidate, emb_info, options)
        with collection.locked(wait=True):
            version = adopt_embedder(collection, entry, candidate, progress=tick)  # type: ignore[arg-type]
        emb_info["adopted"] = {"snapshot": version, "path": entry["path"]}
        tell(f"adopted the tuned embedder: snapshot {version}")
    if adopted_reranker:
        entry = {
            "path": f"models/reranker-{stamp}",
            "depth": options.rerank_depth,
            "max_length": 256,
            "lineage": rr_info["manifest"],
            "guard": rr_info["decision"],
        }
        with collection.locked(wait=True):
            adopt_reranker(collection, work.folder / "reranker", entry)
        rr_info["adopted"] = {"path": entry["path"]}
        tell(f"adopted the trained reranker (depth {options.rerank_depth})")

    # 9. after: the collection as it now serves, every mode, against before
    final_embedder = candidate if adopted_embedder else embedder
    final_reranker = new_reranker if adopted_reranker else current_reranker  # its scores are cached already
    s = Searcher(collection, final_embedder, retrieval)
    after_modes = ["bm25", "dense", "hybrid"] + ([RERANK] if final_reranker else [])
    held_after = held_out(collection, val_pairs, final_embedder)
    after_scores = evaluate_pairs(
        s,
        held_after,
        modes=after_modes,
        reranker=final_reranker,
        rerank_depth=options.rerank_depth,
        progress=tick,
    )
    comparisons: dict[str, Any] = {}
    from .guard import compare

    before_scores = _rs(before)
    for mode in after_modes:
        base_mode = mode if mode in before_scores else "hybrid"
        comparisons[mode] = {
            m: compare(before_scores[base_mode], after_scores[mode], m, seed=options.seed)
            for m in ("ndcg@10", "recall@10", "mrr@10")
        }
    report = TuneReport(
        collection=collection.name,
        folder=collection.folder / "tune",
        pairs=counts,
        mining=mining,
        before=work.done("before")["summary"],  # type: ignore[index]
        after=summarize(after_scores, seed=options.seed),
        comparisons=comparisons,
        embedder=emb_info,
        reranker=rr_info,
        plan={
            "estimates": plan.estimates,
            "budget_seconds": options.budget_seconds,
            "embedder_steps": plan.embedder_steps,
            "reranker_steps": plan.reranker_steps,
        },
        seconds=round(time.perf_counter() - started, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        load_average=tuple(round(x, 2) for x in os.getloadavg()),  # type: ignore[arg-type]
        device=device(),
    )
    out_dir = collection.folder / "tune"
    (out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    from ..evaluate.report import write_report

    try:
        write_report(report.to_json(), out_dir, title=f"kenning tune: {collection.name}", name="report")
    except MissingExtraError as exc:  # matplotlib draws the plots; the JSON report is complete without it
        tell(f"no HTML report: {exc}")
    # A finished run leaves only its report: adopted models were copied into the collection, refused ones are
    # dropped, and the next `kenning tune` (a bigger budget, new documents) starts afresh. Only a killed run resumes.
    shutil.rmtree(work.folder, ignore_errors=True)
    return report


def _rs(per_query: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Saved per-query scores, in the shape paired_test reads."""
    return {mode: values for mode, values in per_query.items()}


def _as_scores(scores: dict[str, Any]) -> dict[str, Any]:
    return _per_query(scores)


def _data(collection: Collection, counts: dict[str, int], mining: dict[str, Any]) -> dict[str, Any]:
    _, n_chunks = collection.catalog.counts()
    return {"collection": collection.name, "chunks": n_chunks, "pairs": counts, "mining": mining}


def _folder_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        with open(path, "rb") as fh:
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def _tunable_folder(embedder: Embedder) -> Path | None:
    locate = getattr(embedder, "folder", None)
    if locate is None:
        raise InputError(
            f"the embedder {embedder.name} is not a sentence-transformers model, so it cannot be fine-tuned; "
            "tune the reranker only (--no-embedder), or index into a collection built with minilm or mpnet"
        )
    return Path(locate)


def _minilm_folder() -> Path:
    from ..providers.embedders import get_embedder

    return Path(get_embedder("minilm").folder)  # type: ignore[attr-defined]


def _embedder_entry(
    collection: Collection, work_model: Path, stamp: str, candidate: Any, info: dict[str, Any], options: TuneOptions
) -> dict[str, Any]:
    """Copy the tuned model into the collection and describe it for the manifest."""
    models = collection.folder / "models"
    models.mkdir(exist_ok=True)
    target = models / f"embedder-{stamp}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work_model, tmp)
    os.replace(tmp, target)
    previous = collection.manifest["embedder"]
    return {
        "name": "tuned",
        "path": f"models/{target.name}",
        "model": info["model_id"],
        "dim": int(candidate.dim),
        "truncate_dim": options.dim,
        "query_prefix": getattr(candidate, "query_prefix", ""),
        "document_prefix": getattr(candidate, "document_prefix", ""),
        "base": previous.get("base") or previous["model"],
        "previous": {k: v for k, v in previous.items() if k not in ("lineage", "previous")},
        "lineage": info["manifest"],
        "guard": info["decision"],
    }
