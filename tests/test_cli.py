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
