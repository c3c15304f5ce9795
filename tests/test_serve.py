"""kenning serve on a real uvicorn: search, answers (JSON, server-sent events, OpenAI wire format), uploads and
index jobs, document deletion, and every way a request is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from kenning import Engine
from kenning.config import KenningConfig
from kenning.serve.app import ServerSettings, create_app
from kenning.serve.keys import KeyStore

from .conftest import SMALL_CORPUS, write_corpus
from .http_servers import running

pytestmark = pytest.mark.slow

KITCHEN = {
    "risotto.md": "# Risotto\n\nA good risotto needs arborio rice and warm stock added slowly while stirring.\n",
    "bread.md": "# Bread\n\nBread dough rises when yeast ferments the sugars in the flour for an hour or two.\n",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("serve")
    home = root / "home"
    home.mkdir()
    (home / "kenning.toml").write_text('[answer]\nmode = "extractive"\n\n[retrieval]\nk = 3\n', encoding="utf-8")
    postgres = {k: v for k, v in SMALL_CORPUS.items() if k.startswith(("postgres", "docker"))}
    for name, files in (("pg", postgres), ("kitchen", KITCHEN)):
        engine = Engine(home, collection=name, config=KenningConfig.load(home), embedder=embedder)
        engine.index([write_corpus(root / "corpus" / name, files)])
        engine.close()
    return home


def _events(text: str) -> list[tuple[str, dict]]:
    """Server-sent events as (event, data) pairs."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((event, json.loads("\n".join(data))))
    return out


