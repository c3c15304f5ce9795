"""kenning tune: pairs, negatives, the generic trainer, the guard, adoption and the command, on real models and data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kenning import Engine
from kenning.errors import ConfigError, InputError
from kenning.train.guard import decide
from kenning.train.pairs import Pair, split_pairs
from kenning.train.trainer import ModelManifest, TrainConfig
from kenning.train.tune import TuneOptions, parse_budget

from .llm_servers import OPENAI, llm_server  # noqa: F401 - llm_server is a fixture

# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def scifact_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 SciFact abstracts indexed once for the module (tests that change the collection copy it first)."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
    if not shared.is_file():
        pytest.skip(f"shared data not found at {shared}")
    root = tmp_path_factory.mktemp("tune")
    corpus = root / "corpus.jsonl"
    with open(shared, encoding="utf-8") as fh:
        corpus.write_text("".join(next(fh) for _ in range(160)), encoding="utf-8")
    home = root / "home"
    engine = Engine(home, collection="sci")
    engine.index([corpus])
    engine.close()
    return home


def _copy_home(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


TINY = {
    "max_pairs": 200,
    "validation": 0.3,
    "max_validation": 60,
    "batch_size": 8,
    "rerank_depth": 10,
    "rerank_negatives": 1,
}

# ---------------------------------------------------------------------------------------------------- pure parts


def test_budget_parsing_and_errors() -> None:
    assert parse_budget("45m") == 2700 and parse_budget("1h") == 3600 and parse_budget("90s") == 90
    with pytest.raises(ConfigError, match="45m"):
        parse_budget("soon")
    with pytest.raises(ConfigError, match="dim"):
        TuneOptions(dim=128)
    with pytest.raises(ConfigError, match="nothing to do"):
        TuneOptions(embedder=False, reranker=False)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=1)


def test_split_keeps_each_document_on_one_side() -> None:
    pairs = [Pair(f"q{i}", "text", f"d{i % 7}::{i}", f"d{i % 7}", "cloze") for i in range(70)]
    train, held = split_pairs(pairs, validation=0.3, seed=1)
    assert held and train
    assert not {p.doc_id for p in train} & {p.doc_id for p in held}
    assert len(train) + len(held) == 70


def test_guard_decision_needs_a_significant_win_and_no_significant_loss() -> None:
    before = {
        "hybrid": {f"q{i}": {"ndcg@10": 0.5} for i in range(40)},
        "dense": {f"q{i}": {"ndcg@10": 0.4} for i in range(40)},
    }
    better = {
        "hybrid": {f"q{i}": {"ndcg@10": 0.9} for i in range(40)},
        "dense": {f"q{i}": {"ndcg@10": 0.8} for i in range(40)},
    }
    noisy = {
        "hybrid": {f"q{i}": {"ndcg@10": 0.5 + (0.1 if i % 2 else -0.1)} for i in range(40)},
        "dense": before["dense"],
    }
    mixed = {"hybrid": better["hybrid"], "dense": {f"q{i}": {"ndcg@10": 0.1} for i in range(40)}}
    assert decide(before, better, primary=("hybrid", "dense"), guarded=("hybrid", "dense")).adopt
    assert not decide(before, noisy, primary=("hybrid",), guarded=("dense",)).adopt
    refused = decide(before, mixed, primary=("hybrid", "dense"), guarded=("hybrid", "dense"))
    assert not refused.adopt and "worse" in refused.reason and "dense" in refused.reason


# ---------------------------------------------------------------------------------------------------- on a collection


def test_too_small_a_collection_says_how_many_chunks_are_needed(small_corpus: Path, home: Path) -> None:
    engine = Engine(home, collection="tiny")
    engine.index([small_corpus])
    with pytest.raises(InputError, match="at least 50"):
        engine.tune(TuneOptions(**TINY))


def test_a_budget_too_short_for_useful_training_is_refused_before_any_work(scifact_home: Path, tmp_path: Path) -> None:
    home = _copy_home(scifact_home, tmp_path / "h")
    engine = Engine(home, collection="sci")
    with pytest.raises(InputError, match="too short.*--budget"):
        engine.tune(TuneOptions(**{**TINY, "budget_seconds": 5}))
    assert not (home / "collections" / "sci" / "tune" / "work" / "pairs.json").exists()


def test_pairs_and_negatives_from_the_collection(scifact_home: Path) -> None:
    from kenning.retrieve import Searcher
    from kenning.train.negatives import mine_negatives
    from kenning.train.pairs import make_pairs

    engine = Engine(scifact_home, collection="sci")
    col = engine.collection()
    ps = make_pairs(col, max_pairs=200, validation=0.3, max_validation=60, seed=0)
    assert ps.counts["train"] + ps.counts["validation"] <= 200 and ps.counts.get("cloze", 0) > 0
    assert not {p.doc_id for p in ps.train} & {p.doc_id for p in ps.validation}
    for p in ps.train[:50]:
        assert p.query not in p.positive  # the query's own sentence / title is cut out of its positive
    mined, report = mine_negatives(list(ps.train[:40]), col, Searcher(col, engine.embedder), engine.embedder)
    assert report.queries == 40 and report.kept == sum(len(m.negatives) for m in mined)
    assert report.dropped.get("same_section", 0) >= 40 - report.without_negative  # the positive itself is found
    texts = col.catalog.chunk_rows([m.pair.chunk_id for m in mined], by="chunk_id")
    for m in mined:
        assert texts[m.pair.chunk_id].text not in m.negatives
    engine.close()


def test_the_held_out_index_searches_each_validation_chunk_as_its_positive_text(scifact_home: Path) -> None:
    from kenning.retrieve import Searcher
    from kenning.train.guard import evaluate_pairs, held_out
    from kenning.train.pairs import make_pairs

    engine = Engine(scifact_home, collection="sci")
    col = engine.collection()
    pairs = make_pairs(col, max_pairs=200, validation=0.3, max_validation=60, seed=0).validation
    held = held_out(col, pairs, engine.embedder)
    assert held.pairs and {p.chunk_id for p in held.pairs} == set(held.texts)
    pair = held.pairs[0]
    assert held.store.fetch([pair.chunk_id])[pair.chunk_id].text == pair.positive  # rows: the text searched
    original = col.fetch([pair.chunk_id])[pair.chunk_id].text
    assert original != pair.positive
    # BM25 and the vectors hold the positive text in place of the chunk; every other chunk is the store's own
    assert held.store.lexical_search(pair.positive, 1).ids == (pair.chunk_id,)
    vec = engine.embedder.embed([pair.positive])[0]
    assert held.store.dense_search(vec, 1).ids == (pair.chunk_id,) and held.store.dense_search(vec, 1).scores[0] > 0.99
    other = next(c for c in col.chunk_ids() if c not in held.texts)
    assert held.store.dense_search(col.vectors([other])[0], 1).ids == (other,)
    scores = evaluate_pairs(Searcher(col, engine.embedder), held, modes=("bm25", "hybrid"))
    assert set(scores) == {"bm25", "hybrid"} and len(scores["bm25"].queries) == len(held.pairs)
    engine.close()


@pytest.mark.slow
def test_trainer_resumes_a_killed_run_from_its_checkpoint(tmp_path: Path) -> None:
    from kenning.providers.embedders import import_sentence_transformers
    from kenning.train.trainer import fit

    st = import_sentence_transformers("test")
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from kenning.providers.embedders import get_embedder

    folder = get_embedder("minilm").folder
    columns = {
        "anchor": [f"question {i} about topic {i}" for i in range(24)],
        "positive": [f"topic {i} is described here in words" for i in range(24)],
    }
    config = TrainConfig(batch_size=4, max_steps=4, save_every=2, max_length=32, patience=None)

    class Killed(Exception):
        pass

    def kill_at_3(stage: str, done: int, total: int | None) -> None:
        if done == 3:
            raise Killed

    def run(progress):  # noqa: ANN001, ANN202 - a fresh model each time, as a new process would load
        model = st.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        loss = MultipleNegativesRankingLoss(model)
        return fit(
            model,
            kind="embedder",
            recipe="t",
            base="minilm",
            train=columns,
            loss=loss,
            out_dir=tmp_path / "m",
            config=config,
            progress=progress,
        )

    with pytest.raises(Killed):
        run(kill_at_3)
    assert (tmp_path / "m" / "checkpoints" / "checkpoint-2").is_dir()
    seen: list[int] = []
    result = run(lambda s, d, t: seen.append(d))
    assert seen == [3, 4]  # resumed after step 2, not from the start
    manifest = ModelManifest.read(tmp_path / "m")
    assert manifest == result.manifest and manifest.steps == 4 and manifest.stopped == "completed"
    assert not (tmp_path / "m" / "checkpoints").exists()


@pytest.mark.slow
def test_the_guard_refuses_an_embedder_trained_on_corrupted_pairs(scifact_home: Path, tmp_path: Path) -> None:
    """Queries paired with random chunks teach the model nonsense: it must not replace the current embedder."""
    import random

    from kenning.train import tune as tune_mod

    home = _copy_home(scifact_home, tmp_path / "h")
    before = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    real = tune_mod.make_pairs

    def corrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        ps = real(*args, **kwargs)
        rng = random.Random(0)
        positives = [p.positive for p in ps.train]
        rng.shuffle(positives)
        train = tuple(
            Pair(p.query, t, p.chunk_id, p.doc_id, p.source) for p, t in zip(ps.train, positives, strict=True)
        )
        return type(ps)(train, ps.validation, ps.counts)

    tune_mod.make_pairs = corrupted
    try:
        engine = Engine(home, collection="sci")
        report = engine.tune(TuneOptions(**{**TINY, "reranker": False, "embedder_lr": 2e-4, "epochs": 2}))
    finally:
        tune_mod.make_pairs = real
    assert report.embedder["trained"] and not report.embedder["decision"]["adopt"]
    assert "adopted" not in report.embedder
    after = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    assert after["embedder"] == before["embedder"] and after["snapshot"] == before["snapshot"]
    assert (home / "collections" / "sci" / "tune" / "report.html").is_file()


@pytest.mark.slow
def test_tune_end_to_end_adopts_atomically_resumes_and_serves(scifact_home: Path, tmp_path: Path) -> None:
    home = _copy_home(scifact_home, tmp_path / "h")
    options = TuneOptions(**TINY)
    engine = Engine(home, collection="sci")
    report = engine.tune(options)
    data = report.to_json()
    assert data["format"] == "kenning-tune/1" and set(data["comparisons"]) >= {"bm25", "dense", "hybrid"}
    for info in (report.embedder, report.reranker):
        assert info["trained"] and info["manifest"]["steps"] > 0 and info["decision"]["reason"]
    manifest = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    if report.embedder["decision"]["adopt"]:
        assert manifest["embedder"]["lineage"]["kind"] == "embedder"
        assert (home / "collections" / "sci" / manifest["embedder"]["path"] / "model.safetensors").is_file()
    if report.reranker["decision"]["adopt"]:
        assert manifest["reranker"]["lineage"]["kind"] == "reranker"
        hits = Engine(home, collection="sci").search("white matter in newborn brains", k=5)
        assert all("first_stage" in h.ranks for h in hits)
    assert not (home / "collections" / "sci" / "tune" / "work").exists()  # finished: the next run starts afresh
    html = (home / "collections" / "sci" / "tune" / "report.html").read_text()
    assert "before and after" in html and "<svg" in html
    # searching works with whatever was adopted, and the next run starts from the adopted models
    hits = Engine(home, collection="sci").search("diffusion tensor imaging", k=3, rerank=False)
    assert len(hits) == 3


def _adopt_setup(home: Path) -> tuple[dict, object, object]:
    import shutil

    from kenning.index import Collection
    from kenning.providers.embedders import SentenceTransformerEmbedder, get_embedder

    col = Collection.open(home, "sci")
    target = col.folder / "models" / "embedder-test"
    shutil.copytree(get_embedder("minilm").folder, target)
    entry = {
        "name": "tuned",
        "path": "models/embedder-test",
        "model": "test/minilm@128",
        "dim": 128,
        "truncate_dim": 128,
    }
    candidate = SentenceTransformerEmbedder(str(target), model_id=entry["model"], truncate_dim=128)
    return entry, candidate, col


def test_adopting_an_embedder_switches_vectors_and_query_model_together(scifact_home: Path, tmp_path: Path) -> None:
    from kenning.index.adopt import adopt_embedder

    home = _copy_home(scifact_home, tmp_path / "h")
    entry, candidate, col = _adopt_setup(home)
    with col.locked():
        version = adopt_embedder(col, entry, candidate)
    col.close()
    engine = Engine(home, collection="sci")
    assert engine.embedder.dim == 128 and engine.embedder.name == "test/minilm@128"
    snap = engine.collection().snapshot()
    assert snap.dense.vectors.shape[1] == 128 and engine.collection().manifest["snapshot"]["version"] == version
    assert engine.search("newborn brain white matter", mode="dense", k=3)
    # indexing more keeps using the adopted model: no mixing of vector spaces
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"_id": "x1", "title": "Tomato growing", "text": "Tomatoes need full sun."}) + "\n")
    engine.index([extra])
    assert engine.collection().snapshot().dense.vectors.shape[1] == 128
    engine.close()


def test_a_switch_killed_before_its_manifest_write_is_finished_by_the_next_writer(
    scifact_home: Path, tmp_path: Path
) -> None:
    from kenning.index.adopt import EMBEDDER_STATE, stage_vectors
    from kenning.index.writer import embed_hash

    home = _copy_home(scifact_home, tmp_path / "h")
    entry, candidate, col = _adopt_setup(home)
    with col.locked():  # adopt_embedder's first two steps, then the process "dies" before the manifest is written
        stage_vectors(col, candidate, entry["model"])
        with col.catalog.transaction():
            col.catalog.rehash_chunks(lambda text: embed_hash(entry["model"], text))
            col.catalog.set_state(EMBEDDER_STATE, json.dumps(entry))
    col.close()
    on_disk = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    assert on_disk["embedder"]["model"] != entry["model"]
    engine = Engine(home, collection="sci")
    hits = engine.search("newborn brain white matter", mode="dense", k=3)  # a reader: the old snapshot and its model
    assert hits and engine.embedder.dim == on_disk["embedder"]["dim"]
    assert json.loads((home / "collections" / "sci" / "manifest.json").read_text()) == on_disk  # a read never writes
    engine.repair()  # a writer finishes the switch (kenning index does the same before it indexes)
    hits = engine.search("newborn brain white matter", mode="dense", k=3)  # vectors and query model agree again
    assert hits and engine.embedder.dim == 128
    on_disk = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    assert on_disk["embedder"]["model"] == entry["model"]
    engine.close()


def test_a_disk_that_fills_while_re_embedding_leaves_the_old_index_serving(scifact_home: Path, tmp_path: Path) -> None:
    """Writes past a file-size limit fail inside SQLite, as on a full disk: clear error, nothing switched, resumable."""
    import subprocess
    import sys

    home = _copy_home(scifact_home, tmp_path / "h")
    before = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    script = f"""
