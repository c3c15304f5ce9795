"""Contextual chunks: heading headers, LLM situating sentences (cached, priced, resumable) and late chunking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kenning import Engine
from kenning.cli import app
from kenning.config import ContextConfig, KenningConfig, build
from kenning.errors import ConfigError, IndexError_
from kenning.index.context import CHUNK_PROMPT, CONTEXT_SYSTEM, Situator, clean_reply
from kenning.providers.llm.base import Message

from .conftest import write_corpus
from .llm_servers import ANTHROPIC, OPENAI, Reply, llm_server  # noqa: F401 - the fixture

DOCS = {
    "vacuum.md": "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples.\n\n"
    "## Notes\n\nIt must be run by the table owner or a superuser.\n",
    "create_index.md": "# CREATE INDEX\n\nCREATE INDEX constructs an index on the specified column.\n\n"
    "## Notes\n\nIt can take a long time on big tables.\n",
}

SMALL = {"size": 20, "overlap": 0}


def _engine(home: Path, embedder, name: str = "c", **context) -> Engine:  # noqa: ANN001
    cfg = build(KenningConfig, {"context": context, "chunking": {"size": 20, "overlap": 0}})
    return Engine(home, collection=name, config=cfg, embedder=embedder)


def _llm_settings(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kenning.toml").write_text(
        f'[llm]\nprovider = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{url}"\nmax_retries = 0\n'
    )


def test_headers_change_what_is_searched_not_what_is_stored(tmp_path, home, embedder):
    docs = write_corpus(tmp_path / "docs", DOCS)
    plain = _engine(home, embedder, "plain")
    plain.index([docs])
    headed = _engine(home, embedder, "headed", headers=True)
    headed.index([docs])
    # "vacuum" is only in the Notes chunk's header: BM25 finds that chunk only with headers on
    top = [h.text for h in headed.search("owner vacuum", k=1, mode="bm25")]
    assert top[0].startswith("## Notes\n\nIt must be run by the table owner")
    for engine in (plain, headed):
        for hit in engine.search("owner", k=4, mode="bm25"):
            source_text = Path(hit.source).read_text()
            assert source_text[hit.start : hit.end] == hit.text  # citations stay exact
            assert "›" not in hit.text
    assert headed.info()["chunking"] == plain.info()["chunking"]


def test_switching_context_on_or_off_re_indexes(tmp_path, home, embedder):
    docs = write_corpus(tmp_path / "docs", DOCS)
    engine = _engine(home, embedder, "c")
    first = engine.index([docs])
    assert first.chunks_embedded == 4
    engine.close()
    on = _engine(home, embedder, "c", headers=True).index([docs])
    assert on.documents_updated == 2 and on.chunks_embedded == 4  # new indexed text, new vectors
    off = _engine(home, embedder, "c", headers=False).index([docs])
    assert off.documents_updated == 2 and off.chunks_embedded == 4  # vectors nothing points at were dropped
    assert off.total_chunks == 4


def test_late_chunking_gives_a_chunk_its_documents_topic(tmp_path, home, embedder):
    docs = write_corpus(tmp_path / "docs", DOCS)
    plain = _engine(home, embedder, "plain")
    plain.index([docs])
    late = _engine(home, embedder, "late", late_chunking=True)
    report = late.index([docs])
    assert report.chunks_embedded == 4

    def rank_of_owner_chunk(engine: Engine) -> int:
        hits = engine.search("who may run vacuum", k=4, mode="dense")
        return next(i for i, h in enumerate(hits) if "table owner" in h.text)

    assert rank_of_owner_chunk(late) < rank_of_owner_chunk(plain)
    # a re-run embeds nothing: late vectors are keyed by document content and span
    assert late.index([docs]).chunks_embedded == 0


def test_late_vectors_pool_the_documents_tokens(embedder):
    text = "VACUUM reclaims storage occupied by dead tuples. It must be run by the table owner."
    spans = [(0, 48), (49, len(text))]
    late = embedder.embed_late(text, spans)
    alone = embedder.embed([text[s:e] for s, e in spans])
    assert late.shape == alone.shape
    assert np.allclose(np.linalg.norm(late, axis=1), 1.0, atol=1e-5)
    assert (late * alone).sum(axis=1).min() < 0.99  # context changed the second chunk's vector
    long = " ".join(f"word{i} sentence." for i in range(900))  # far beyond the 512-piece window
    vecs = embedder.embed_late(long, [(0, 50), (len(long) - 50, len(long))])
    assert np.isfinite(vecs).all() and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_late_chunking_needs_an_embedder_that_can(tmp_path, home, embedder):
    class Plain:
        name, dim = embedder.name, embedder.dim

        def embed(self, texts, *, is_query=False):  # noqa: ANN001, ANN202
            return embedder.embed(texts, is_query=is_query)

    docs = write_corpus(tmp_path / "docs", DOCS)
    cfg = build(KenningConfig, {"context": {"late_chunking": True}})
    with pytest.raises(ConfigError, match="late chunking"):
        Engine(home, config=cfg, embedder=Plain()).index([docs])


def test_llm_contexts_are_written_cached_priced_and_searchable(tmp_path, home, embedder, llm_server):  # noqa: F811
    docs = write_corpus(tmp_path / "docs", DOCS)
    _llm_settings(home, llm_server.url)
    for i in range(4):
        llm_server.reply(OPENAI.ok(f"Context: From the manual page, part {i}, about zebrafish{i}.", prompt_tokens=90))
    engine = Engine(
        home,
        collection="ctx",
        config=KenningConfig.load(home, context={"llm": True}, chunking=SMALL),
        embedder=embedder,
    )
    guess = engine.estimate_context([docs])
    assert (guess.calls, guess.cached, guess.chunks) == (4, 0, 4)
    assert guess.cost_usd is not None and guess.cost_usd > 0
    assert guess.cached_prompt_tokens > 0  # each document's second chunk shares its first one's prompt prefix
    report = engine.index([docs])
    assert report.context is not None
    assert (report.context.written, report.context.reused, report.context.usage.calls) == (4, 0, 4)
    assert report.context.usage.prompt_tokens == 360 and report.context.usage.cost_usd > 0
    sent = llm_server.requests[0].body["messages"]
    assert sent[0] == {"role": "system", "content": CONTEXT_SYSTEM}  # documents are data: fenced, never obeyed
    assert sent[1]["content"].startswith("<document>\n# ") and sent[1]["content"].endswith("</document>")
    assert sent[2]["content"].startswith(CHUNK_PROMPT.split("{", 1)[0])
    # the "Context:" lead is dropped, the rest is searched with the chunk
    hits = engine.search("zebrafish2", k=1, mode="bm25")
    assert hits and "zebrafish2" not in hits[0].text
    engine.close()
    # a changed setting that keeps the prompt (headers on) reuses every context: no request reaches the server
    again = Engine(
        home,
        collection="ctx",
        config=KenningConfig.load(home, context={"llm": True, "headers": True}, chunking=SMALL),
        embedder=embedder,
    )
    report = again.index([docs])
    assert report.documents_updated == 2 and report.context.written == 0 and report.context.reused == 4
    assert len(llm_server.requests) == 4
    assert again.estimate_context([docs]).calls == 0
    again.close()


def test_a_failed_llm_call_midway_keeps_what_was_done_and_resumes(tmp_path, home, embedder, llm_server):  # noqa: F811
    docs = write_corpus(tmp_path / "docs", {**DOCS, "third.md": "# ANALYZE\n\nANALYZE collects statistics.\n"})
    _llm_settings(home, llm_server.url)
    # create_index.md comes first: its first chunk's context is written, the second call fails
    llm_server.reply(OPENAI.ok("About CREATE INDEX."), Reply(status=500, body={}))
    cfg = KenningConfig.load(home, context={"llm": True}, indexing={"commit_chunks": 1}, chunking=SMALL)
    engine = Engine(home, collection="ctx", config=cfg, embedder=embedder)
    with pytest.raises(IndexError_, match="running the same command again resumes"):
        engine.index([docs])
    engine.close()
    done = len(llm_server.requests)
    for _ in range(5):
        llm_server.reply(OPENAI.ok("Later context."))
    engine = Engine(home, collection="ctx", config=cfg, embedder=embedder)
    report = engine.index([docs])
    # the context paid for before the failure is not bought again; every other chunk's is written once
    assert (report.context.reused, report.context.written) == (1, 4)
    assert len(llm_server.requests) - done == 4
    assert report.total_chunks == 5 and len(set(engine.collection().catalog.all_chunk_ids())) == 5
    engine.close()


def test_empty_and_overlong_replies(tmp_path, home, embedder, llm_server):  # noqa: F811
    docs = write_corpus(tmp_path / "docs", {"one.md": DOCS["vacuum.md"]})
    _llm_settings(home, llm_server.url)
    llm_server.reply(OPENAI.ok("   "), OPENAI.ok("This is about vacuum. " * 200))
    cfg = KenningConfig.load(home, context={"llm": True, "max_tokens": 20}, chunking=SMALL)
    engine = Engine(home, collection="ctx", config=cfg, embedder=embedder)
    report = engine.index([docs])
    engine.close()
    assert (report.context.empty, report.context.cut) == (1, 1)
    text, cut = clean_reply("This is about vacuum. " * 200, 20, "cl100k_base")
    assert cut and text.endswith(".") and len(text) < 120


def test_anthropic_caches_the_document_prefix(tmp_path, home, llm_server):  # noqa: F811
    llm_server.reply(
        Reply(
            body={
                "type": "message",
                "content": [{"type": "text", "text": "About VACUUM."}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 20, "cache_read_input_tokens": 1000, "output_tokens": 5},
            }
        )
    )
    with ANTHROPIC.make(llm_server) as llm:  # claude-3-5-haiku: 0.80 / 4.00 USD per 1M tokens
        reply = llm.complete([Message("user", "<document>long</document>", cache=True), Message("user", "the chunk")])
    blocks = llm_server.requests[0].body["messages"][0]["content"]
    assert blocks[0]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in blocks[1]
    assert reply.usage.cached_tokens == 1000 and reply.usage.prompt_tokens == 1020
    full = (1020 * 0.80 + 5 * 4.00) / 1e6
    assert reply.usage.cost_usd == pytest.approx((20 * 0.80 + 100 * 0.80 + 5 * 4.00) / 1e6)
    assert reply.usage.cost_usd < full / 5


def test_situator_key_depends_on_window_and_chunk(llm_server):  # noqa: F811
    with OPENAI.make(llm_server) as llm:
        s = Situator(llm, ContextConfig(llm=True))
        assert s.key("doc", "chunk") == s.key("doc", "chunk")
        assert len({s.key("doc", "chunk"), s.key("doc2", "chunk"), s.key("doc", "chunk2")}) == 3


def test_cli_context_flags(tmp_path, home, llm_server):  # noqa: F811
    docs = write_corpus(tmp_path / "docs", DOCS)
    runner = CliRunner()
    out = runner.invoke(app, ["index", str(docs), "--home", str(home), "--context", "headers,late", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(runner.invoke(app, ["info", "--home", str(home), "--json"]).output)
    assert info["documents"] == 2
    bad = runner.invoke(app, ["index", str(docs), "--home", str(home), "--context", "headerz"])
    assert isinstance(bad.exception, ConfigError) and "unknown headerz" in str(bad.exception)  # main() prints it
    _llm_settings(home, llm_server.url)
    out = runner.invoke(
        app,
        ["index", str(docs), "--home", str(home), "-c", "ctx", "--context", "llm", "--estimate", "--json"]
        + ["--chunk-size", "20", "--chunk-overlap", "0"],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["calls"] == 4 and not llm_server.requests  # an estimate spends nothing
    assert not (home / "collections" / "ctx").exists()  # and creates nothing
