"""``kenning eval qa``: retrieval and answer quality on a QA set, measured apart, with failure modes; answers in
one or several modes (``--modes extractive,generate``) side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.table import Table

from .. import render
from ..config import AnswerConfig
from ..errors import ConfigError
from ._shared import CollectionOpt, HomeOpt, JsonOpt, LlmOpt, emit_json, err, eval_app, home_and_config

ANSWER_MODES: tuple[str, ...] = get_args(AnswerConfig.model_fields["mode"].annotation)


def parse_modes(value: str | None) -> tuple[str, ...]:
    """``--modes``: comma-separated answer modes, each named once, in the order given (``()``: the configured one).

    >>> parse_modes("extractive, generate,extractive")
    ('extractive', 'generate')
    """
    if value is None:
        return ()
    modes = tuple(dict.fromkeys(m.strip() for m in value.split(",") if m.strip()))
    unknown = [m for m in modes if m not in ANSWER_MODES]
    if unknown or not modes:
        raise ConfigError(
            f"--modes: unknown answer mode {unknown[0] if unknown else value!r}; "
            f"give one or more of {', '.join(ANSWER_MODES)}, comma-separated (e.g. --modes extractive,generate)"
        )
    return modes


@eval_app.command("qa")
def eval_qa(
    qa_set: Annotated[Path, typer.Argument(help="QA set: kenning JSONL or a ragas .jsonl/.csv (--ragas).")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    llm: LlmOpt = None,
    ragas: Annotated[bool, typer.Option("--ragas", help="The file uses the ragas columns.")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    verifier: Annotated[str | None, typer.Option(help="auto, llm, offline, trained or lexical.")] = None,
    modes: Annotated[
        str | None,
        typer.Option(
            "--modes",
            "--mode",
            help="Answer modes to compare, comma-separated: auto, generate, extractive (default: the configured one).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Score retrieval (hit@10, MRR@10, recall@10) and answers (faithfulness, relevance, context precision/recall,
    correctness, abstention, gold among the citations) on a QA set, and classify every answer's failure mode.
    With --modes extractive,generate the answers are scored once per mode, side by side."""
    from ..engine import Engine
    from ..evaluate.generation import evaluate_answers
    from ..evaluate.qa import QASet
    from ..evaluate.qa_eval import evaluate_qa

    wanted = parse_modes(modes)
    h, cfg = home_and_config(home, llm)
    labels = wanted or (cfg.answer.mode,)
    engine = Engine(h, collection=collection, config=cfg)
    for mode in labels:
        engine.answer_model(mode)  # a mode that cannot run (generate with no model) fails before any work
    qa = QASet.load_ragas(qa_set) if ragas else QASet.load(qa_set)
    if limit:
        qa = QASet(tuple(list(qa)[:limit]))
    result: dict = {"qa_set": str(qa_set), "collection": collection, "questions": len(qa)}
    try:
        retrieval = evaluate_qa(engine.searcher(), qa)
        result["retrieval"] = {"metrics": retrieval.mean, "queries": len(retrieval.queries)}
    except Exception as exc:  # noqa: BLE001 - a set without gold still gets answer metrics
        from ..errors import KenningError

        if not isinstance(exc, KenningError):
            raise
        result["retrieval"] = {"skipped": str(exc)}
    by_mode: dict[str, dict[str, Any]] = {}
    for mode in labels:
        with render.StepProgress(err, f"answering ({mode})") as progress:
            by_mode[mode] = evaluate_answers(
                engine,
                qa,
                ask=lambda q, mode=mode: engine.ask(q, mode=mode, verifier=verifier),
                progress=lambda stage, done, total, mode=mode, bar=progress: bar.update(
                    f"{stage} ({mode})", done, total
                ),
                seed=seed,
            )
    engine.close()
    answers = by_mode[labels[0]]
    result["answers"] = answers
    result["answer_modes"] = list(labels)
    result["answers_by_mode"] = by_mode
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        try:
            from ..evaluate.report import write_report

            flat = {
                f"answers.{k}" if len(labels) == 1 else f"answers.{mode}.{k}": v["mean"]
                for mode in labels
                for k, v in by_mode[mode]["metrics"].items()
            }
            flat.update({f"retrieval.{k}": v for k, v in result["retrieval"].get("metrics", {}).items()})
            view = {"metrics": flat, "failure_modes": answers["failure_modes"]}
            write_report(view, out, title=f"QA evaluation: {qa_set.name}")
        except Exception as exc:  # noqa: BLE001 - the JSON is the result; the HTML is a view of it
            err.print(f"[yellow]note:[/] no HTML report ({exc})")
    if as_json:
        emit_json(result)
        return
    console = Console()
    console.print(_table(f"{qa_set.name} on {collection} ({len(qa)} questions)", result["retrieval"], by_mode))
    for mode, summary in by_mode.items():
        failures = ", ".join(f"{k} {v}" for k, v in summary["failure_modes"].items() if v)
        models = ", ".join(f"{k or '?'} ({v})" for k, v in summary["models"].items())
        console.print(f"{mode}: answered by {models}; failure modes: {failures}", highlight=False)


_ROWS = (
    "f1_",
    "exact_match_",
    "ynm_accuracy_",
    "citations_include_gold",
    "faithfulness",
    "abstention_rate",
    "answered_rate",
    "abstained_on_unanswerable",
    "answered_on_answerable",
)


def _row_order(name: str) -> tuple[int, str]:
    """Correctness, citations and faithfulness first, then abstention, then the rest alphabetically."""
    return next((i for i, p in enumerate(_ROWS) if name.startswith(p)), len(_ROWS)), name


def _table(title: str, retrieval: dict[str, Any], by_mode: dict[str, dict[str, Any]]) -> Table:
    """Metric rows, and for each answer mode its mean, 95% interval and n (retrieval is shared by every mode)."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for mode in by_mode:
        table.add_column(mode, justify="right")
        table.add_column("95% CI", justify="right")
        table.add_column("n", justify="right")
    for name, value in retrieval.get("metrics", {}).items():
        table.add_row(f"retrieval {name}", *[f"{value:.3f}", "", str(retrieval["queries"])] * len(by_mode))
    names = sorted({name for summary in by_mode.values() for name in summary["metrics"]}, key=_row_order)
    for name in names:
        cells = []
        for summary in by_mode.values():
            m = summary["metrics"].get(name)
            cells += [f"{m['mean']:.3f}", f"{m['low']:.3f}–{m['high']:.3f}", str(m["n"])] if m else ["–", "", "0"]
        table.add_row(name, *cells)
    return table
