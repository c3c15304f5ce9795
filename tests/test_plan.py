"""The cost advisor: a row per mode with sane numbers, money from the (user-editable) price table, the three-question
decision, recorded builds set beside their estimates (a real GraphRAG build against the fake OpenAI server), the
``kenning plan`` command and its --json, and the question asked before an LLM-heavy build."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kenning import Engine
from kenning.cli import app
from kenning.cli.plan import confirm_llm_build
from kenning.errors import CollectionNotFound, InputError
from kenning.graph.plan import MODES, RULES, Check, decide
from kenning.index import graph_tables
from kenning.index.catalog import Catalog
from kenning.types import Usage

from .cli_run import one_line_error, run_cli
from .llm_servers import OPENAI, FakeLLMServer, llm_server  # noqa: F401 - llm_server is a fixture
from .test_graphrag import Script

MINI = "openai:gpt-4o-mini"


def _writable_catalog(home: Path) -> Catalog:
    return Catalog(home / "collections" / "default" / "catalog.sqlite")


def test_a_row_per_mode_with_sane_numbers(engine) -> None:
    plan = engine.plan(model=MINI)
    assert tuple(r.mode for r in plan.rows) == MODES
    assert plan.model == MINI and not plan.local and plan.chunks == 5 and plan.chunk_tokens > 0
    vector, contextual, lazy, graphrag = plan.rows
    assert vector.index.calls == 0 and vector.index.cost_usd == 0 and vector.built
    assert vector.per_query.calls == 1 and vector.per_query.cost_usd > 0
    assert contextual.index.calls == plan.chunks and contextual.index.cost_usd > 0 and not contextual.built
    assert lazy.index.calls == 0 and lazy.index.cost_usd == 0 and lazy.index.seconds > 0
    # an LLM is named, so LazyGraphRAG's relevance tests (auto) are its yes/no calls: the budget, then the answer
    assert lazy.per_query.calls == engine.config.graph.budget + 1
    assert graphrag.index.calls >= plan.chunks and graphrag.index.prompt_tokens >= plan.chunk_tokens
    assert graphrag.index.cost_usd > 0 and graphrag.per_query.calls >= 2
    assert graphrag.index.cost_usd > vector.index.cost_usd
    assert plan.row("graphrag") is graphrag
    with pytest.raises(InputError, match="the modes are vector, contextual"):
        plan.row("hybrid")


def test_money_is_none_for_an_unknown_model_and_zero_for_a_local_one(engine) -> None:
    unknown = engine.plan(model="openai:my-finetune")
    for mode in ("contextual", "graphrag"):
        assert unknown.row(mode).index.cost_usd is None and unknown.row(mode).index.calls > 0
    assert unknown.row("vector").index.cost_usd == 0 and unknown.row("vector").per_query.cost_usd is None
    local = engine.plan(model="local:qwen2.5-0.5b")
    assert local.local and all(r.index.cost_usd == 0 and r.per_query.cost_usd == 0 for r in local.rows)
    default = engine.plan()  # nothing configured: the packaged local model, and relevance tests without an LLM
    assert default.model.startswith("local:") and default.row("lazygraphrag").per_query.calls == 1


def test_kenning_toml_prices_change_the_money(engine, home: Path, embedder) -> None:
    before = engine.plan(model="openai:my-finetune").row("graphrag").index
    (home / "kenning.toml").write_text('[llm.prices]\n"my-finetune" = [1.0, 2.0]\n"gpt-4o-mini" = [10.0, 40.0]\n')
    priced = Engine(home, embedder=embedder)
    try:
        after = priced.plan(model="openai:my-finetune").row("graphrag").index
        mini = priced.plan(model=MINI).row("contextual").index
    finally:
        priced.close()
    assert before.cost_usd is None
    assert after.cost_usd == pytest.approx((after.prompt_tokens * 1.0 + after.completion_tokens * 2.0) / 1e6)
    assert mini.cost_usd == pytest.approx((mini.prompt_tokens * 10.0 + mini.completion_tokens * 40.0) / 1e6, rel=0.05)
    assert mini.cost_usd > engine.plan(model=MINI).row("contextual").index.cost_usd * 10


@pytest.mark.parametrize(
    ("thematic", "reuse", "audit", "mode"),
    [
        (False, None, None, "vector"),
        (False, True, True, "vector"),
        (True, False, None, "lazygraphrag"),
        (True, False, True, "lazygraphrag"),
        (True, True, False, "lazygraphrag"),
        (True, True, True, "graphrag"),
        (None, False, None, None),  # thematic decides: LazyGraphRAG or vector
        (True, True, None, None),  # audit decides: GraphRAG or LazyGraphRAG
    ],
)
def test_the_three_question_decision(thematic, reuse, audit, mode) -> None:
    d = decide(thematic=thematic, reuse=reuse, audit=audit)
    assert d.mode == mode and d.reasons
    unanswered = [q for q, a in d.answers if a is None]
    assert [b.split(":")[0] for b in d.branches] == unanswered
    if mode is None:
        assert "not answered" in d.reasons[0]


def test_the_decision_table_covers_every_answer_once() -> None:
    for thematic, reuse, audit in itertools.product((True, False), repeat=3):
        matching = [r for r in RULES if r.matches(thematic, reuse, audit)]
        assert len(matching) == 1, (thematic, reuse, audit)
    assert decide(thematic=True, reuse=False, audit=None).branches == ("audit: either answer → LazyGraphRAG",)
    assert decide(thematic=None, reuse=None, audit=None).branches == (
        "thematic: yes → LazyGraphRAG or GraphRAG; no → vector",
        "reuse: yes → vector or LazyGraphRAG or GraphRAG; no → vector or LazyGraphRAG",
        "audit: yes → vector or LazyGraphRAG or GraphRAG; no → vector or LazyGraphRAG",
    )


def test_queries_answer_the_reuse_question(engine) -> None:
    assert engine.plan(queries=5000, thematic=True, audit=True).decision.mode == "graphrag"
    assert engine.plan(queries=200, thematic=True, audit=True).decision.mode == "lazygraphrag"
    assert dict(engine.plan(queries=None).decision.answers)["reuse"] is None
    with pytest.raises(InputError, match="queries must be 0 or more"):
        engine.plan(queries=-1)


def test_recorded_contexts_and_concept_builds_stand_beside_their_estimates(engine, home: Path) -> None:
    cat = _writable_catalog(home)
    try:
        cat.cache_context("k1", "About VACUUM.", MINI, Usage(prompt_tokens=250, completion_tokens=40), 0.5)
        stats = {
            "chunks": 5,
            "extracted": 5,
            "extractor": "spacy/1",
            "seconds_extract": 1.0,
            "seconds_graph": 0.2,
            "seconds_communities": 0.3,
        }
        graph_tables.replace_graph(cat, "concept", [], [], [], settings={}, stats=stats)
    finally:
        cat.close()
    # the build was made with spacy: the collection is set to it, so its recorded rates are the ones to use
    graph = engine.config.graph.model_copy(update={"extractor": "spacy"})
    engine.config = engine.config.model_copy(update={"graph": graph})
    plan = engine.plan(model=MINI)
    contextual, lazy = plan.row("contextual"), plan.row("lazygraphrag")
    assert contextual.paid.calls == 1 and contextual.paid.tokens == 290
    assert contextual.checks[0].what == "tokens" and contextual.checks[0].actual == 290
    assert lazy.built and lazy.paid.seconds == pytest.approx(1.5)
    assert lazy.index.seconds == pytest.approx(1.5)  # its own rates: 0.2 s per chunk extracted, 0.1 per chunk after
    check = lazy.checks[0]  # the first-build estimate (the measured spaCy rate) beside what the build took
    assert check.what == "seconds" and check.actual == pytest.approx(1.5) and check.estimated == pytest.approx(0.4)


@pytest.fixture
def fake(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv(OPENAI.key_env, "sk-test")
    llm_server.responder = Script()
    with OPENAI.make(llm_server) as llm:
        yield llm


def test_a_graphrag_build_is_checked_and_a_rebuild_costs_only_the_rest(engine, fake) -> None:
    before = engine.plan(model=fake.name).row("graphrag")
    assert before.paid is None and not before.checks and before.cached_calls == 0
    build = engine.build_graphrag(llm=fake)
    after = engine.plan(model=fake.name).row("graphrag")
    assert after.built and after.paid.calls == build.stats["calls_paid"]
    assert after.cached_calls == build.stats["chunks"] and after.index.calls < before.index.calls
    check = after.checks[0]
    used = sum(p["prompt_tokens"] + p["completion_tokens"] for p in build.stats["per_prompt"].values())
    assert check.what == "tokens" and check.actual == used and check.estimated == before.index.tokens
    assert "reports at level" in " ".join(after.notes)  # per query: the reports written here


def test_kenning_plan_prints_the_table_and_the_decision(engine, home: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["plan", "--home", str(home), "--llm", MINI, "--queries", "2000", "--thematic", "--no-audit"],
        catch_exceptions=False,
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for title in ("vector", "contextual chunks", "LazyGraphRAG", "GraphRAG", "build + 2,000 queries", "[llm.prices]"):
        assert title in out
    assert "recommendation: LazyGraphRAG" in out and "audit: no" in out


def test_kenning_plan_json_is_the_typed_plan(engine, home: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--home", str(home), "--llm", MINI, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["mode"] for r in data["rows"]] == list(MODES)
    assert data["rows"][0]["index"]["calls"] == 0 and data["rows"][3]["index"]["cost_usd"] > 0
    assert data["decision"]["mode"] is None and len(data["decision"]["branches"]) == 3


def test_a_missing_or_empty_collection_is_one_clear_line(home: Path, tmp_path: Path, embedder) -> None:
    code, _, err = run_cli("plan", "--home", str(home), "-c", "nope")
    assert code == 1 and "nope" in one_line_error(err)
    (tmp_path / "empty").mkdir()
    eng = Engine(home, collection="hollow", embedder=embedder)
    eng.index([tmp_path / "empty"])
    with pytest.raises(InputError, match="has no chunks"):
        eng.plan()
    eng.close()
    with pytest.raises(CollectionNotFound):
        Engine(home, collection="nope").plan()
    code, _, err = run_cli("plan", "--home", str(home), "-c", "hollow")
    assert code == 1 and "has no chunks" in one_line_error(err)


def test_confirm_llm_build_asks_or_refuses_without_a_terminal(engine, capsys) -> None:
    plan = engine.plan(model=MINI)
    console = Console(file=None, force_terminal=False, width=200)
    assert confirm_llm_build(console, plan, "graphrag", yes=True)
    assert not confirm_llm_build(console, plan, "contextual", yes=False)  # pytest's stdin is no terminal
    out = capsys.readouterr().out
    assert "GraphRAG with openai:gpt-4o-mini" in out and "pass --yes" in out
    assert confirm_llm_build(console, plan, "vector", yes=False)  # nothing to pay: no question


def test_check_line_says_how_far_off_the_estimate_was() -> None:
    assert Check("tokens", 750, 1000).line() == "estimated 750 tokens, actual 1,000 (-25.0 %)"
    assert Check("seconds", 2.0, 0).error is None
