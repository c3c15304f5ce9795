"""The web UI in a real headless Chromium, against a real ``kenning serve`` app on loopback: pick a collection,
search, ask (extractive: fast, deterministic, verified), click ``[1]`` to the cited document with the verifier's
evidence highlighted inside the cited chunk, upload a file and watch its job finish, open the reports list, and see a
401's message. Screenshots go to ``$KENNING_TEST_ARTIFACTS/ui`` (else the test's tmp folder) and their paths are
printed.

Chromium is installed by ``.ci/run``; without it (or without the ``playwright`` package) the test fails under CI
(``$CI`` set) and is skipped elsewhere. Playwright drives Debian's chromium and never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kenning import Engine
from kenning.serve.app import ServerSettings, create_app

from .cli_run import CHROMIUM_FLAGS
from .conftest import write_corpus
from .http_servers import running

pytestmark = pytest.mark.slow

_MANUAL = {
    "wal.md": "# Write-ahead log\n\nWrite-ahead logging writes every change to a log before the data files are "
    "changed. The log lives in the pg_wal folder and is written sequentially, which is cheap.\n\n"
    "## Crash recovery\n\nAfter a crash the log is replayed from the last checkpoint to restore the database to a "
    "consistent state. No committed transaction is lost.\n\n"
    "## Checkpoints\n\nA checkpoint flushes all dirty pages to disk so recovery only needs the log written after it. "
    "Checkpoints run every few minutes or when enough log has been written.\n",
    "mvcc.md": "# MVCC\n\nEach transaction sees a snapshot of the data. Readers never block writers and writers never "
    "block readers.\n\n## Vacuum\n\nOld row versions are removed by vacuum once no snapshot can see them.\n",
    "backup.md": "# Backups\n\nA base backup copies the data directory while the server runs. Combined with archived "
    "log files it allows point-in-time recovery.\n",
}
_RECIPES = {"risotto.md": "# Risotto\n\nA good risotto needs arborio rice, warm stock added slowly, and stirring.\n"}
_UPLOAD = "# Replication\n\nStreaming replication ships the write-ahead log to standby servers as it is written.\n"
_QUESTION = "What does a checkpoint flush to disk?"


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    _unavailable("chromium is not installed (apt-get install chromium; .ci/run does it)")
    raise AssertionError("unreachable")


@pytest.fixture
def served(home: Path, tmp_path: Path) -> Iterator[str]:
    home.mkdir(parents=True)
    # small chunks, so a document has several and the evidence must land inside the right one
    (home / "kenning.toml").write_text(
        '[answer]\nmode = "extractive"\n\n[chunking]\nsize = 40\noverlap = 0\n', encoding="utf-8"
    )
    for name, files in (("manual", _MANUAL), ("recipes", _RECIPES)):
        engine = Engine(home, collection=name)
        try:
            engine.index([write_corpus(tmp_path / name, files)])
        finally:
            engine.close()
    report = home / "reports" / "x" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!doctype html><title>sweep</title><h1>Sweep report x</h1>", encoding="utf-8")
    with running(create_app(ServerSettings(home=home))) as url:
        yield url


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("KENNING_TEST_ARTIFACTS", tmp_path)) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ask_click_citation_highlights_evidence(served: str, artifacts: Path, tmp_path: Path) -> None:
    browser_path = _chromium()
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install 'kenning[test]')")
    # what the UI should show, from the API directly (extractive answers are deterministic)
    with httpx.Client(base_url=served, timeout=60) as http:
        answer = http.post("/api/collections/manual/ask", json={"question": _QUESTION}).json()
        assert answer["answerable"], answer
        verdict = next(v for v in answer["verdicts"] if v["citation"] == 1 and v["label"] == "SUPPORT")
        cited = next(c for c in answer["citations"] if c["number"] == 1)
        doc = http.get(f"/api/collections/manual/documents/{cited['doc_id']}").json()
    assert cited["start"] > 0  # the checkpoint section, not the document's first chunk
    assert cited["start"] <= verdict["evidence_start"] < verdict["evidence_end"] <= cited["end"]

    shots: list[Path] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda msg: _console_error(msg, errors))

            # pick a collection: the document list follows it
            page.goto(served + "/")
            assert page.url.endswith("/ui/")
            expect(page.locator("#collection option")).to_have_count(2)
            page.select_option("#collection", "recipes")
            expect(page.locator("#documents li")).to_have_count(1)
            expect(page.locator("#documents")).to_contain_text("Risotto")
            page.select_option("#collection", "manual")
            expect(page.locator("#documents li")).to_have_count(3)
            expect(page.locator("#collection-info")).to_contain_text("3 documents")

            # search: hits open in the source panel with their chunk marked
            page.fill("#question", "which folder holds the log")
            page.click("#search-button")
            first = page.locator("#hits li.hit").first
            expect(first).to_contain_text("Write-ahead log")
            first.locator("a.hit-title").click()
            expect(page.locator("#source-panel")).to_be_visible()
            expect(page.locator("#source-panel mark.chunk")).to_contain_text("pg_wal")

            # ask: the answer streams in, then its claims are coloured by verdict and [1] is a link
            page.fill("#question", _QUESTION)
            page.click("#ask-button")
            claim = page.locator("#answer-text .claim.support").first
            expect(claim).to_be_visible()
            citation = page.locator('#answer-text .citation[data-n="1"]').first
            expect(citation).to_have_text("[1]")
            expect(page.locator("#answer-text")).to_have_text(answer["text"])
            expect(page.locator("#verdicts li.verdict.support")).to_have_count(
                sum(v["label"] == "SUPPORT" for v in answer["verdicts"])
            )
            expect(page.locator(".legend")).to_contain_text("not supported")
            shots.append(_shot(page, artifacts / "ask-answer.png"))

            # click [1]: the cited document, its chunk marked, the evidence highlighted inside it and scrolled to
            expect(page.locator("#source-panel")).to_be_hidden()  # the search hit's panel went with the new question
            citation.click()
            panel = page.locator("#source-panel")
            expect(panel).to_be_visible()
            expect(panel).to_have_attribute("data-doc-id", cited["doc_id"])
            expect(page.locator("#source-title")).to_contain_text(doc["title"])
            evidence = panel.locator("mark.chunk mark.evidence")
            expect(evidence).to_have_count(1)
            expect(evidence).to_have_text(verdict["evidence"].strip())
            expect(evidence).to_have_class("evidence support")
            expect(evidence).to_be_in_viewport()
            expect(panel.locator("#source-verdict .badge")).to_have_attribute("data-label", "SUPPORT")
            assert page.locator("#source-text").text_content() == doc["text"]
            assert panel.locator("mark.chunk").text_content() == doc["text"][cited["start"] : cited["end"]]
            at = evidence.evaluate(
                """mark => {
                    const range = document.createRange();
                    range.setStart(document.getElementById('source-text'), 0);
                    range.setEndBefore(mark);
                    return range.toString().length;
                }"""
            )
            assert at == verdict["evidence_start"]
            assert cited["start"] <= at and at + len(evidence.text_content()) <= cited["end"]
            shots.append(_shot(page, artifacts / "source-panel.png"))
            page.keyboard.press("Escape")
            expect(panel).to_be_hidden()
            page.locator("#verdicts .citation").first.press("Enter")  # links work from the keyboard too
            expect(panel.locator("mark.evidence")).to_have_text(verdict["evidence"].strip())

            # a question the sources do not answer: said plainly, with the closest sources and no coloured claims
            page.fill("#question", "How do I bake sourdough bread?")
            page.click("#ask-button")
            expect(page.locator("#answer-text .not-found")).to_have_text("Not in the sources.")
            expect(page.locator("#sources-title")).to_have_text("Closest sources")
            expect(page.locator("#sources li.source").first).to_be_visible()
            expect(page.locator("#answer-text .claim")).to_have_count(0)
            shots.append(_shot(page, artifacts / "not-in-sources.png"))

            # upload a file through the file input: a job with progress, then the document in the list
            upload = write_corpus(tmp_path / "to-upload", {"replication.md": _UPLOAD}) / "replication.md"
            expect(page.locator("#upload-target")).to_have_value("manual")
            page.set_input_files("#upload-files", str(upload))
            page.click("#upload-form button[type=submit]")
            row = page.locator('#uploads li.upload[data-file="replication.md"]')
            expect(row).to_have_attribute("data-state", "done", timeout=45_000)
            expect(row.locator(".upload-status")).to_contain_text("indexed")
            expect(page.locator("#documents li")).to_have_count(4)
            expect(page.locator("#documents")).to_contain_text("Replication")
            shots.append(_shot(page, artifacts / "upload-done.png"))

            # uploading to a new name creates that collection, which the UI then switches to
            page.fill("#upload-target", "notes")
            page.set_input_files("#upload-files", str(upload))
            page.click("#upload-form button[type=submit]")
            expect(page.locator('#uploads li.upload[data-state="done"]')).to_have_count(2, timeout=45_000)
            expect(page.locator("#collection option")).to_have_count(3)
            expect(page.locator("#collection")).to_have_value("notes")
            expect(page.locator("#documents li")).to_have_count(1)

            # the evaluation reports, each opening in a new tab
            link = page.locator("#reports a", has_text="x/report.html")
            expect(link).to_have_attribute("href", "/reports/x/report.html")
            with context.expect_page() as opened:
                link.click()
            report = opened.value
            report.wait_for_load_state()
            expect(report.locator("h1")).to_have_text("Sweep report x")
            report.close()

            # a wrong API key: the server's 401 message is shown, and clearing the key recovers
            page.locator("#key-box summary").click()
            page.fill("#api-key", "not-a-key")
            page.locator("#key-form button[type=submit]").click()
            expect(page.locator("#error")).to_contain_text("401 unknown or revoked API key")
            page.locator("#key-box summary").click()
            page.locator("#key-clear").click()
            expect(page.locator("#error")).to_be_hidden()
            assert page.evaluate("localStorage.getItem('kenning.apiKey')") is None
        finally:
            browser.close()

    # 401s from the wrong key are expected console noise; nothing else may have gone wrong in the page
    assert [e for e in errors if "401" not in e] == []
    for path in shots:
        print(f"screenshot: {path}")


def _console_error(message, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(f"console: {message.text} at {message.location.get('url')}")


def _shot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path
