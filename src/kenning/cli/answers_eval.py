"""``kenning eval qa``: retrieval and answer quality on a QA set, measured apart, with failure modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .. import render
from ._shared import CollectionOpt, HomeOpt, JsonOpt, LlmOpt, emit_json, err, eval_app, home_and_config


@eval_app.command("qa")
def eval_qa(
    qa_set: Annotated[Path, typer.Argument(help="QA set: kenning JSONL or a ragas .jsonl/.csv (--ragas).")],
    home: HomeOpt = None,
    collection: CollectionOpt = "default",
    llm: LlmOpt = None,
    ragas: Annotated[bool, typer.Option("--ragas", help="The file uses the ragas columns.")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    verifier: Annotated[str | None, typer.Option(help="auto, llm, offline, trained or lexical.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Score retrieval (hit@10, MRR@10, recall@10) and answers (faithfulness, relevance, context precision/recall,
    correctness) on a QA set, and classify every answer's failure mode."""
    from ..engine import Engine
    from ..evaluate.generation import evaluate_answers
    from ..evaluate.qa import QASet
    from ..evaluate.qa_eval import evaluate_qa

    h, cfg = home_and_config(home, llm)
    engine = Engine(h, collection=collection, config=cfg)
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
    with render.StepProgress(err, "answering") as progress:
        answers = evaluate_answers(
            engine, qa, ask=lambda q: engine.ask(q, verifier=verifier), progress=progress.update, seed=seed
        )
    engine.close()
    result["answers"] = answers
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        try:
            from ..evaluate.report import write_report

            flat = {f"answers.{k}": v["mean"] for k, v in answers["metrics"].items()}
            flat.update({f"retrieval.{k}": v for k, v in result["retrieval"].get("metrics", {}).items()})
            view = {"metrics": flat, "failure_modes": answers["failure_modes"]}
            write_report(view, out, title=f"QA evaluation: {qa_set.name}")
        except Exception as exc:  # noqa: BLE001 - the JSON is the result; the HTML is a view of it
            err.print(f"[yellow]note:[/] no HTML report ({exc})")
    if as_json:
        emit_json(result)
        return
    console = Console()
    table = Table(title=f"{qa_set.name} on {collection} ({len(qa)} questions)", title_justify="left")
    for col in ("metric", "mean", "95% CI", "n"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, value in result["retrieval"].get("metrics", {}).items():
        table.add_row(f"retrieval {name}", f"{value:.3f}", "", str(result["retrieval"]["queries"]))
    for name, m in answers["metrics"].items():
        table.add_row(name, f"{m['mean']:.3f}", f"{m['low']:.3f}–{m['high']:.3f}", str(m["n"]))
    console.print(table)
    modes = ", ".join(f"{k} {v}" for k, v in answers["failure_modes"].items() if v)
    console.print(f"failure modes: {modes}")
