"""``kenning mcp`` through the MCP SDK's own client: stdio and streamable HTTP, the four read-only tools, chunk
resources, cited and verified answers, and errors that come back as tool errors."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from kenning.cli import app
from kenning.errors import ConfigError, MissingExtraError

from .conftest import write_corpus

DOCS = {
    "postgres/vacuum.md": (
        "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples. In normal PostgreSQL operation, tuples that are "
        "deleted or obsoleted by an update are not physically removed from their table.\n\n"
        "## VACUUM FULL\n\nVACUUM FULL rewrites the entire contents of the table into a new disk file with no extra "
        "space, allowing unused space to be returned to the operating system. It takes an exclusive lock on the "
        "table while it works.\n\n"
        "## Autovacuum\n\nThe autovacuum daemon runs VACUUM and ANALYZE automatically when enough tuples have "
        "changed. It is enabled by default and should normally stay on.\n"
    ),
    "docker/run.md": (
        "# docker run\n\nThe docker run command creates a writeable container layer over the specified image and "
        "starts it using the specified command.\n\n## Detached mode\n\nUse -d to start a container in the background.\n"
    ),
    "notes/garden.md": "# Garden\n\nTomatoes need full sun, regular watering and support from stakes or cages.\n",
}
QUESTION = "What does VACUUM FULL do?"
TOOLS = {"search_docs", "fetch_doc", "ask", "list_collections"}
PATHLIKE = re.compile(r"\b(path|paths|file|files|filename|folder|dir|directory)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A home with collection ``docs`` (small chunks, so a document has neighbours) answering extractively."""
    from kenning import Engine

    root = tmp_path_factory.mktemp("mcp")
    home = root / "home"
    home.mkdir()
    (home / "kenning.toml").write_text('[answer]\nmode = "extractive"\n\n[chunking]\nsize = 40\noverlap = 0\n')
    engine = Engine(home, collection="docs", embedder=embedder)
    engine.index([write_corpus(root / "corpus", DOCS)])
    engine.close()
    return home


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _server_args(home: Path, *more: str) -> list[str]:
    return ["-m", "kenning.cli", "mcp", "--home", str(home), "--collection", "docs", *more]


# -- checks shared by both transports --------------------------------------------------------------------------------


def _check_tools(listed: Any) -> None:
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True, tool.name
        assert tool.annotations.open_world_hint is False and tool.annotations.destructive_hint is False
        assert tool.output_schema is not None, tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert not PATHLIKE.search(name) and not PATHLIKE.search(prop.get("description", "")), (tool.name, name)
    for name in ("search_docs", "fetch_doc", "ask"):
        assert "untrusted" in (tools[name].description or "")


