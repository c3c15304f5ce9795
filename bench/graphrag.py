"""Issue 12's cost bars for full GraphRAG, measured with the packaged local generator on a small Docker-docs corpus.

    python bench/graphrag.py                 # two corpora of two pages each, qwen2.5-0.5b (local-small)
    python bench/graphrag.py --quick         # fewer documents: a smoke test, not the verdict
    python bench/graphrag.py --model qwen2.5-1.5b

Two disjoint samples of the Docker CLI reference (corpus A: the ``plugin`` pages, corpus B: other commands), each
indexed into its own collection, 200-token chunks. For each build, the estimate (``Engine.graphrag_estimate``)
made *before* it is compared with the tokens it then paid (prompt + completion, as the model reported them):

* **first build, no history**: the estimate from the stated default rates (kenning.graph.graphrag.estimate);
* **history-calibrated**: corpus B estimated with the rates measured on corpus A's build (a different corpus, the
  same model), as the cost advisor would on a collection's next build.

Then one document of B is changed and B rebuilt: the extraction calls paid must be exactly that document's chunks
(merges and reports whose inputs changed are paid too, and reported).

Results: ``bench/results/graphrag.json``.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _common import BENCH, Target, arg_parser, console, print_table, print_targets, write_result

SHARED = BENCH.parents[1] / "shared" / "data"
DOCKER = SHARED / "corpora" / "docker-doc-20.10.24-md.tar.gz"
CORPUS_A = ["plugin_push", "plugin_rm"]
CORPUS_B = ["secret_rm", "config_rm"]
CHUNK_TOKENS = 150


def _extract(names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {f"docker-doc/reference/commandline/{n}.md": n for n in names}
    with tarfile.open(DOCKER) as tar:
        for member in tar.getmembers():
            if member.name in wanted:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                (dest / f"{wanted[member.name]}.md").write_bytes(data)
    return dest


def _engine(home: Path, corpus: Path):
    from kenning import Engine
    from kenning.config import KenningConfig

    config = KenningConfig.load(home, chunking={"size": CHUNK_TOKENS, "overlap": 0})
    engine = Engine(home, config=config)
    engine.index([corpus])
    return engine


def _tokens(stats: dict[str, Any]) -> int:
    return int(stats["prompt_tokens"]) + int(stats["completion_tokens"])


def _error(estimate: int, actual: int) -> float:
    return (estimate - actual) / actual if actual else float("nan")


def _row(name: str, est, stats: dict[str, Any]) -> list[Any]:
    actual = _tokens(stats)
    return [
        name,
        est.calls,
        stats["calls_paid"],
        est.prompt_tokens,
        stats["prompt_tokens"],
        est.completion_tokens,
        stats["completion_tokens"],
        f"{_error(est.total_tokens, actual):+.1%}",
        stats["llm_seconds"],
    ]


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-0.5b", help="packaged local model (default: local-small)")
    args = parser.parse_args()
    from kenning.graph.graphrag import estimate_graphrag_build
    from kenning.graph.graphrag.prompts import EXTRACT
    from kenning.providers.llm.local import LocalLLM

    a_names, b_names = (CORPUS_A[:1], CORPUS_B[:1]) if args.quick else (CORPUS_A, CORPUS_B)
    llm = LocalLLM(args.model)
    work = Path(tempfile.mkdtemp(prefix="kenning-bench-graphrag-"))
    results: dict[str, Any] = {"model": llm.name, "corpus_a": a_names, "corpus_b": b_names, "chunk_size": CHUNK_TOKENS}
    rows = []
    try:
        t0 = time.perf_counter()
        eng_a = _engine(work / "home-a", _extract(a_names, work / "a"))
        est_a = eng_a.graphrag_estimate(model=llm.name)
        build_a = eng_a.build_graphrag(llm=llm)
        rows.append(_row("A first build (no history)", est_a, build_a.stats))

        eng_b = _engine(work / "home-b", _extract(b_names, work / "b"))
        est_b = eng_b.graphrag_estimate(model=llm.name)
        catalog = eng_b.collection().catalog
        chunks_b = [(r.chunk_id, r.text) for r in catalog.iter_chunks()]
        est_b_hist = estimate_graphrag_build(chunks_b, model=llm.name, config=eng_b.config.graph, history=build_a.stats)
        build_b = eng_b.build_graphrag(llm=llm)
        rows.append(_row("B first build (no history)", est_b, build_b.stats))
        rows.append(_row("B, rates measured on A", est_b_hist, build_b.stats))

        changed = work / "b" / f"{b_names[0]}.md"
        changed.write_text(
            changed.read_text(encoding="utf-8") + "\n\nRemoving a secret that a running service uses fails.\n",
            encoding="utf-8",
        )
        eng_b.index([work / "b"])
        before = {c for c, _ in chunks_b}
        new_chunks = [r.chunk_id for r in eng_b.collection().catalog.iter_chunks() if r.chunk_id not in before]
        est_re = eng_b.graphrag_estimate(model=llm.name)
        rebuild = eng_b.build_graphrag(llm=llm)
        rows.append(_row("B after one document changed", est_re, rebuild.stats))
        repaid = rebuild.stats["per_prompt"].get(EXTRACT.id, {}).get("paid", 0)
        results.update(
            {
                "first_build_a": {"estimate": asdict(est_a), "stats": build_a.stats},
                "first_build_b": {"estimate": asdict(est_b), "stats": build_b.stats},
                "history_calibrated_b": {"estimate": asdict(est_b_hist)},
                "rebuild_b": {
                    "estimate": asdict(est_re),
                    "stats": rebuild.stats,
                    "changed_document": changed.name,
                    "new_chunks": len(new_chunks),
                    "extractions_paid": repaid,
                },
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        for eng in (eng_a, eng_b):
            eng.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = [round(x, 2) for x in os.getloadavg()]
    print_table(
        f"GraphRAG build cost, {llm.name} (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
        ["build", "calls est", "calls paid", "prompt est", "prompt", "compl est", "compl", "total err", "LLM s"],
        rows,
    )
    b_actual = _tokens(build_b.stats)
    targets = [
        Target("first-build estimate error, A", abs(_error(est_a.total_tokens, _tokens(build_a.stats))), "<=", 0.25),
        Target("first-build estimate error, B", abs(_error(est_b.total_tokens, b_actual)), "<=", 0.25),
        Target("history-calibrated estimate error, B", abs(_error(est_b_hist.total_tokens, b_actual)), "<=", 0.25),
        Target(
            "extractions re-paid minus (the changed document's new chunks + chunks that failed before)",
            float(repaid - len(new_chunks) - build_b.stats["chunks_failed"]),
            "<=",
            0.0,
            note=f"{repaid} extraction calls paid, {len(new_chunks)} new chunks, "
            f"{build_b.stats['chunks_failed']} failed in the build before (never cached, so tried again)",
        ),
    ]
    print_targets(targets, quick=args.quick)
    write_result("graphrag", quick=args.quick, results=results, targets=targets, out=args.out)
    console.print(f"load average at end: {load}")


if __name__ == "__main__":
    main()
