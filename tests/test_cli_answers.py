"""The answering commands from the shell: kenning ask (human and --json), kenning verify on JSONL made elsewhere,
and kenning eval qa, with their error paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kenning.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_ask_prints_citations_and_verdicts_and_json(home: Path, small_corpus: Path) -> None:
    code, _, _ = _run("index", str(small_corpus), "--home", str(home), "--json")
    assert code == 0

    code, out, _ = _run("ask", "What does VACUUM FULL rewrite?", "--home", str(home), "--json", "--mode", "extractive")
    assert code == 0
    answer = json.loads(out)
    assert answer["mode"] == "extractive" and answer["answerable"]
    cited = [c for c in answer["citations"] if c["cited"]]
    assert cited and any(c["source"].endswith("vacuum.md") for c in cited)
    assert answer["verdicts"] and {v["label"] for v in answer["verdicts"]} <= {"SUPPORT", "PARTIAL", "NOT_SUPPORTED"}
    assert all(v["source_id"] for v in answer["verdicts"] if v["label"] == "SUPPORT")
    numbers = {c["number"] for c in answer["citations"]}
    assert all(int(n) in numbers for n in _markers(answer["text"]))  # every [n] in the text is a real source

    code, out, _ = _run("ask", "What does VACUUM FULL rewrite?", "--home", str(home), "--mode", "extractive")
    assert code == 0 and "vacuum.md" in out and "SUPPORT" in out


def _markers(text: str) -> list[str]:
    import re

    return re.findall(r"\[(\d+)\]", text)


def _shell(*args: str) -> subprocess.CompletedProcess:
    """The real entry point (errors become messages and exit codes there, not in the typer app)."""
    return subprocess.run([sys.executable, "-m", "kenning.cli", *args], capture_output=True, text=True)


def test_ask_without_an_index_says_how_to_make_one(home: Path) -> None:
    proc = _shell("ask", "anything?", "--home", str(home), "--collection", "nothing-here")
    assert proc.returncode == 1 and "kenning index" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_jsonl_in_and_out_with_a_bad_line(home: Path, tmp_path: Path) -> None:
    src = [
        {"id": "a", "text": "VACUUM FULL rewrites the entire table into a new disk file. It takes an exclusive lock."},
        {"id": "b", "text": "Tomatoes need full sun and regular watering."},
    ]
    lines = [
        {"id": 1, "answer": "VACUUM FULL rewrites the entire table into a new disk file [1].", "sources": src},
        {"id": 2, "answer": "VACUUM FULL was added in PostgreSQL 7.2 by Tom Lane in 1999.", "sources": src},
        {"id": 3, "answer": "no sources here"},
    ]
    infile = tmp_path / "answers.jsonl"
    infile.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    outfile = tmp_path / "verdicts.jsonl"
    code, _, err = _run("verify", str(infile), "--home", str(home), "--verifier", "lexical", "--out", str(outfile))
    assert code == 1 and "1 bad lines" in err  # the bad line is reported, the good ones are judged
    rows = [json.loads(x) for x in outfile.read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    first, second, bad = rows
    assert len(first["claims"]) == 1  # a one-sentence answer is one claim
    assert first["claims"][0]["verdict"] == "SUPPORT" and first["claims"][0]["source_id"] == "a"
    assert set(first["claims"][0]) == {"claim", "verdict", "evidence", "source_id", "reasoning"}
    assert "rewrites the entire table" in first["claims"][0]["evidence"]
    assert second["claims"][0]["verdict"] != "SUPPORT"  # names, a version and a year the sources never mention
    assert "sources" in bad["error"] and bad["line"] == 3


def test_verify_names_a_missing_file(home: Path, tmp_path: Path) -> None:
    proc = _shell("verify", str(tmp_path / "nope.jsonl"), "--home", str(home), "--verifier", "lexical")
    assert proc.returncode == 1 and "nope.jsonl" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_qa_scores_retrieval_and_answers_apart(home: Path, small_corpus: Path, tmp_path: Path) -> None:
    code, out, _ = _run("index", str(small_corpus), "--home", str(home), "--json")
    assert code == 0
    qa = [
        {"id": "q1", "question": "What does VACUUM FULL rewrite?", "gold_doc_ids": [], "answer": "the entire table"},
        {"id": "q2", "question": "How should tomatoes be watered?", "answer": "regularly"},
    ]
    # gold by source path is resolved through the catalog: use the collection's own doc ids
    code, out, _ = _run("search", "VACUUM FULL", "--home", str(home), "--json", "-k", "1")
    qa[0]["gold_doc_ids"] = [json.loads(out)["hits"][0]["doc_id"]]
    code, out, _ = _run("search", "tomatoes watering", "--home", str(home), "--json", "-k", "1")
    qa[1]["gold_doc_ids"] = [json.loads(out)["hits"][0]["doc_id"]]
    qa_file = tmp_path / "qa.jsonl"
    qa_file.write_text("".join(json.dumps(x) + "\n" for x in qa), encoding="utf-8")

    out_dir = tmp_path / "qa-eval"
    code, out, _ = _run(
        "eval", "qa", str(qa_file), "--home", str(home), "--json", "--out", str(out_dir), "--mode", "extractive"
    )
    assert code == 0
    result = json.loads(out)
    assert result["retrieval"]["metrics"]["hit@10"] == 1.0
    answers = result["answers"]
    assert answers["answers"] == 2
    assert set(answers["metrics"]) >= {"faithfulness", "answer_relevance", "context_precision", "context_recall"}
    assert sum(answers["failure_modes"].values()) == 2
    assert answers["failure_modes"]["retrieval_miss"] == 0
    assert (out_dir / "results.json").is_file() and (out_dir / "report.html").is_file()


def test_eval_qa_modes_side_by_side_with_abstention_and_gold_citations(
    home: Path, small_corpus: Path, tmp_path: Path
) -> None:
    code, _, _ = _run("index", str(small_corpus), "--home", str(home), "--json")
    assert code == 0
    code, out, _ = _run("search", "VACUUM FULL", "--home", str(home), "--json", "-k", "1")
    vacuum = json.loads(out)["hits"][0]["doc_id"]
    qa = [
        {
            "id": "q1",
            "question": "What does VACUUM FULL rewrite?",
            "answer": "the entire table",
            "gold_doc_ids": [vacuum],
        },
        {"id": "q2", "question": "Which rice does a risotto need?", "answer": "arborio rice"},
        {"id": "u1", "question": "Who won the 2031 world chess championship?", "answerable": False},
    ]
    qa_file = tmp_path / "qa.jsonl"
    qa_file.write_text("".join(json.dumps(x) + "\n" for x in qa), encoding="utf-8")

    out_dir = tmp_path / "qa-eval"
    args = ("eval", "qa", str(qa_file), "--home", str(home), "--modes", "extractive", "--verifier", "lexical")
    code, out, _ = _run(*args, "--json", "--out", str(out_dir))
    assert code == 0
    result = json.loads(out)
    assert result["answer_modes"] == ["extractive"] and list(result["answers_by_mode"]) == ["extractive"]
    answers = result["answers_by_mode"]["extractive"]
    assert result["answers"] == answers  # the first mode stays under "answers" for existing readers
    assert answers["models"] == {"extractive": 3}
    m = answers["metrics"]
    assert m["abstention_rate"]["n"] == 3 and round(m["answered_rate"]["mean"] + m["abstention_rate"]["mean"], 9) == 1
    assert m["abstained_on_unanswerable"]["n"] == 1 and m["answered_on_answerable"]["n"] == 2
    assert m["f1_all"]["n"] == 2 and m["f1_all"]["mean"] <= m["f1_answered"]["mean"]
    q1 = next(a for a in answers["per_answer"] if a["id"] == "q1")
    assert not q1["abstained"] and q1["cites_gold"] is True  # the VACUUM answer cites vacuum.md
    assert m["citations_include_gold"]["n"] == 1 and m["citations_include_gold"]["mean"] == 1.0
    assert "answers_by_mode" in json.loads((out_dir / "results.json").read_text())

    code, out, _ = _run(*args)
    assert code == 0 and "extractive" in out and "abstention_rate" in out and "citations_include_gold" in out


def test_eval_qa_names_an_unknown_mode(tmp_path: Path, home: Path) -> None:
    qa_file = tmp_path / "qa.jsonl"
    qa_file.write_text('{"id": "q1", "question": "anything?"}\n', encoding="utf-8")
    proc = _shell("eval", "qa", str(qa_file), "--home", str(home), "--modes", "extractive,genrate")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    message = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "'genrate'" in message and "auto, generate, extractive" in message
