"""The SQLite store (kenning.index.Collection, the default) passes the store contract suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from .store_contract import StoreContract, StoreSpec


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store_spec(self, home: Path) -> StoreSpec:
        return StoreSpec("sqlite", str(home))
