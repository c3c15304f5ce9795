"""The concept graph: extraction, hierarchical Leiden, the build (chunk ids, incremental, crash safety, tiny corpora),
the Engine and the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kenning.config import GraphConfig, KenningConfig
from kenning.errors import ConfigError, IndexError_, InputError
from kenning.graph.communities import hierarchical_leiden, leiden
from kenning.graph.concepts import EXTRACTORS, get_extractor

from .cli_run import one_line_error, run_cli
from .conftest import write_corpus

TOPICS = {
    "vacuum": "VACUUM reclaims storage held by dead tuples. The autovacuum daemon runs vacuum on each table, "
    "and dead tuples stay until vacuum frees them; autovacuum daemon settings decide when.",
    "docker": "A docker container runs an image. The docker daemon pulls each image from a registry; a docker "
    "container keeps its writable layer over the image until the container is removed.",
    "garden": "Tomato plants need full sun and regular watering. Stake tomato plants early; regular watering and "
    "compost keep tomato plants healthy through summer.",
}


def topic_corpus(root: Path, copies: int = 4, extra: str = "") -> Path:
    """Several documents per topic, so concepts repeat across chunks and co-occur within them."""
    files = {
        f"{topic}/{i}.md": f"# {topic.title()} note {i}\n\n{text} {extra if i == 0 and topic == 'vacuum' else ''}\n"
        for topic, text in TOPICS.items()
        for i in range(copies)
    }
    return write_corpus(root, files)


def graph_engine(home: Path, embedder, **graph):  # noqa: ANN001, ANN201
    from kenning import Engine

    config = KenningConfig(graph=GraphConfig(**{"extractor": "ngrams", "max_df": 0.5, **graph}))
    return Engine(home, config=config, embedder=embedder)


# -- extraction ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_spacy_extracts_lemmatised_noun_phrases_without_determiners() -> None:
    [concepts] = get_extractor("spacy").extract(["The autovacuum daemon removes dead tuples from these tables."])
    assert concepts == ["autovacuum daemon", "dead tuple", "table"]


def test_ngrams_extracts_content_runs_between_stop_words() -> None:
    [concepts] = get_extractor("ngrams").extract(["Use pg_dump to back up the PostgreSQL databases, then restore."])
    assert "pg_dump" in concepts and "postgresql database" in concepts and "the" not in concepts


def test_unknown_extractor_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        get_extractor("bert")
    for name in EXTRACTORS:
        assert name in str(exc.value)


def test_extractors_have_stable_versioned_ids() -> None:
    ids = [get_extractor(name).id for name in EXTRACTORS]
    assert len(set(ids)) == len(ids) and all("/" in i for i in ids)


# -- communities ---------------------------------------------------------------------------------------------------


def _clique(nodes: range, weight: float = 1.0) -> list[tuple[int, int, float]]:
    return [(a, b, weight) for a in nodes for b in nodes if a < b]


def test_two_obvious_clusters_are_two_communities() -> None:
    edges = _clique(range(6)) + _clique(range(6, 12)) + [(5, 6, 0.1)]
    clusters = hierarchical_leiden(12, edges, max_size=10, seed=0)
    assert [c.nodes for c in clusters] == [tuple(range(6)), tuple(range(6, 12))]
    assert all(c.level == 0 and c.parent is None for c in clusters)
    assert clusters == hierarchical_leiden(12, edges, max_size=10, seed=0)  # same seed, same communities


def test_a_community_over_max_size_is_split_at_the_next_level() -> None:
    # four tight groups of 5, loosely joined in pairs: two communities of 10 at the top, each split in two below
    edges = [e for start in (0, 5, 10, 15) for e in _clique(range(start, start + 5))]
    edges += [(4, 5, 0.5), (14, 15, 0.5), (9, 10, 0.01)]
    clusters = hierarchical_leiden(20, edges, max_size=6, seed=1)
    top = [c for c in clusters if c.level == 0]
    assert sorted(n for c in top for n in c.nodes) == list(range(20))
    for parent in top:
        children = [c for c in clusters if c.parent == parent.index]
        if len(parent.nodes) > 6:
            assert children and sorted(n for c in children for n in c.nodes) == list(parent.nodes)
            assert all(c.level == 1 and len(c.nodes) <= 6 for c in children)
    assert [c.index for c in clusters] == list(range(len(clusters)))


def test_one_giant_component_is_still_split_by_the_size_rule() -> None:
    ring = [(i, (i + 1) % 60, 1.0) for i in range(60)]
    clusters = hierarchical_leiden(60, ring, max_size=10, seed=0)
    leaves = [c for c in clusters if not any(d.parent == c.index for d in clusters)]
    assert all(len(c.nodes) <= 10 for c in leaves)
    assert sorted(n for c in leaves for n in c.nodes) == list(range(60))


def test_tiny_graphs_isolated_nodes_and_bad_edges() -> None:
    assert hierarchical_leiden(0, [], max_size=5, seed=0) == []
    assert [c.nodes for c in hierarchical_leiden(3, [], max_size=5, seed=0)] == [(0,), (1,), (2,)]
    assert leiden(1, [], seed=0) == [[0]]
    with pytest.raises(InputError, match="outside"):
        hierarchical_leiden(2, [(0, 5, 1.0)], max_size=5, seed=0)


# -- the build -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_keeps_chunk_ids_that_really_hold_the_concepts(home: Path, tmp_path: Path, embedder) -> None:
    from kenning.index import graph_tables

    eng = graph_engine(home, embedder)
    eng.index([topic_corpus(tmp_path / "c")])
    built = eng.build_graph()
    assert built.stats["edges"] > 0 and built.stats["extractor"] == "ngrams/1"
    catalog = eng.collection().catalog
    text = {row.chunk_id: row.text.lower() for row in catalog.iter_chunks()}
    names = {n.id: n.name for n in graph_tables.nodes(catalog, "concept")}
    for node in graph_tables.nodes(catalog, "concept"):
        assert node.chunk_ids and all(node.name in text[c] for c in node.chunk_ids)
    for edge in graph_tables.edges(catalog, "concept"):
        assert edge.count == len(edge.chunk_ids) >= 2 and 0 < edge.weight <= 1
        assert all(names[edge.a] in text[c] and names[edge.b] in text[c] for c in edge.chunk_ids)
    communities = eng.graph_communities()
    for level in {c.level for c in communities}:
        assigned = [cid for c in communities if c.level == level for cid in c.chunk_ids]
        assert len(assigned) == len(set(assigned))  # one community per chunk per level
    top = {c.title.split(" · ")[0] for c in communities if c.level == 0}
    assert len([c for c in communities if c.level == 0]) >= 3, top  # vacuum, docker and garden apart
    info = eng.graph_info()
    assert info.built and not info.stale and info.nodes == built.stats["concepts_kept"]
    assert sum(s.n_chunks for s in info.top) == built.stats["chunks_in_communities"]
    eng.close()


@pytest.mark.slow
def test_index_updates_the_graph_reextracting_only_changed_chunks(home: Path, tmp_path: Path, embedder) -> None:
    from kenning.index import graph_tables

    corpus = topic_corpus(tmp_path / "c")
    eng = graph_engine(home, embedder, build=True)
    eng.index([corpus])
    first = graph_tables.last_build(eng.collection().catalog, "concept")
    assert first is not None and first.stats["extracted"] == first.stats["chunks"] == 12
    version = eng.collection().catalog.data_version()
    (corpus / "docker" / "1.md").write_text("# Docker note 1\n\nA docker volume outlives the docker container.\n")
    eng.index([corpus])
    second = graph_tables.last_build(eng.collection().catalog, "concept")
    assert second.stats["extracted"] == 1 and second.stats["cached"] == 11
    assert second.data_version == eng.collection().catalog.data_version() > version
    before = eng.collection().catalog.data_version()
    eng.build_graph()  # a build alone leaves data_version (and so the published snapshot) alone
    assert eng.collection().catalog.data_version() == before
    eng.close()
    # a collection that has a graph keeps it current even when [graph] build is off
    eng = graph_engine(home, embedder, build=False)
    (corpus / "garden" / "2.md").unlink()
    eng.index([corpus])
    third = graph_tables.last_build(eng.collection().catalog, "concept")
    assert third.stats["chunks"] == 11 and third.stats["extracted"] == 0 and not eng.graph_info().stale
    eng.close()


_KILLED_BUILD = """
import sys, time
from pathlib import Path
from kenning.config import GraphConfig
from kenning.graph import build
from kenning.graph.concepts import get_extractor
from kenning.index.catalog import Catalog

