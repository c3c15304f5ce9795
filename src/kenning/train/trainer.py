"""One trainer for every model kenning trains: the verifier, the embedder and the reranker.

Each is a sentence-transformers model (a ``SentenceTransformer`` bi-encoder or a ``CrossEncoder``) trained by that
library's trainer (Hugging Face ``Trainer`` underneath), so this module only adds what kenning needs around it, once:

* a typed :class:`TrainConfig` (epochs, batch size, learning rate, a step cap and a wall-clock budget, early stopping);
* checkpoints every ``save_steps`` in ``<out>/checkpoints``: a run killed midway resumes from the last one;
* a wall-clock budget: training stops cleanly when the budget is spent and the manifest says ``stopped: "budget"``;
* early stopping on the validation loss (``patience`` evaluations without improvement), keeping the best checkpoint;
* the loss curves, steps, examples per second and device in a typed :class:`ModelManifest` written next to the model
  (``kenning_model.json``), which the collection's manifest then records as the model's lineage.

>>> TrainConfig(epochs=1, batch_size=16).planned_steps(100)
7
>>> TrainConfig(epochs=2, batch_size=16, max_steps=5).planned_steps(100)
5
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..providers.embedders import import_sentence_transformers

__all__ = ["TrainConfig", "ModelManifest", "FitResult", "fit", "device", "MANIFEST_FILE", "Progress"]

MANIFEST_FILE = "kenning_model.json"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How one model is trained. ``max_steps`` and ``budget_seconds`` cap the run; the first reached wins."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    weight_decay: float = 0.01
    max_steps: int | None = None
    budget_seconds: float | None = None
    eval_every: int | None = None  # steps between validation losses (default: about 4 per run)
    patience: int | None = 2  # evaluations without improvement before stopping; None: never stop early
    save_every: int = 50  # steps between checkpoints a killed run resumes from
    seed: int = 0
    threads: int | None = None  # torch CPU threads (default: the CPUs this process may use)
    max_length: int | None = None  # tokens per text (per pair for a cross-encoder)

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ConfigError(f"train epochs must be > 0, got {self.epochs}")
        if self.batch_size < 2:
            raise ConfigError(f"train batch_size must be >= 2, got {self.batch_size}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"train warmup must be in [0, 1), got {self.warmup}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"train max_steps must be >= 1, got {self.max_steps}")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise ConfigError(f"train budget must be > 0 seconds, got {self.budget_seconds}")

    def planned_steps(self, n_examples: int) -> int:
        """Optimizer steps this config plans for ``n_examples`` (before the wall-clock budget)."""
        steps = max(1, math.ceil(math.ceil(n_examples / self.batch_size) * self.epochs))
        return min(steps, self.max_steps) if self.max_steps else steps


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """What a trained model is and how it came to be: written to ``kenning_model.json`` beside its weights."""

    kind: str  # "embedder", "reranker" or "verifier"
    recipe: str
    base: str  # the model training started from
    data: Mapping[str, Any]  # where the examples came from and how many
    config: Mapping[str, Any]
    steps: int
    planned_steps: int
    examples_seen: int
    stopped: str  # "completed", "budget" or "early_stopping"
    loss_curve: tuple[tuple[int, float], ...]
    eval_curve: tuple[tuple[int, float], ...]
    seconds: float
    examples_per_second: float
    device: str
    created: str
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["loss_curve"] = [list(p) for p in self.loss_curve]
        out["eval_curve"] = [list(p) for p in self.eval_curve]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelManifest:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["loss_curve"] = tuple(tuple(p) for p in values.get("loss_curve", ()))
        values["eval_curve"] = tuple(tuple(p) for p in values.get("eval_curve", ()))
        return cls(**values)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, folder: Path) -> ModelManifest:
        path = Path(folder) / MANIFEST_FILE
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: not a kenning model manifest ({exc})") from None

    def with_metrics(self, **metrics: Any) -> ModelManifest:
        return replace(self, metrics={**self.metrics, **metrics})


@dataclass(frozen=True, slots=True)
class FitResult:
    """The trained model (in memory and saved in ``folder``) and its manifest."""

    model: Any
    folder: Path
    manifest: ModelManifest


def device() -> str:
    """``cuda`` when a GPU is usable, else ``cpu``."""
    try:
        import torch
    except ImportError:  # pragma: no cover - sentence-transformers needs torch
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def fit(
    model: Any,
    *,
    kind: str,
    recipe: str,
    base: str,
    train: Mapping[str, Sequence[Any]],
    loss: Any,
    out_dir: Path,
    config: TrainConfig,
    validation: Mapping[str, Sequence[Any]] | None = None,
    data: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Train ``model`` on the columns in ``train`` with ``loss``; save it and its manifest in ``out_dir``.

    ``train`` and ``validation`` map column names to equal-length lists, in the order the loss expects them
    (e.g. ``anchor, positive, negative`` for MultipleNegativesRankingLoss, ``query, text, label`` for a
    cross-encoder). With a ``validation`` set, the validation loss is computed during training and the best
    checkpoint is kept (early stopping after ``config.patience`` evaluations without improvement).
    A ``checkpoints`` folder in ``out_dir`` from a killed run with the same data is resumed from.
    """
    st = import_sentence_transformers("Training models")
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    n = _column_length(train, "train")
    if n < config.batch_size:
        raise InputError(f"{kind}: {n} training examples is fewer than one batch of {config.batch_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _set_threads(config.threads)
    dev = device()
    planned = config.planned_steps(n)
    eval_every = config.eval_every or max(10, planned // 4)
    has_eval = bool(validation) and _column_length(validation or {}, "validation") > 0
    save_every = eval_every if has_eval else config.save_every  # the best checkpoint must be a saved one
    common: dict[str, Any] = {
        "output_dir": str(out / "checkpoints"),
        "num_train_epochs": config.epochs,
        "max_steps": planned,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "warmup_steps": int(planned * config.warmup),
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "logging_steps": max(1, min(10, planned // 20)),
        "save_strategy": "steps",
        "save_steps": save_every,
        "save_total_limit": 2,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": eval_every if has_eval else None,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": "eval_loss" if has_eval else None,
        "greater_is_better": False if has_eval else None,
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": dev == "cpu",
        "dataloader_pin_memory": dev != "cpu",
    }
    is_cross = isinstance(model, st.CrossEncoder)
    if is_cross:
        from sentence_transformers.cross_encoder import CrossEncoderTrainer as Trainer
        from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments as Args
    else:
        from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer as Trainer
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
        from sentence_transformers.sentence_transformer.training_args import (
            SentenceTransformerTrainingArguments as Args,
        )

        common["batch_sampler"] = BatchSamplers.NO_DUPLICATES  # in-batch negatives must not be positives
    if config.max_length:
        model.max_seq_length = config.max_length

    watch = _Watch(config.budget_seconds, planned, progress or (lambda stage, done, total: None))

    class _Callback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            watch.step(state.global_step)
            if watch.over_budget():
                control.should_training_stop = True
                control.should_save = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
            watch.log(state.global_step, logs or {})

    callbacks: list[Any] = [_Callback()]
    if has_eval and config.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    trainer = Trainer(
        model=model,
        args=Args(**common),
        train_dataset=Dataset.from_dict({k: list(v) for k, v in train.items()}),
        eval_dataset=Dataset.from_dict({k: list(v) for k, v in validation.items()}) if has_eval else None,  # type: ignore[union-attr]
        loss=loss,
        callbacks=callbacks,
    )
    trainer.remove_callback(trainer.model_card_callback_class)  # a README with widget examples: slow, unread
    trainer.remove_callback(PrinterCallback)  # prints every log dict to stdout, which --json output must own
    resume = _last_checkpoint(out / "checkpoints")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    steps = int(output.global_step)
    stopped = "completed"
    if watch.budget_hit:
        stopped = "budget"
    elif steps < planned:
        stopped = "early_stopping"
    model = trainer.model
    model.save_pretrained(str(out)) if is_cross else model.save(str(out))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    examples = steps * config.batch_size
    manifest = ModelManifest(
        kind=kind,
        recipe=recipe,
        base=base,
        data=dict(data or {}),
        config={**asdict(config), "examples": n},
        steps=steps,
        planned_steps=planned,
        examples_seen=examples,
        stopped=stopped,
        loss_curve=tuple(watch.losses),
        eval_curve=tuple(watch.eval_losses),
        seconds=round(seconds, 1),
        examples_per_second=round(watch.steps_done * config.batch_size / max(seconds, 1e-9), 2),
        device=dev,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    manifest.write(out)
    return FitResult(model, out, manifest)


class _Watch:
    """Progress, the wall-clock budget and the loss curves, fed by the trainer's callback."""

    def __init__(self, budget: float | None, planned: int, progress: Progress) -> None:
        self.budget = budget
        self.planned = planned
        self.progress = progress
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.steps_done = 0
        self.budget_hit = False
        self.losses: list[tuple[int, float]] = []
        self.eval_losses: list[tuple[int, float]] = []

    def step(self, global_step: int) -> None:
        if self.first_step is None:
            self.first_step = global_step - 1
        self.steps_done = global_step - self.first_step
        self.progress("train", global_step, self.planned)

    def over_budget(self) -> bool:
        if self.budget is not None and time.perf_counter() - self.started >= self.budget:
            self.budget_hit = True
        return self.budget_hit

    def log(self, step: int, logs: Mapping[str, float]) -> None:
        if "loss" in logs:
            self.losses.append((step, round(float(logs["loss"]), 5)))
        if "eval_loss" in logs:
            self.eval_losses.append((step, round(float(logs["eval_loss"]), 5)))


def _column_length(columns: Mapping[str, Sequence[Any]], what: str) -> int:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ConfigError(f"{what} columns differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def _set_threads(threads: int | None) -> None:
    import torch

    n = threads or len(os.sched_getaffinity(0))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
