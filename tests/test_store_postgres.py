"""The PostgreSQL + pgvector store (kenning.store.postgres) passes the store contract suite, on a real temporary
cluster (tests/pg_cluster.py: a database of its own per test). Without PostgreSQL and pgvector these tests skip,
except under CI, where they fail and name scripts/postgres.sh (or the postgres extra, for a missing driver)."""

from __future__ import annotations

import importlib.util

import pytest

from .pg_cluster import pg_cluster, pg_url, unavailable  # noqa: F401  (pytest fixtures)
from .store_contract import StoreContract, StoreSpec


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_spec(self, pg_url: str) -> StoreSpec:  # noqa: F811
        if importlib.util.find_spec("psycopg") is None:
            unavailable(
                "the PostgreSQL driver is not installed", "pip install 'kenning[postgres]' (scripts/setup.sh dev)"
            )
        return StoreSpec(pg_url, pg_url)
