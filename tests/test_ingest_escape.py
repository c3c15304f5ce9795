"""Issue 14, items 3 and 6: nothing outside the input is ever read, and file names that are not UTF-8 are indexed.

The races are made deterministic: ``_list_dir`` is wrapped so a file or folder is swapped for a link to a secret
outside the input right after it was listed (between the check and the open). A thread swapping in a tight loop
covers the other windows.
"""

from __future__ import annotations

import importlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from kenning import Engine
from kenning.config import IngestConfig, KenningConfig
from kenning.ingest import SourceFile, discover
from kenning.types import Skipped

from .factories import load

SECRET = "SECRET-ROOT-PASSWORD-0451"
discover_module = importlib.import_module("kenning.ingest.discover")  # the package re-exports the function


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\nInside the corpus.\n", encoding="utf-8")
    (root / "sub" / "b.md").write_text("# B\n\nAlso inside.\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.md").write_text(f"# Stolen\n\n{SECRET}\n", encoding="utf-8")
    (outside / "b.md").write_text(f"# Stolen\n\n{SECRET}\n", encoding="utf-8")
    return root, outside


def _read_all(paths: list[Path]) -> tuple[list[SourceFile], list[Skipped]]:
    found = list(discover(paths, IngestConfig()))
    return [f for f in found if isinstance(f, SourceFile)], [f for f in found if isinstance(f, Skipped)]


