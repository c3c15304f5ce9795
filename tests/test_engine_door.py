"""One door: an Engine shared by many threads while another re-indexes, and CLI modules that reach kenning only
through Engine and the facades."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from kenning import Engine
from kenning.config import KenningConfig, build
from kenning.types import Answer, Hit

from .conftest import SMALL_CORPUS, write_corpus

CLI = Path(__file__).resolve().parents[1] / "src" / "kenning" / "cli"
QUESTIONS = ["What does VACUUM FULL do?", "How do I start a container in the background?", "What do tomatoes need?"]


def _well_formed_hits(hits: list[Hit], k: int) -> None:
    assert 0 < len(hits) <= k
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        assert h.text and h.chunk_id.startswith(h.doc_id + "::") and 0 <= h.start < h.end


def _well_formed_answer(a: Answer) -> None:
    assert a.mode == "extractive" and a.text and a.citations
    assert [c.number for c in a.citations] == list(range(1, len(a.citations) + 1))
    if a.answerable:
        assert a.verdicts and all(v.label in ("SUPPORT", "PARTIAL", "NOT_SUPPORTED") for v in a.verdicts)
        cited = {c.number for c in a.citations if c.cited}
        assert cited and all(c.text for c in a.citations)


def test_many_readers_and_a_writer_share_one_engine(home: Path, tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    config = build(KenningConfig, {"answer": {"mode": "extractive"}})
    engine = Engine(home, config=config, embedder=embedder)
    engine.index([corpus])
    errors: list[BaseException] = []
    done = threading.Event()
    counts = {"searches": 0, "answers": 0, "indexes": 0}
    lock = threading.Lock()

    def reader(n: int) -> None:
        i = 0
        try:
            while not done.is_set() or i < 2:
                question = QUESTIONS[(n + i) % len(QUESTIONS)]
                if (n + i) % 2:
                    result = engine.search_with_usage(question, k=3, mode=("bm25", "dense", "hybrid")[i % 3])
                    _well_formed_hits(result.hits, 3)
                    assert result.usage.total_tokens == 0
                    with lock:
                        counts["searches"] += 1
                else:
                    _well_formed_answer(engine.ask(question))
                    with lock:
                        counts["answers"] += 1
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            for round_ in range(3):
                extra = corpus / "notes" / "changing.txt"
                extra.write_text(f"Round {round_}: compost needs turning every week and tomatoes like it.\n")
                (corpus / "docker" / "run.md").write_text(
                    SMALL_CORPUS["docker/run.md"] + f"\n## Round {round_}\n\nUse --rm to remove it on exit.\n"
                )
                report = engine.index([corpus])
                assert report.documents_updated + report.documents_added >= 1
                with lock:
                    counts["indexes"] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[0]
    assert counts["indexes"] == 3 and counts["searches"] >= 8 and counts["answers"] >= 8
    hits = engine.search("compost turning", k=5, mode="bm25")
    assert any("Round 2" in h.text for h in hits)  # readers see the last published state
    assert not any("Round 0" in h.text or "Round 1" in h.text for h in hits)
    engine.close()


def _imports(path: Path) -> list[str]:
    """Every module a file imports, relative imports resolved against the ``kenning.cli`` package."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["kenning", "cli"][: 2 - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
                out += [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                out.append(node.module or "")
    return out


# The CLI reaches kenning through Engine, the door facade, settings, errors and rendering; the evaluation commands
# may also use the kenning.evaluate and kenning.train facades (moving them behind Engine is out of proportion).
ALLOWED = (
    "kenning.engine",
    "kenning.door",
    "kenning.serve",  # the HTTP and MCP doors, which stand on Engine themselves
    "kenning.config",
    "kenning.errors",
    "kenning.render",
    "kenning.types",
)
EVALUATION = ("kenning.evaluate", "kenning.train")
STAGES = ("retrieve", "index", "verify", "generate", "rerank", "providers", "ingest", "chunking", "context", "agent")


def test_cli_modules_import_no_stage_internals() -> None:
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        for module in _imports(path):
            if not module.startswith("kenning"):
                continue
            if module == "kenning" or module.startswith("kenning.cli"):
                continue
            if module.startswith(ALLOWED) or module.startswith(EVALUATION):
                continue
            offenders.append(f"{path.name}: {module}")
    assert not offenders, "CLI modules must go through Engine / kenning.door: " + ", ".join(offenders)
    assert all(not m.startswith(f"kenning.{s}") for s in STAGES for m in ALLOWED + EVALUATION)


def test_search_and_ask_follow_kenning_toml_and_flags_override_it(home: Path, small_corpus: Path) -> None:
    """Settings mean the same on every door: the CLI's options default to kenning.toml, and a flag overrides it."""
    import json

    from typer.testing import CliRunner

    from kenning.cli import app

    def run(*args: str) -> dict:
        result = CliRunner().invoke(app, [*args, "--home", str(home), "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    run("index", str(small_corpus))
    (home / "kenning.toml").write_text('[retrieval]\nmode = "bm25"\nk = 2\n[answer]\nmode = "extractive"\nk = 3\n')
    data = run("search", "tomatoes need full sun")
    assert data["mode"] == "bm25" and len(data["hits"]) == 2
    assert all(set(h["ranks"]) <= {"bm25", "first_stage"} for h in data["hits"])
    data = run("search", "tomatoes need full sun", "--mode", "dense", "-k", "4")
    assert data["mode"] == "dense" and len(data["hits"]) == 4
    assert all("dense" in h["ranks"] and "bm25" not in h["ranks"] for h in data["hits"])
    answer = run("ask", "What do tomatoes need?")
    assert answer["mode"] == "extractive" and len(answer["citations"]) <= 3


def test_each_engine_verb_is_the_real_one_not_a_mixins_stub() -> None:
    """Engine is put together from mixins (engine_documents, engine_context, engine_models) that declare what they
    use from each other; a declaration must never shadow the method itself."""
    import inspect

    for name, member in inspect.getmembers(Engine, predicate=inspect.isfunction):
        source = inspect.getsource(member).strip()
        assert not source.endswith(": ..."), f"Engine.{name} resolves to a stub in {member.__qualname__}"
