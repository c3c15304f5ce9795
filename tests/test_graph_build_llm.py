"""`kenning graph build --graphrag`: the cost estimate first, a refusal without --yes when no one can be asked, then
the concept graph and GraphRAG's build over an OpenAI-compatible server (a local one speaking its wire format)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_run import run_cli
from .llm_servers import FakeLLMServer, llm_server  # noqa: F401 - llm_server is a fixture
from .test_graphrag import Script


def test_graphrag_build_shows_the_estimate_asks_and_builds(
    engine,
    home: Path,
    llm_server: FakeLLMServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    llm_server.responder = Script()
    flags = ["--home", str(home), "--llm", "openai:gpt-4o-mini", "--llm-base-url", llm_server.url + "/v1"]
    code, out, err = run_cli("graph", "build", "--graphrag", *flags)
    assert code == 1 and "pass --yes" in err and "GraphRAG" in err  # no terminal to ask on: nothing is built
    assert not llm_server.requests
    code, out, err = run_cli("graph", "build", "--graphrag", "--yes", "--json", *flags)
    assert code == 0, err
    built = json.loads(out)
    assert built["concept"]["kind"] == "concept" and built["entity"]["kind"] == "entity"
    assert built["entity"]["stats"]["entities"] > 0 and llm_server.requests
    # a second run pays for nothing: every call is cached by content
    before = len(llm_server.requests)
    code, out, err = run_cli("graph", "build", "--graphrag", "--yes", "--json", *flags)
    assert code == 0, err
    assert len(llm_server.requests) == before