def _swap_after_listing(monkeypatch: pytest.MonkeyPatch, nth: int, swap) -> None:
    """Run ``swap()`` right after the ``nth`` folder listing (1 = the input folder itself)."""
    real = discover_module._list_dir
    calls = []

    def listing(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(args[0])
        if len(calls) == nth:
            swap()
        return out

    monkeypatch.setattr(discover_module, "_list_dir", listing)


def test_file_swapped_for_a_link_after_listing_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = _setup(tmp_path)

    def swap() -> None:
        (root / "a.md").unlink()
        (root / "a.md").symlink_to(outside / "a.md")

    _swap_after_listing(monkeypatch, 1, swap)
    sources, skipped = _read_all([root])
    assert all(SECRET.encode() not in s.data for s in sources)
    assert [s.source for s in sources] == [str(root / "sub" / "b.md")]
    assert [(s.source, s.reason) for s in skipped] == [
        (str(root / "a.md"), "became a symlink while the input was read; not followed")
    ]


def test_passwd_swapped_in_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd here")
    root, _ = _setup(tmp_path)
    (root / "notes").write_text("plain text notes\n", encoding="utf-8")  # no extension: read as text, like passwd

    def swap() -> None:
        (root / "notes").unlink()
        (root / "notes").symlink_to("/etc/passwd")

    _swap_after_listing(monkeypatch, 1, swap)
    sources, skipped = _read_all([root])
    passwd = Path("/etc/passwd").read_bytes()
    assert all(passwd not in s.data and b"root:" not in s.data for s in sources)
    assert str(root / "notes") in {s.source for s in skipped}


def test_folder_swapped_for_a_link_after_listing_is_not_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = _setup(tmp_path)

    def swap() -> None:
        (root / "sub" / "b.md").unlink()
        (root / "sub").rmdir()
        (root / "sub").symlink_to(outside, target_is_directory=True)

    _swap_after_listing(monkeypatch, 1, swap)  # the input was listed with sub/ a folder; now it leads outside
    sources, skipped = _read_all([root])
    assert all(SECRET.encode() not in s.data for s in sources)
    assert [s.source for s in sources] == [str(root / "a.md")]
    assert [s.source for s in skipped] == [str(root / "sub")]


def test_parent_folder_swapped_after_its_listing_is_caught_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _setup(tmp_path)

    def swap() -> None:
        (root / "sub").rename(tmp_path / "old-sub")
        (root / "sub").symlink_to(outside, target_is_directory=True)

    _swap_after_listing(monkeypatch, 2, swap)  # sub/ listed (b.md a file), then sub itself becomes a link
    sources, skipped = _read_all([root])
    assert all(SECRET.encode() not in s.data for s in sources)
    [why] = [s for s in skipped if s.source == str(root / "sub" / "b.md")]
    assert "outside" in why.reason


def test_swapping_thread_never_gets_outside_content_read(tmp_path: Path) -> None:
    root, outside = _setup(tmp_path)
    link, target, stop = root / "a.md", outside / "a.md", threading.Event()
    inside_text = b"# A\n\nInside the corpus.\n"

    def swapper() -> None:
        tmp_link, tmp_file = root / ".tmp-link", root / ".tmp-file"
        while not stop.is_set():
            tmp_link.symlink_to(target)
            os.replace(tmp_link, link)
            tmp_file.write_bytes(inside_text)
            os.replace(tmp_file, link)

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        read = 0
        for _ in range(300):
            sources, _ = _read_all([root])
            assert all(SECRET.encode() not in s.data for s in sources)
            read += sum(s.source == str(link) for s in sources)
    finally:
        stop.set()
        thread.join()
    assert read > 0  # the in-corpus file itself was still read when the race let it


def test_symlink_arguments_are_refused(tmp_path: Path) -> None:
    root, outside = _setup(tmp_path)
    (tmp_path / "args").mkdir()
    file_link = tmp_path / "args" / "passwd.md"
    file_link.symlink_to(outside / "a.md")
    dir_link = tmp_path / "args" / "etc"
    dir_link.symlink_to(outside, target_is_directory=True)
    docs, skipped = load([root / "a.md", file_link, dir_link])  # as `kenning index args/*` would pass them
    assert [d.source for d in docs] == [str(root / "a.md")]
    assert SECRET not in "".join(d.text for d in docs)
    reasons = {s.source: s.reason for s in skipped}
    assert set(reasons) == {str(file_link), str(dir_link)}
    assert all("is a symlink" in r and "name its target" in r for r in reasons.values())
    assert f"-> {outside}" in reasons[str(dir_link)]


def test_links_inside_the_input_still_work(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    (root / "alias.md").symlink_to(root / "sub" / "b.md")
    docs, skipped = load([root])
    assert sorted(Path(d.source).name for d in docs) == ["a.md", "alias.md", "b.md"] and not skipped


def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    os.mkfifo(root / "pipe.md")
    docs, skipped = load([root / "pipe.md", root])
    assert {s.source for s in skipped} == {str(root / "pipe.md")} and len(docs) == 2


# ------------------------------------------------------------------------------------------------ file names


def _bad_name_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    bad = os.fsdecode(b"caf\xe9 notes.md")  # Latin-1 bytes: not UTF-8; Python hands it over as a surrogate escape
    (root / bad).write_text("# Cafe\n\nThe espresso machine needs descaling monthly.\n", encoding="utf-8")
    (root / "z-after.md").write_text("# After\n\nThe garden hose is in the shed.\n", encoding="utf-8")
    with tarfile.open(root / "bundle.tar", "w") as tar:
        data = b"# Member\n\nThe bicycle pump lives by the door.\n"
        info = tarfile.TarInfo(os.fsdecode(b"docs/na\xefve.md"))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return root


def test_invalid_utf8_names_are_stored_readably(tmp_path: Path) -> None:
    root = _bad_name_corpus(tmp_path)
    docs, skipped = load([root])
    assert not skipped
    names = sorted(d.source for d in docs)
    assert names == sorted([f"{root}/bundle.tar!/docs/na\\xefve.md", f"{root}/caf\\xe9 notes.md", f"{root}/z-after.md"])
    assert all(d.source.encode("utf-8") for d in docs)  # storable
    assert {d.title for d in docs} == {"Cafe", "After", "Member"}


def test_invalid_utf8_name_indexes_with_the_rest_of_the_folder(tmp_path: Path, home: Path, embedder) -> None:
    root = _bad_name_corpus(tmp_path)
    eng = Engine(home, collection="names", config=KenningConfig.load(home), embedder=embedder)
    report = eng.index([root])
    assert report.total_documents == 3 and not report.skipped
    assert eng.search("espresso descaling", k=1)[0].source == f"{root}/caf\\xe9 notes.md"
    assert eng.search("garden hose shed", k=1)[0].source == f"{root}/z-after.md"
    assert eng.index([root]).documents_unchanged == 3  # the readable name is stable across runs


def test_input_folder_with_an_invalid_utf8_name(tmp_path: Path, home: Path, embedder) -> None:
    root = tmp_path / os.fsdecode(b"d\xe9p\xf4t")
    root.mkdir()
    (root / "a.md").write_text("# A\n\nThe kettle is descaled weekly.\n", encoding="utf-8")
    eng = Engine(home, collection="names", config=KenningConfig.load(home), embedder=embedder)
    assert eng.index([root]).total_documents == 1
    (root / "a.md").unlink()
    (root / "b.md").write_text("# B\n\nThe lawn is mowed on Sundays.\n", encoding="utf-8")
    report = eng.index([root])
    assert report.total_documents == 1 and report.documents_removed == 1
    assert eng.search("lawn mowed", k=1)[0].source == f"{tmp_path}/d\\xe9p\\xf4t/b.md"