def _check_answer(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    from kenning.serve.mcp import chunk_uri

    out = result.structured_content
    assert out["answerable"] and out["supported"] and out["mode"] == "extractive"
    cited = [c for c in out["citations"] if c["cited"]]
    assert cited and re.search(r"\[\d+\]", out["answer"])
    source = DOCS["postgres/vacuum.md"]
    for c in cited:
        assert c["source"].endswith("vacuum.md") and c["uri"] == chunk_uri("docs", c["chunk_id"])
        assert source[c["start"] : c["end"]].strip() == c["text"].strip()  # the offsets point into the source
    assert out["verdicts"] and all(v["label"] == "SUPPORT" for v in out["verdicts"])
    numbers = {c["number"] for c in cited}
    assert all(v["citation"] in numbers and v["evidence"] for v in out["verdicts"])
    assert any("VACUUM FULL rewrites" in v["claim"] for v in out["verdicts"])
    text = result.content[0].text  # the same answer, readable
    assert out["answer"] in text and "SUPPORT" in text and "Sources:" in text
    return out


# -- stdio ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_stdio_tools_resources_and_errors(indexed: Path, tmp_path: Path) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=_server_args(indexed), env=_env())
    log = tmp_path / "server.log"

    async def session() -> None:
        with open(log, "w") as errlog, anyio.fail_after(120):
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                _check_tools(await s.list_tools())

                answer = _check_answer(await s.call_tool("ask", {"question": QUESTION}))
                cited = next(c for c in answer["citations"] if c["cited"])
                read_back = await s.read_resource(cited["uri"])
                assert read_back.contents[0].text == cited["text"]

                found = await s.call_tool("search_docs", {"query": "start a container in the background", "k": 3})
                assert not found.is_error
                hits = found.structured_content["hits"]
                assert len(hits) <= 3 and [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
                assert hits[0]["source"].endswith("run.md") and "-d" in hits[0]["text"]
                assert DOCS["docker/run.md"][hits[0]["start"] : hits[0]["end"]].strip() == hits[0]["text"].strip()
                assert hits[0]["chunk_id"] in found.content[0].text

                bm25 = await s.call_tool("search_docs", {"query": "tomatoes", "mode": "bm25", "k": 1})
                assert bm25.structured_content["mode"] == "bm25"
                assert bm25.structured_content["hits"][0]["source"].endswith("garden.md")

                fetched = await s.call_tool("fetch_doc", {"chunk_id": cited["chunk_id"], "neighbours": 1})
                assert not fetched.is_error
                doc = fetched.structured_content
                assert doc["chunk"]["chunk_id"] == cited["chunk_id"] and doc["chunk"]["text"] == cited["text"]
                near = [c["chunk_id"] for c in doc["before"] + doc["after"]]
                assert near and all(n.split("::")[0] == cited["chunk_id"].split("::")[0] for n in near)
                assert doc["next_chunk_id"] or doc["previous_chunk_id"]

                listed = await s.call_tool("list_collections", {})
                assert listed.structured_content["default"] == "docs"
                (col,) = listed.structured_content["collections"]
                assert col["name"] == "docs" and col["documents"] == len(DOCS) and col["chunks"] > len(DOCS)

                unknown = await s.call_tool("ask", {"question": QUESTION, "collection": "nope"})
                assert unknown.is_error and "no collection 'nope'" in unknown.content[0].text
                assert "docs" in unknown.content[0].text and "Traceback" not in unknown.content[0].text
                empty = await s.call_tool("ask", {"question": "   "})
                assert empty.is_error and "question is empty" in empty.content[0].text
                missing = await s.call_tool("fetch_doc", {"chunk_id": "0000::9"})
                assert missing.is_error and "no chunk '0000::9'" in missing.content[0].text
                bad = await s.call_tool("search_docs", {"query": "x", "collection": "../etc"})
                assert bad.is_error and "no collection" in bad.content[0].text

    try:
        anyio.run(session)
    finally:
        sys.stderr.write(log.read_text() if log.exists() else "")  # shown by pytest when the test fails
    assert "Traceback" not in log.read_text()


# -- streamable HTTP ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(proc: subprocess.Popen, port: int, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"kenning mcp --http exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"kenning mcp --http did not listen on {port} within {timeout}s:\n{log.read_text()}")


@pytest.mark.slow
def test_streamable_http_lists_tools_and_answers(indexed: Path, tmp_path: Path) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, *_server_args(indexed, "--http", "--port", str(port))],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
    try:
        _wait_for_port(proc, port, log)

        async def session() -> None:
            with anyio.fail_after(120):
                async with (
                    streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
                    ClientSession(read, write) as s,
                ):
                    await s.initialize()
                    _check_tools(await s.list_tools())
                    _check_answer(await s.call_tool("ask", {"question": QUESTION, "collection": "docs"}))

        anyio.run(session)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "127.0.0.1" in log.read_text()  # it says where it listens, and bound to loopback by default


# -- the command's own errors ---------------------------------------------------------------------------------------


def test_bad_mode_is_a_config_error(indexed: Path) -> None:
    result = CliRunner().invoke(app, ["mcp", "--home", str(indexed), "--mode", "creative"])
    assert isinstance(result.exception, ConfigError) and "--mode" in str(result.exception)


def test_missing_sdk_names_the_extra(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the SDK were not installed
    monkeypatch.delitem(sys.modules, "kenning.serve.mcp", raising=False)
    result = CliRunner().invoke(app, ["mcp", "--home", str(indexed)])
    assert isinstance(result.exception, MissingExtraError)
    assert "pip install 'kenning[mcp]'" in str(result.exception)


def test_tool_schemas_are_stable() -> None:
    """The published contract: argument names and output fields clients are written against."""
    from kenning.serve import Engines
    from kenning.serve.mcp import build_server

    async def listed() -> dict[str, Any]:
        return {t.name: t for t in await build_server(Engines("/nonexistent-kenning-home")).list_tools()}

    tools = anyio.run(listed)
    args = {name: sorted(t.input_schema.get("properties", {})) for name, t in tools.items()}
    assert args == {
        "search_docs": ["collection", "k", "mode", "query"],
        "fetch_doc": ["chunk_id", "collection", "neighbours"],
        "ask": ["collection", "question", "scope"],
        "list_collections": [],
    }
    ask_out = tools["ask"].output_schema
    assert {"answer", "answerable", "citations", "verdicts", "notes"} <= set(ask_out["properties"])
    assert json.dumps(ask_out).count("NOT_SUPPORTED") >= 1
