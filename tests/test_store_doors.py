"""``[store] url`` means the same on every door: the CLI, the Engine, the HTTP server and the MCP server all keep and
read their collections in the PostgreSQL database it names, and ``--store`` / ``$KENNING_STORE`` select it too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from kenning import Engine
from kenning.config import KenningConfig, build
from kenning.errors import ConfigError

from .cli_run import one_line_error, run_cli
from .conftest import SMALL_CORPUS, write_corpus
from .http_servers import running
from .pg_cluster import pg_cluster, pg_url  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.slow


def _home(root: Path, url: str) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "kenning.toml").write_text(f'[store]\nurl = "{url}"\n\n[answer]\nmode = "extractive"\n')
    return home


def test_every_door_reads_and_writes_the_configured_store(tmp_path: Path, pg_url: str, embedder) -> None:  # noqa: F811
    from kenning.serve.app import ServerSettings, create_app

    home = _home(tmp_path, pg_url)
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)

    rc, out, err = run_cli("index", str(corpus), "--home", str(home), "-c", "docs", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["documents_added"] == len(SMALL_CORPUS) and report["total_chunks"] > 0
    assert not (home / "collections").exists()  # nothing was written to the home folder's SQLite store

    rc, out, err = run_cli("search", "VACUUM FULL", "--home", str(home), "-c", "docs", "--json")
    assert rc == 0, err
    cli_hits = json.loads(out)["hits"]
    assert cli_hits and "VACUUM FULL" in cli_hits[0]["text"]

    engine = Engine(home, collection="docs", embedder=embedder)
    try:
        assert [h.chunk_id for h in engine.search("VACUUM FULL", k=len(cli_hits))] == [h["chunk_id"] for h in cli_hits]
        answer = engine.ask("What does VACUUM FULL do?")
        assert answer.citations and answer.verdicts
        assert any(v.label == "SUPPORT" for v in answer.verdicts)
        assert engine.info()["chunks"] == report["total_chunks"]
    finally:
        engine.close()

    with running(create_app(ServerSettings(home=home))) as url, httpx.Client(base_url=url, timeout=120) as http:
        listed = http.get("/api/collections").json()
        assert [(c["collection"], c["chunks"]) for c in listed] == [("docs", report["total_chunks"])]
        hits = http.post("/api/collections/docs/search", json={"query": "VACUUM FULL", "k": len(cli_hits)}).json()
        assert [h["chunk_id"] for h in hits["hits"]] == [h["chunk_id"] for h in cli_hits]

    # --store on the command line (and $KENNING_STORE) find the same database from a home without kenning.toml
    other = tmp_path / "other"
    rc, out, err = run_cli("--store", pg_url, "collections", "--home", str(other), "--json")
    assert rc == 0, err
    assert [row["collection"] for row in json.loads(out)] == ["docs"]


def test_an_unknown_store_is_one_clear_line(tmp_path: Path) -> None:
    rc, _, err = run_cli("--store", "mysql://db/x", "collections", "--home", str(tmp_path / "h"))
    assert rc == 1
    line = one_line_error(err)
    assert "mysql" in line and "postgresql" in line and "sqlite" in line
    with pytest.raises(ConfigError, match="known: postgresql, sqlite"):
        build(KenningConfig, {"store": {"url": "mysql://x"}})


def test_an_unreachable_database_names_it_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://kenning:s3cret@/nowhere?host=/tmp/no-such-kenning-socket"
    rc, _, err = run_cli("--store", url, "search", "x", "--home", str(tmp_path / "h"), "-c", "docs")
    assert rc == 1
    line = one_line_error(err)
    assert "s3cret" not in line and "nowhere" in line
