"""Packaged models cut into part packages: assembled once, checked by SHA-256, never used when wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kenning.errors import ProviderError
from kenning.providers.llm import packaged
from kenning.providers.llm.packaged import PackagedModel, packaged_path


def _install_parts(root: Path, blobs: list[bytes]) -> tuple[tuple[str, str], ...]:
    """Real importable packages on sys.path, each with one data part, like the wheels on PyPI."""
    parts = []
    for i, blob in enumerate(blobs, start=1):
        pkg = root / f"kenning_test_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(blob)
        parts.append((pkg.name, f"data/part{i:02d}.bin"))
    return tuple(parts)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, str], ...]:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("KENNING_MODEL_CACHE", str(tmp_path / "cache"))
    return _install_parts(tmp_path / "site", [b"GGUF" + b"a" * 1000, b"b" * 500, b"c" * 7])


def _register(monkeypatch: pytest.MonkeyPatch, model: PackagedModel) -> None:
    monkeypatch.setitem(packaged.PACKAGED, model.name, model)


def test_parts_are_assembled_in_order_once(parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = b"GGUF" + b"a" * 1000 + b"b" * 500 + b"c" * 7
    model = PackagedModel("tiny", "test", parts, len(whole), hashlib.sha256(whole).hexdigest(), "pip install tiny")
    _register(monkeypatch, model)
    path = packaged_path("tiny")
    assert path.read_bytes() == whole and path.parent == tmp_path / "cache"
    assert sorted(p.name for p in path.parent.iterdir()) == [model.file_name]  # no temporary file left behind
    mtime = path.stat().st_mtime_ns
    assert packaged_path("tiny") == path and path.stat().st_mtime_ns == mtime  # not assembled again


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(parts, tmp_path: Path, monkeypatch) -> None:
    size = 1004 + 500 + 7
    _register(monkeypatch, PackagedModel("tiny", "test", parts, size, "0" * 64, "pip install tiny"))
    with pytest.raises(ProviderError, match=r"SHA-256 is [0-9a-f]{64}, expected 0{64}.*reinstall the parts"):
        packaged_path("tiny")
    assert not any((tmp_path / "cache").iterdir())


def test_a_part_of_the_wrong_size_is_named(parts, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, PackagedModel("tiny", "test", parts, 99, "0" * 64, "pip install tiny"))
    with pytest.raises(ProviderError, match=r"add up to 1,511 bytes, not 99.*pip install tiny"):
        packaged_path("tiny")


def test_no_room_for_the_model_says_so(parts, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, PackagedModel("tiny", "test", parts, 1511, "0" * 64, "pip install tiny"))

    class Full:
        free = 10

    monkeypatch.setattr(packaged.shutil, "disk_usage", lambda _p: Full)
    with pytest.raises(ProviderError, match="needs 0.0 GiB free.*KENNING_MODEL_CACHE"):
        packaged_path("tiny")