def test_search_and_cited_verified_answers_on_every_wire_format(served):
    with running(create_app(ServerSettings(home=served))) as url, httpx.Client(base_url=url, timeout=120) as http:
        assert http.get("/api/health").json()["status"] == "ok"
        assert {c["collection"] for c in http.get("/api/collections").json()} == {"pg", "kitchen"}

        r = http.post("/api/collections/pg/search", json={"query": "which command takes an exclusive lock"})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert len(hits) == 3  # [retrieval] k = 3 from kenning.toml: the server's settings are the collection's
        assert "VACUUM FULL" in hits[0]["text"]
        doc = http.get(f"/api/collections/pg/documents/{hits[0]['doc_id']}").json()
        assert doc["text"][hits[0]["start"] : hits[0]["end"]] == hits[0]["text"]
        assert len(http.post("/api/collections/pg/search", json={"query": "lock", "k": 1}).json()["hits"]) == 1

        question = {"question": "What does VACUUM FULL take on the table?"}
        answer = http.post("/api/collections/pg/ask", json=question).json()
        assert answer["answerable"] and "[1]" in answer["text"] or "[2]" in answer["text"]
        cited = [c for c in answer["citations"] if c["cited"]]
        assert cited
        for c in cited:  # offsets into the source document
            text = http.get(f"/api/collections/pg/documents/{c['doc_id']}").json()["text"]
            assert text[c["start"] : c["end"]] == c["text"]
        assert answer["verdicts"] and all(v["label"] == "SUPPORT" for v in answer["verdicts"])
        located = [v for v in answer["verdicts"] if v["evidence_start"] is not None]
        assert located
        for v in located:
            c = next(c for c in answer["citations"] if c["number"] == v["citation"])
            text = http.get(f"/api/collections/pg/documents/{c['doc_id']}").json()["text"]
            assert c["start"] <= v["evidence_start"] < v["evidence_end"] <= c["end"]
            assert text[v["evidence_start"] : v["evidence_end"]] == v["evidence"].strip()

        streamed = _events(http.post("/api/collections/pg/ask", json={**question, "stream": True}).text)
        kinds = [e for e, _ in streamed]
        assert kinds[0] == "token" and kinds[-1] == "answer", kinds
        assert streamed[-1][1]["verdicts"] and streamed[-1][1]["citations"]

        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["kitchen", "pg"]
        chat = {"model": "pg", "messages": [{"role": "user", "content": question["question"]}]}
        done = http.post("/v1/chat/completions", json=chat).json()
        content = done["choices"][0]["message"]["content"]
        assert "Sources:" in content and done["kenning"]["verdicts"] and done["kenning"]["citations"]
        lines = http.post("/v1/chat/completions", json={**chat, "stream": True}).text.strip().split("\n\n")
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line[6:]) for line in lines[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert "Sources:" in text
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["kenning"]["verdicts"]
        assert http.post("/v1/chat/completions", json={**chat, "model": "nope"}).status_code == 404

        assert "/api/collections/{name}/ask" in http.get("/openapi.json").json()["paths"]
        assert http.get("/docs").status_code == 200
        bad = http.post("/api/collections/pg/ask", json={"question": ""})
        assert bad.status_code == 422
        missing = http.post("/api/collections/nope/search", json={"query": "x"})
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_upload_is_indexed_by_a_job_with_progress_and_can_be_deleted(served, tmp_path):
    data = tmp_path / "data"
    app = create_app(ServerSettings(home=served, data=data))
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        body = b"# Gardening\n\nTomato plants need stakes or cages and full sun to grow well.\n"
        r = http.post("/api/collections/garden/documents", params={"filename": "tomato notes.md"}, content=body)
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert (data / "uploads" / "garden" / "tomato notes.md").read_bytes() == body
        events = _events(http.get(f"/api/jobs/{job['id']}/events").text)
        assert events[-1][1]["state"] == "done", events[-1]
        assert events[-1][1]["report"]["documents_added"] == 1
        hits = http.post("/api/collections/garden/search", json={"query": "tomato stakes"}).json()["hits"]
        assert hits and hits[0]["title"] == "Gardening"
        assert hits[0]["source"] == "uploads/garden/tomato notes.md"  # not the server's path to it
        listed = http.get("/api/collections/garden/documents").json()
        assert listed["total"] == 1 and listed["documents"][0]["n_chunks"] >= 1

        gone = http.delete(f"/api/collections/garden/documents/{hits[0]['doc_id']}")
        assert gone.status_code == 200 and gone.json()["chunks_removed"] >= 1
        assert not (data / "uploads" / "garden" / "tomato notes.md").exists()
        assert http.post("/api/collections/garden/search", json={"query": "tomato stakes"}).json()["hits"] == []
        assert http.get("/api/collections/garden/documents").json()["total"] == 0

        r = http.post("/api/collections/garden/documents", params={"filename": "broken.pdf"}, content=b"not a pdf")
        events = _events(http.get(f"/api/jobs/{r.json()['job']['id']}/events").text)
        assert events[-1][1]["state"] in ("done", "failed")  # a bad file is skipped or fails, with a message
        final = events[-1][1]
        assert final["state"] == "failed" and final["error"] or final["report"]["skipped"]


def _files(root: Path, skip: tuple[Path, ...]) -> set[str]:
    return {
        str(p)
        for p in root.rglob("*")
        if p.is_file() and not any(p.is_relative_to(s) for s in skip) and "__pycache__" not in p.parts
    }


def test_keys_scopes_and_upload_limits_refuse_with_the_right_status(served, tmp_path):
    data = tmp_path / "data"
    keys = KeyStore(data / "keys.json")
    reader = keys.add("reader", scope="read", collections=["pg"])
    writer = keys.add("writer", scope="write", collections=["pg"])
    kitchen = keys.add("kitchen", scope="admin", collections=["kitchen"])
    assert reader not in (data / "keys.json").read_text()  # stored hashed
    assert oct((data / "keys.json").stat().st_mode)[-3:] == "600"
    app = create_app(ServerSettings(home=served, data=data, max_upload_bytes=1_000_000))
    before = _files(tmp_path.parent, (served / "collections", data))

    def auth(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    # a client on another machine: no key → 401, on every door; health needs none
    remote = TestClient(app, client=("203.0.113.9", 4000), base_url="http://k")
    assert remote.get("/api/health").status_code == 200
    for method, path, body in [
        ("GET", "/api/collections", None),
        ("POST", "/api/collections/pg/search", {"query": "lock"}),
        ("POST", "/api/collections/pg/ask", {"question": "lock?"}),
        ("POST", "/v1/chat/completions", {"model": "pg", "messages": [{"role": "user", "content": "lock?"}]}),
    ]:
        r = remote.request(method, path, json=body)
        assert r.status_code == 401 and "API key" in r.json()["detail"], (path, r.text)
    assert remote.post("/api/collections/pg/search", json={"query": "lock"}, headers=auth(reader)).status_code == 200

    with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        search = {"query": "exclusive lock"}
        r = http.post("/api/collections/pg/search", json=search, headers=auth("kn_wrong"))
        assert r.status_code == 401 and "unknown" in r.json()["detail"]  # a wrong key is refused even on loopback
        assert http.post("/api/collections/pg/search", json=search, headers={"X-API-Key": reader}).status_code == 200

        # a read key on write endpoints
        upload = {"params": {"filename": "x.md"}, "content": b"# X\n\nx\n"}
        r = http.post("/api/collections/pg/documents", headers=auth(reader), **upload)
        assert r.status_code == 403 and "write" in r.json()["detail"]
        doc_id = http.post("/api/collections/pg/search", json=search, headers=auth(reader)).json()["hits"][0]["doc_id"]
        assert http.delete(f"/api/collections/pg/documents/{doc_id}", headers=auth(reader)).status_code == 403
        assert http.delete("/api/collections/pg", headers=auth(writer)).status_code == 403

        # another collection's key reads nothing of pg, through any endpoint
        chunk_id = http.post("/api/collections/pg/search", json=search).json()["hits"][0]["chunk_id"]
        for method, path, body in [
            ("POST", "/api/collections/pg/search", search),
            ("POST", "/api/collections/pg/ask", {"question": "what takes an exclusive lock?"}),
            ("GET", f"/api/collections/pg/chunks/{chunk_id}", None),
            ("GET", f"/api/collections/pg/documents/{doc_id}", None),
            ("GET", "/api/collections/pg/documents", None),
            ("GET", "/api/collections/pg", None),
            ("POST", "/v1/chat/completions", {"model": "pg", "messages": [{"role": "user", "content": "lock?"}]}),
        ]:
            r = http.request(method, path, json=body, headers=auth(kitchen))
            assert r.status_code == 404 and "pg" not in r.text.replace("'pg'", ""), (path, r.text)
            assert "VACUUM" not in r.text
        assert [c["collection"] for c in http.get("/api/collections", headers=auth(kitchen)).json()] == ["kitchen"]
        assert [m["id"] for m in http.get("/v1/models", headers=auth(kitchen)).json()["data"]] == ["kitchen"]
        mine = http.post("/api/collections/kitchen/search", json={"query": "risotto"}, headers=auth(kitchen))
        assert mine.status_code == 200 and mine.json()["hits"]

        # upload names that try to leave the upload folder
        for name in ["../evil.md", "../../evil.md", "/etc/evil.md", "a/b.md", "..", ".hidden.md", "c:\\evil.md", ""]:
            r = http.post("/api/collections/pg/documents", params={"filename": name}, content=b"# E\n\ne\n")
            assert r.status_code in (400, 422), (name, r.text)
        r = http.post("/api/collections/..%2Fescape/documents", params={"filename": "x.md"}, content=b"x")
        assert r.status_code in (400, 404)

        # 1 GB: refused from its declared length before a byte is read
        def gigabyte():
            block = b"\0" * (1 << 20)
            for _ in range(1024):
                yield block

        r = http.post(
            "/api/collections/pg/documents",
            params={"filename": "huge.md"},
            content=gigabyte(),
            headers={"Content-Length": str(1 << 30)},
        )
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        # and a body with no declared length is cut off at the limit, leaving nothing behind
        r = http.post(
            "/api/collections/pg/documents", params={"filename": "huge.md"}, content=(b"\0" * 65536 for _ in range(64))
        )
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        assert not list((data / "uploads" / "pg").glob("*")) if (data / "uploads" / "pg").exists() else True

    assert _files(tmp_path.parent, (served / "collections", data)) == before  # nothing written outside the data folder


def test_keys_can_be_required_even_on_loopback_and_public_refuses_without_keys(served, tmp_path):
    app = create_app(ServerSettings(home=served, data=tmp_path / "data", require_keys=True))
    with running(app) as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/collections").status_code == 401
        assert http.get("/api/health").status_code == 200
    import subprocess
    import sys

    env = {**os.environ, "KENNING_HOME": str(tmp_path / "empty")}
    proc = subprocess.run(
        [sys.executable, "-m", "kenning", "serve", "--public"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1 and "--public without API keys" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "kenning", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1 and "--public" in proc.stderr