class Slow:
    id = "slow/1"
    def __init__(self):
        self.inner, self.batches = get_extractor("ngrams"), 0
    def extract(self, texts):
        if self.batches == 1:
            Path(sys.argv[2]).write_text("one batch committed")
            time.sleep(600)
        self.batches += 1
        return self.inner.extract(texts)

build.BATCH = 2
build.build_concept_graph(Catalog(sys.argv[1]), GraphConfig(max_df=0.5), extractor=Slow())
"""


@pytest.mark.slow
def test_a_killed_build_leaves_the_previous_graph_whole_and_keeps_its_work(
    home: Path, tmp_path: Path, embedder
) -> None:
    from kenning.graph.build import build_concept_graph
    from kenning.index import graph_tables

    eng = graph_engine(home, embedder)
    eng.index([topic_corpus(tmp_path / "c")])
    eng.build_graph()
    catalog = eng.collection().catalog
    before = (graph_tables.nodes(catalog, "concept"), graph_tables.edges(catalog, "concept"), eng.graph_communities())
    path = eng.collection().folder / "catalog.sqlite"
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_BUILD), str(path), str(marker)])
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the build never got past its first batch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()
    after = (graph_tables.nodes(catalog, "concept"), graph_tables.edges(catalog, "concept"), eng.graph_communities())
    assert after == before and graph_tables.last_build(catalog, "concept").stats["extractor"] == "ngrams/1"

    class Again:
        id = "slow/1"

        def extract(self, texts):  # noqa: ANN001, ANN202
            return get_extractor("ngrams").extract(texts)

    with eng._writing() as col:
        rerun = build_concept_graph(col.catalog, GraphConfig(max_df=0.5), extractor=Again())
    assert rerun.stats["cached"] == 2 and rerun.stats["extracted"] == 10
    eng.close()


@pytest.mark.slow
def test_a_corpus_too_small_for_communities_gets_a_note(engine) -> None:
    built = engine.build_graph()
    assert built.stats["edges"] == 0 and "too small for communities" in built.stats["note"]
    assert engine.graph_communities() == [] and engine.graph_info().built


@pytest.mark.slow
def test_no_graph_is_a_clear_error(engine) -> None:
    with pytest.raises(IndexError_, match="kenning graph build -c default"):
        engine.graph_communities()
    assert not engine.graph_info().built


# -- CLI -----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_index_graph_build_and_info(home: Path, tmp_path: Path) -> None:
    corpus = topic_corpus(tmp_path / "c")
    (home).mkdir(parents=True, exist_ok=True)
    (home / "kenning.toml").write_text('[graph]\nextractor = "ngrams"\nmax_df = 0.5\n')
    code, out, errs = run_cli("index", str(corpus), "-c", "notes", "--home", str(home), "--graph")
    assert code == 0, errs
    code, out, errs = run_cli("graph", "info", "-c", "notes", "--home", str(home), "--json")
    assert code == 0, errs
    info = json.loads(out)
    assert info["built"] and not info["stale"] and info["edges"] > 0 and info["top"]
    code, out, errs = run_cli("graph", "build", "-c", "notes", "--home", str(home))
    assert code == 0 and "ngrams/1" in out and "12 cached" in out, out + errs
    code, out, errs = run_cli("graph", "info", "-c", "notes", "--home", str(home))
    assert code == 0 and "concept graph: current" in out
    code, _, errs = run_cli("graph", "build", "-c", "missing", "--home", str(home))
    assert code == 1 and "missing" in one_line_error(errs)
    (home / "kenning.toml").write_text('[graph]\nextractor = "bert"\n')
    code, _, errs = run_cli("graph", "build", "-c", "notes", "--home", str(home))
    assert code == 1 and "known: ngrams, spacy" in one_line_error(errs)
