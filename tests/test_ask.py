"""Engine.ask end to end: extractive offline answers, LLM answers through a local server speaking the OpenAI wire
format (a paid API cannot be reached from here), invented citations, policies, the LLM fact-checker, the agent
loop, and every failure mode ending in an answer or a clear error rather than a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kenning import Engine
from kenning.errors import ConfigError, IndexError_
from kenning.generate.prompts import NOT_IN_SOURCES_ANSWER
from kenning.verify import Claim, Source
from kenning.verify.llm_verifier import LLMVerifier

from .llm_servers import OPENAI, Reply, llm_server, openai_client  # noqa: F401 - llm_server is a fixture

KEY_ENV = OPENAI.key_env


@pytest.fixture
def llm(llm_server, monkeypatch):  # noqa: F811 - the fixture above
    yield from openai_client(llm_server, monkeypatch, max_retries=1, timeout=2.0)


def _number_of(answer, suffix: str) -> int:
    return next(c.number for c in answer.citations if c.source.endswith(suffix))


def test_extractive_answer_offline_cites_and_verifies(engine: Engine) -> None:
    a = engine.ask("What does VACUUM FULL do?", mode="extractive")
    assert a.mode == "extractive" and a.answerable and a.usage.total_tokens == 0
    cited = [c for c in a.citations if c.cited]
    assert cited and any(c.source.endswith("vacuum.md") for c in cited)
    assert a.verdicts and all(v.label == "SUPPORT" for v in a.verdicts)  # extracted sentences are verbatim
    assert a.verifier == "lexical" and any("kenning train verifier" in n for n in a.notes)
    for v in a.verdicts:
        assert a.text[v.start : v.end].startswith(v.claim.rstrip(".")[:20])


def test_llm_answer_drops_invented_citations_and_flags_unsupported_claims(engine: Engine, llm, llm_server) -> None:  # noqa: F811
    probe = engine.ask("What does VACUUM FULL do?", llm=False, verify=False)
    n = _number_of(probe, "vacuum.md")
    reply = (
        f"VACUUM FULL rewrites the entire contents of the table into a new disk file [{n}]. "
        "It was invented by the Romans in 1850 [7]."
    )
    llm_server.reply(OPENAI.ok(reply, prompt_tokens=500, completion_tokens=40))
    a = engine.ask("What does VACUUM FULL do?", llm=llm, verifier="lexical")
    assert a.mode == "llm" and a.invalid_citations == (7,) and "[7]" not in a.text
    assert [v.label for v in a.verdicts] == ["SUPPORT", "NOT_SUPPORTED"]
    assert a.verdicts[0].source_id.endswith("::0") and "rewrites the entire contents" in a.verdicts[0].evidence
    assert a.usage.prompt_tokens == 500 and a.usage.completion_tokens == 40
    sent = llm_server.requests[-1].body
    assert sent["messages"][0]["role"] == "system" and "[1]" in sent["messages"][1]["content"]

    llm_server.reply(OPENAI.ok(reply))
    stripped = engine.ask("What does VACUUM FULL do?", llm=llm, verifier="lexical", policy="strip")
    assert "Romans" not in stripped.text and "rewrites" in stripped.text

    fixed = f"VACUUM FULL rewrites the entire contents of the table into a new disk file [{n}]."
    llm_server.reply(OPENAI.ok(reply), OPENAI.ok(fixed))
    retried = engine.ask("What does VACUUM FULL do?", llm=llm, verifier="lexical", policy="retry")
    assert retried.text == fixed and all(v.label == "SUPPORT" for v in retried.verdicts)
    feedback = llm_server.requests[-1].body["messages"][-1]["content"]
    assert "Romans" in feedback and "NOT supported" in feedback
    assert any("regenerated once" in note for note in retried.notes)


def test_llm_failures_never_crash_the_answer(engine: Engine, llm, llm_server) -> None:  # noqa: F811
    llm_server.reply(OPENAI.error(500, "boom"), OPENAI.error(500, "boom"))
    a = engine.ask("What does VACUUM FULL do?", llm=llm)
    assert a.mode == "extractive" and any("language model failed" in n for n in a.notes)
    llm_server.reply(Reply(delay=3.0, body={"choices": []}), Reply(delay=3.0, body={"choices": []}))
    a = engine.ask("What does VACUUM FULL do?", llm=llm)
    assert a.mode == "extractive" and any("language model failed" in n for n in a.notes)
    llm_server.reply(OPENAI.ok(""))
    a = engine.ask("What does VACUUM FULL do?", llm=llm)
    assert a.text == NOT_IN_SOURCES_ANSWER and not a.answerable and a.verdicts == ()


def test_llm_fact_checker_validates_quotes_and_survives_garbage(llm, llm_server) -> None:  # noqa: F811
    sources = [
        Source("a::0", "VACUUM FULL takes an exclusive lock on the table."),
        Source("b::0", "Tomatoes need sun."),
    ]
    claims = [Claim("VACUUM FULL locks the table.", 0, 10), Claim("Tomatoes need shade.", 11, 20)]
    verdicts = {
        "verdicts": [
            {"claim": 1, "verdict": "SUPPORT", "source": 1, "evidence": "takes an exclusive lock", "reasoning": "ok"},
            {"claim": 2, "verdict": "SUPPORT", "source": 2, "evidence": "Tomatoes love shade.", "reasoning": "?"},
        ]
    }
    llm_server.reply(OPENAI.ok("```json\n" + json.dumps(verdicts) + "\n```"))
    checker = LLMVerifier(llm)
    checked = checker.verify(claims, sources)
    out = checked.verdicts
    assert [v.label for v in out] == ["SUPPORT", "PARTIAL"]  # the second quote is not in the source
    assert out[0].source_id == "a::0" and "not found verbatim" in out[1].reasoning
    assert checked.usage.calls == 1 and not hasattr(checker, "usage")  # spent per call, not on the shared checker
    llm_server.reply(OPENAI.ok("I think they are fine."), OPENAI.ok("{not json"), OPENAI.ok("still no"))
    out = checker.verify(claims, sources).verdicts
    assert [v.label for v in out] == ["NOT_SUPPORTED", "NOT_SUPPORTED"] and "fact-checker failed" in out[0].reasoning


def test_agent_loop_searches_fetches_submits_and_keeps_a_trace(engine: Engine, llm, llm_server) -> None:  # noqa: F811
    hit = engine.search("VACUUM FULL exclusive lock", k=1)[0]
    steps = [
        {"thought": "look it up", "tool": "search_docs", "args": {"query": "VACUUM FULL"}},
        {"thought": "read it", "tool": "fetch_doc", "args": {"chunk_id": hit.chunk_id}},
        {
            "thought": "answer",
            "tool": "submit_answer",
            "args": {
                "answer": "VACUUM FULL rewrites the entire contents of the table into a new disk file [1].",
                "citations": [hit.chunk_id],
            },
        },
    ]
    llm_server.reply(*[OPENAI.ok(json.dumps(s)) for s in steps])
    seen = []
    a = engine.ask("What does VACUUM FULL do?", llm=llm, agent=True, verifier="lexical", on_step=seen.append)
    assert a.mode == "agent" and [t["tool"] for t in a.trace] == ["search_docs", "fetch_doc", "submit_answer"]
    assert seen == list(a.trace)
    assert hit.chunk_id in a.trace[0]["chunk_ids"] and a.trace[1]["chunk_ids"] == [hit.chunk_id]
    assert a.trace[2]["verdicts"] == [{"claim": a.verdicts[0].claim, "verdict": "SUPPORT"}]
    assert a.citations[0].chunk_id == hit.chunk_id and a.usage.calls == 3
    json.dumps(a.trace)  # the trace is plain JSON
    # a model that never submits ends with a clear note within the step budget
    llm_server.reply(*[OPENAI.ok(json.dumps(steps[0])) for _ in range(8)])
    a = engine.ask("What does VACUUM FULL do?", llm=llm, agent=True, verifier="lexical")
    assert a.text == NOT_IN_SOURCES_ANSWER and "did not submit" in a.notes[-1] and len(a.trace) == 8


def test_asking_needs_a_question_an_index_and_an_llm_for_the_agent(home: Path, tmp_path: Path, embedder) -> None:
    eng = Engine(home, embedder=embedder)
    with pytest.raises(IndexError_, match="kenning index PATH"):
        eng.ask("anything")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "a.txt").write_text("Just one line of text about llamas and alpacas.")
    eng.index([tmp_path / "e"])
    with pytest.raises(ConfigError, match="empty"):
        eng.ask("   ")
    with pytest.raises(ConfigError, match="needs a language model"):
        eng.ask("What about llamas?", agent=True, mode="extractive")
    with pytest.raises(ConfigError, match="policy"):
        eng.ask("What about llamas?", policy="ignore")
    eng.close()


def test_a_supported_claim_the_model_left_uncited_gets_its_evidence_cited(engine: Engine, llm, llm_server) -> None:  # noqa: F811
    probe = engine.ask("What does VACUUM FULL do?", llm=False, verify=False)
    n = _number_of(probe, "vacuum.md")
    reply = "VACUUM FULL rewrites the entire contents of the table into a new disk file. It was invented by the Romans."
    llm_server.reply(OPENAI.ok(reply))
    a = engine.ask("What does VACUUM FULL do?", llm=llm, verifier="lexical")
    assert a.text.startswith(f"VACUUM FULL rewrites the entire contents of the table into a new disk file [{n}].")
    first, second = a.verdicts
    assert first.label == "SUPPORT" and "cited by kenning" in first.reasoning
    assert a.text[first.start : first.end].endswith(f"[{n}].") and second.label != "SUPPORT"
    assert a.text[second.start : second.end] == "It was invented by the Romans."
    assert any(c.cited and c.number == n for c in a.citations)
