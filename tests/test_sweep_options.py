"""Every option as a sweep dimension: contexts, query transforms and LLM rerankers, each tested against a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kenning.cli import app
from kenning.errors import ConfigError
from kenning.evaluate.report import write_report
from kenning.evaluate.sweep import SweepGrid, run_sweep
from kenning.retrieve.transforms import HYDE_PROMPT

from .factories import span_eval_data
from .llm_servers import OPENAI, llm_server  # noqa: F401 - llm_server is a fixture
from .test_sweep import _DOCS, _QUESTIONS

_GRID = SweepGrid(
    chunkers=("recursive",),
    sizes=(48,),
    overlaps=(0,),
    modes=("dense",),
    contexts=("none", "headers", "late"),
    transforms=("none", "hyde"),
    k=2,
)
_IDS = [
    "recursive-48-0-dense",
    "recursive-48-0-dense-hyde",
    "recursive-48-0-ctx:headers-dense",
    "recursive-48-0-ctx:headers-dense-hyde",
    "recursive-48-0-ctx:late-dense",
    "recursive-48-0-ctx:late-dense-hyde",
]


def test_grid_options_validate_and_keep_default_ids() -> None:
    assert [c.id for c in _GRID.plan()[0]] == _IDS
    assert SweepGrid(contexts=("late+headers",)).contexts == ("headers+late",)
    default = SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,))
    assert "context" not in default.plan()[0][0].settings() and "contexts" not in default.describe()
    with pytest.raises(ConfigError, match="headers, late, llm"):
        SweepGrid(contexts=("headers+title",))
    with pytest.raises(ConfigError, match="none, hyde, multi"):
        SweepGrid(transforms=("hype",))
    with pytest.raises(ConfigError, match="llm-listwise"):
        SweepGrid(rerankers=("colbert",))
    with pytest.raises(ConfigError, match="baseline 'nope'"):
        SweepGrid(baseline="nope").plan()
    ranked = SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,), rerankers=("none", "llm-pointwise"), k=2)
    assert [c.id for c in ranked.plan()[0]] == ["recursive-48-0-dense", "recursive-48-0-dense-llm-pointwise20"]


def test_llm_options_without_an_llm_fail_before_any_work(tmp_path: Path, embedder) -> None:
    data = span_eval_data(tmp_path, _DOCS, _QUESTIONS)
    for grid in (
        _GRID,
        SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,), contexts=("headers+llm",)),
        SweepGrid(chunkers=("recursive",), sizes=(48,), overlaps=(0,), rerankers=("llm-listwise",)),
    ):
        with pytest.raises(ConfigError, match="need a language model"):
            run_sweep(data, grid, tmp_path / "out", embedder=embedder)
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sweep_over_contexts_and_transforms(tmp_path: Path, embedder, llm_server) -> None:  # noqa: F811
    data = span_eval_data(tmp_path, _DOCS, _QUESTIONS)
    passage = "VACUUM FULL takes an exclusive lock on the table while it rewrites it."
    llm_server.reply(*[OPENAI.ok(passage, prompt_tokens=30, completion_tokens=15) for _ in range(3 * len(_QUESTIONS))])
    out = tmp_path / "out"
    with OPENAI.make(llm_server) as llm:
        first = run_sweep(data, _GRID, out, embedder=embedder, llm=llm)
        res = first.results
        assert [c["id"] for c in res["configs"]] == _IDS
        assert len(llm_server.requests) == 3 * len(_QUESTIONS)  # one HyDE passage per question per cell
        asked = llm_server.requests[0].body["messages"][-1]["content"]
        assert asked == HYDE_PROMPT.format(question=_QUESTIONS[0][1])
        assert res["llm"] == llm.name and {c["context"] for c in res["configs"][2:]} == {"headers", "late"}
        spent = first.timings["llm"]
        assert spent["total"]["calls"] == 12 and spent["total"]["prompt_tokens"] == 12 * 30
        assert spent["configs"]["recursive-48-0-ctx:late-dense-hyde"]["queries"]["calls"] == len(_QUESTIONS)
        assert (out / "cells" / "recursive-48-0-ctx_headers-dense-hyde.json").is_file()

        cmp = res["vs_baseline"]
        assert cmp["baseline"] == "recursive-48-0-dense" and cmp["metrics"] == ["span_recall", "recall"]
        assert [r["id"] for r in cmp["rows"][::2]] == _IDS[1:]
        for row in cmp["rows"]:
            assert (
                row["n"] == len(_QUESTIONS) and 0.0 <= row["p"] <= 1.0 and row["ci"][0] <= row["delta"] <= row["ci"][1]
            )
        late = next(r for r in cmp["rows"] if r["id"] == "recursive-48-0-ctx:late-dense")
        assert late["changes"] == "context none → late"
        page = write_report(res, tmp_path / "report", timings=first.timings)["html"].read_text()
        assert "Each option against the baseline" in page and "p (span_recall)" in page
        assert "recursive-48-0-ctx:late-dense-hyde" in page and "context none → late; transform none → hyde" in page

        # a re-run reuses every cell: no indexing, no model call, the same bytes
        again = run_sweep(data, _GRID, out, embedder=embedder, llm=llm)
        assert again.timings["configs_reused"] == len(_IDS) and len(llm_server.requests) == 12
        assert again.paths["results"].read_bytes() == first.paths["results"].read_bytes()

        # another baseline re-tests the same cells against it
        other = SweepGrid(**{**_GRID.describe(), "baseline": "recursive-48-0-ctx:late-dense"})
        rebased = run_sweep(data, other, out, embedder=embedder, llm=llm)
        assert rebased.timings["configs_reused"] == len(_IDS)
        assert rebased.results["vs_baseline"]["baseline"] == "recursive-48-0-ctx:late-dense"
        assert rebased.results["vs_baseline"]["rows"][0]["id"] == "recursive-48-0-dense"


@pytest.mark.slow
def test_sweep_with_llm_contexts_and_llm_reranking(tmp_path: Path, embedder, llm_server) -> None:  # noqa: F811
    data = span_eval_data(tmp_path, _DOCS, _QUESTIONS)
    grid = SweepGrid(
        chunkers=("recursive",),
        sizes=(48,),
        overlaps=(0,),
        modes=("bm25",),
        contexts=("llm",),
        rerankers=("none", "llm-listwise"),
        rerank_depths=(4,),
        k=2,
    )
    # every reply reads as a ranking: the situating contexts are then that text, which is fine for counting calls
    llm_server.reply(*[OPENAI.ok('{"ranking": [2, 1]}') for _ in range(60)])
    with OPENAI.make(llm_server) as llm:
        result = run_sweep(data, grid, tmp_path / "out", embedder=embedder, llm=llm)
    ids = [c["id"] for c in result.results["configs"]]
    assert ids == ["recursive-48-0-ctx:llm-bm25", "recursive-48-0-ctx:llm-bm25-llm-listwise4"]
    cell = result.timings["cells"]["recursive-48-0-ctx:llm"]
    assert cell["llm_contexts"]["written"] == cell["chunks"] > 0
    spent = result.timings["llm"]["configs"]
    assert spent[ids[1]]["queries"]["calls"] == len(_QUESTIONS) and spent[ids[0]]["queries"]["calls"] == 0
    assert spent[ids[0]]["index"]["calls"] == cell["chunks"]
    assert result.timings["llm"]["total"]["calls"] == cell["chunks"] + len(_QUESTIONS) == len(llm_server.requests)


@pytest.mark.slow
def test_sweep_command_with_options(
    tmp_path: Path,
    embedder,
    llm_server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = span_eval_data(tmp_path, _DOCS, _QUESTIONS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    llm_server.reply(*[OPENAI.ok("A passage about locks and tomatoes.") for _ in range(2 * len(_QUESTIONS))])
    out = tmp_path / "cli"
    args = ["eval", "sweep", str(data.paths[0]), "--eval-set", str(tmp_path / "eval.jsonl"), "--out", str(out)]
    args += ["--chunkers", "recursive", "--sizes", "48", "--overlaps", "0", "--modes", "dense", "--k", "2"]
    args += ["--contexts", "none,headers", "--transforms", "none,hyde", "--llm", "openai:gpt-4o-mini"]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--baseline", "recursive-48-0-ctx:headers-dense", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["baseline"] == "recursive-48-0-ctx:headers-dense" and summary["llm"]["calls"] == 8
    assert "Each option against the baseline" in Path(summary["report"]).read_text()

    bad = runner.invoke(app, [*args[:-2], "--llm", "none", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "need a language model" in str(bad.exception or bad.output)