import resource, signal, sys
from pathlib import Path
from kenning.errors import KenningError
from kenning.index import Collection
from kenning.index.adopt import stage_vectors
from kenning.providers.embedders import SentenceTransformerEmbedder
col = Collection.open(Path({str(home)!r}), "sci")
emb = SentenceTransformerEmbedder("minilm", model_id="test/other")
emb.embed(["load the model before the limit"])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    with col.locked():
        stage_vectors(col, emb, "test/other")
except KenningError as exc:
    print("ERROR", exc)
    sys.exit(3)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "cannot store vectors" in proc.stdout and "nothing searched has changed" in proc.stdout
    after = json.loads((home / "collections" / "sci" / "manifest.json").read_text())
    assert after == before
    engine = Engine(home, collection="sci")
    assert engine.search("white matter development in newborns", k=3)
    from kenning.index.adopt import stage_vectors
    from kenning.providers.embedders import SentenceTransformerEmbedder

    col = engine.collection()
    with col.locked():  # with room again, staging finishes what was left
        done = stage_vectors(col, SentenceTransformerEmbedder("minilm", model_id="test/other"), "test/other")
    assert 0 < done <= col.catalog.counts()[1]
    engine.close()


def test_an_llm_writes_extra_training_questions(scifact_home: Path, llm_server, monkeypatch) -> None:  # noqa: ANN001, F811
    """With an LLM (here a local server speaking the OpenAI wire format), its questions join the pairs as 'llm'."""
    from kenning.train.pairs import make_pairs

    topics = ["diffusion imaging", "myelin growth", "preterm infants", "axon density", "fiber tracts", "brain water"]
    for i, topic in enumerate(topics):
        body = {"question": f"What did the study find about {topic} in sample {i}?", "answer": topic, "evidence": ""}
        llm_server.reply(OPENAI.ok(json.dumps(body)))
    monkeypatch.setenv(OPENAI.key_env, "test-key")
    engine = Engine(scifact_home, collection="sci")
    llm = OPENAI.make(llm_server)
    try:
        ps = make_pairs(engine.collection(), max_pairs=120, validation=0.3, llm=llm, llm_queries=4)
    finally:
        llm.close()
    llm_pairs = [p for p in ps.train + ps.validation if p.source == "llm"]
    assert ps.counts["llm"] == len(llm_pairs) >= 1
    assert all(p.query.startswith("What did the study find") and p.positive for p in llm_pairs)
    engine.close()
