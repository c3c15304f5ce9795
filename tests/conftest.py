"""Shared fixtures: a fresh index home per test, small real corpora, and the packaged embedder loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reads or writes the user's ~/.kenning."""
    monkeypatch.setenv("KENNING_HOME", str(tmp_path / "kenning-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kenning-home"


@pytest.fixture(scope="session")
def embedder():
    from kenning.providers import get_embedder

    emb = get_embedder("minilm")
    emb.embed(["warm up"])
    return emb


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


def write_corpus(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


SMALL_CORPUS = {
    "postgres/vacuum.md": (
        "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples. In normal PostgreSQL operation, tuples that are "
        "deleted or obsoleted by an update are not physically removed from their table.\n\n"
        "## VACUUM FULL\n\nVACUUM FULL rewrites the entire contents of the table into a new disk file with no extra "
        "space, allowing unused space to be returned to the operating system. It takes an exclusive lock.\n"
    ),
    "postgres/index.md": (
        "# CREATE INDEX\n\nCREATE INDEX constructs an index on the specified column(s) of the specified relation. "
        "B-tree, hash, GiST, SP-GiST, GIN and BRIN index methods are available.\n"
    ),
    "docker/run.md": (
        "# docker run\n\nThe docker run command creates a writeable container layer over the specified image and "
        "starts it using the specified command.\n\n## Detached mode\n\nUse -d to start a container in the background.\n"
    ),
    "notes/cooking.txt": "A good risotto needs arborio rice, warm stock added slowly, and constant stirring.\n",
    "notes/garden.txt": "Tomatoes need full sun, regular watering and support from stakes or cages as they grow.\n",
}


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", SMALL_CORPUS)


@pytest.fixture
def engine(home: Path, small_corpus: Path, embedder):
    """An Engine over the small corpus, indexed."""
    from kenning import Engine

    eng = Engine(home, embedder=embedder)
    eng.index([small_corpus])
    yield eng
    eng.close()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
