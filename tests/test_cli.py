"""The command line: index, search, info, collections, delete and eval beir, human and --json output, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kenning.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _main(*args: str) -> tuple[int, str, str]:
    """The real entry point in a subprocess: errors become a message and exit code 1."""
    proc = subprocess.run([sys.executable, "-m", "kenning.cli", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def _tiny_beir(root: Path) -> Path:
    root.mkdir(parents=True)
    docs = [
        ("d1", "Aspirin and heart attacks", "Daily low-dose aspirin reduces the risk of a first heart attack."),
        ("d2", "Vitamin D and bones", "Vitamin D supplements improve bone density in older adults."),
        ("d3", "Coffee and sleep", "Caffeine taken late in the day delays sleep onset and shortens sleep."),
        ("d4", "Exercise and mood", "Regular aerobic exercise lowers symptoms of depression."),
    ]
    with open(root / "corpus.jsonl", "w") as f:
        for i, t, x in docs:
            f.write(json.dumps({"_id": i, "title": t, "text": x}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for qid, text in [("q1", "does aspirin prevent heart attack"), ("q2", "caffeine effect on sleep")]:
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return root


def test_index_search_json_and_human(home: Path, small_corpus: Path) -> None:
    code, out, _ = _run("index", str(small_corpus), "--home", str(home), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["documents_added"] == 5 and report["total_chunks"] >= 5

    code, out, _ = _run("search", "VACUUM FULL exclusive lock", "--home", str(home), "--json", "-k", "2")
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "hybrid" and len(data["hits"]) == 2
    top = data["hits"][0]
    assert top["rank"] == 1 and top["source"].endswith("vacuum.md") and top["chunk_id"].endswith("::0")
    assert top["heading_path"] == ["VACUUM"]  # both small sections packed into one chunk under their common heading

    code, out, _ = _run("search", "risotto", "--home", str(home), "--mode", "bm25", "--filter", "kind=text")
    assert code == 0 and "cooking.txt" in out and "│" in out  # a rich table

    code, out, _ = _run("info", "--home", str(home), "--json")
    assert code == 0 and json.loads(out)["documents"] == 5

    code, out, _ = _run("collections", "--home", str(home), "--json")
    assert [c["collection"] for c in json.loads(out)] == ["default"]

    code, out, _ = _run("delete", "default", "--home", str(home), "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": "default"}
    code, out, _ = _run("collections", "--home", str(home), "--json")
    assert json.loads(out) == []


def test_eval_beir_writes_json_and_trec_run(home: Path, tmp_path: Path) -> None:
    ds = _tiny_beir(tmp_path / "tiny")
    out_json, run = tmp_path / "res.json", tmp_path / "run.trec"
    code, out, _ = _run(
        "eval",
        "beir",
        str(ds),
        "--home",
        str(home),
        "--mode",
        "bm25,hybrid",
        "--out",
        str(out_json),
        "--run",
        str(run),
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert json.loads(out_json.read_text()) == result
    assert set(result["modes"]) == {"bm25", "hybrid"}
    assert result["modes"]["bm25"]["metrics"]["ndcg@10"] == pytest.approx(1.0)
    assert result["modes"]["hybrid"]["metrics"]["recall@10"] == pytest.approx(1.0)
    lines = (tmp_path / "run.bm25.trec").read_text().splitlines()
    first = lines[0].split()
    assert first[:4] == ["q1", "Q0", "d1", "1"] and first[5] == "kenning-bm25"


def test_errors_are_messages_not_tracebacks(home: Path, tmp_path: Path) -> None:
    env_cmd = [sys.executable, "-m", "kenning.cli"]
    proc = subprocess.run([*env_cmd, "search", "x", "--home", str(home)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "no collection 'default'" in proc.stderr and "kenning index PATH" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*env_cmd, "index", str(tmp_path), "--home", str(home), "--chunk-size", "10", "--chunk-overlap", "20"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "overlap" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*env_cmd, "search", "x", "--home", str(home), "--collection", "../evil"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "not allowed" in proc.stderr


def test_search_follows_retrieval_settings_from_kenning_toml(home: Path, small_corpus: Path) -> None:
    """One door: `kenning search` means what Engine.search means, settings included."""
    assert _run("index", str(small_corpus), "--home", str(home))[0] == 0
    (home / "kenning.toml").write_text('[retrieval]\nmode = "dense"\nk = 3\n')
    code, out, _ = _run("search", "tomatoes in full sun", "--home", str(home), "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "dense" and len(data["hits"]) == 3
    assert all(set(h["ranks"]) == {"dense"} for h in data["hits"])


def _adopt_untrained_reranker(home: Path, collection: str) -> None:
    """A real CrossEncoder (MiniLM with a fresh head) made the collection's reranker, as kenning tune would."""
    from kenning.index import Collection
    from kenning.index.adopt import adopt_reranker
    from kenning.providers.embedders import get_embedder, import_sentence_transformers

    st = import_sentence_transformers("test")
    folder = home.parent / "ce"
    st.CrossEncoder(str(get_embedder("minilm").folder), num_labels=1, device="cpu").save_pretrained(str(folder))
    col = Collection.open(home, collection)
    with col.locked():
        adopt_reranker(col, folder, {"path": "models/reranker-test", "depth": 4, "fusion": "none", "lineage": {}})
    col.close()


def test_a_collection_reranker_serves_search_and_eval_beir(home: Path, tmp_path: Path) -> None:
    ds = _tiny_beir(tmp_path / "tiny")
    code, _, _ = _run("eval", "beir", str(ds), "--home", str(home), "-c", "tiny", "--mode", "bm25")
    assert code == 0
    code, _, err = _main("eval", "beir", str(ds), "--home", str(home), "-c", "tiny", "--mode", "hybrid+rerank")
    assert code == 1 and "no reranker" in err and "kenning tune" in err
    _adopt_untrained_reranker(home, "tiny")
    code, out, _ = _run(
        "eval", "beir", str(ds), "--home", str(home), "-c", "tiny", "--mode", "hybrid,hybrid+rerank", "--json"
    )
    result = json.loads(out)
    assert code == 0 and set(result["modes"]) == {"hybrid", "hybrid+rerank"} and result["rerank_depth"] == 4
    code, out, _ = _run("search", "caffeine and sleep", "--home", str(home), "-c", "tiny", "--json", "-k", "2")
    assert code == 0 and all("first_stage" in h["ranks"] for h in json.loads(out)["hits"])
    code, out, _ = _run("search", "caffeine and sleep", "--home", str(home), "-c", "tiny", "--json", "--no-rerank")
    assert code == 0 and not any("first_stage" in h["ranks"] for h in json.loads(out)["hits"])
    code, out, _ = _run("info", "--home", str(home), "-c", "tiny", "--json")
    assert json.loads(out)["reranker"]["path"] == "models/reranker-test"


def test_tune_on_too_small_a_collection_is_a_clear_error(home: Path, small_corpus: Path) -> None:
    assert _run("index", str(small_corpus), "--home", str(home))[0] == 0
    code, _, err = _main("tune", "--home", str(home), "--budget", "10m")
    assert code == 1 and "at least 50" in err and "Traceback" not in err
    code, _, err = _main("tune", "--home", str(home), "--budget", "soon")
    assert code == 1 and "45m" in err
