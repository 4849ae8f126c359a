"""bench/scale.py's data set fits the schema, and the hot lookups it explains use an index.

A smoke test of the bench scripts (they are run by `make bench`, not by CI) that is also a guard:
dropping the index behind one of the hot lookups makes it fail. Plans only, no timing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest

from idp.store.migrate import upgrade

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import query_plans  # noqa: E402
import scale_data  # noqa: E402

# Tables that grow with the customers; a few-row table (clients, keys) may be scanned.
GROWING = {"tokens", "users", "login_sessions", "auth_sessions", "authorization_codes",
           "terms_acceptances", "devices", "throttles"}  # fmt: skip


@pytest.fixture
def large_db(tmp_path: Path) -> Path:
    path = tmp_path / "scale.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO clients (client_id, name, token_endpoint_auth_method, grant_types, "
            "scopes, disabled, handoff_mode, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ("nox", "NOX", "client_secret_basic", "[]", "[]", 0, "redirect", 0, 0),
        )
        db.execute(
            "INSERT INTO client_redirect_uris (client_id, uri) VALUES ('nox', 'http://x/cb')"
        )
        db.commit()
    data = scale_data.tables(3000, 2, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", 2_000_000_000)
    scale_data.fill_sqlite(str(path), data, lambda _: None)
    return path


def test_every_table_of_the_data_set_is_written_in_full(large_db: Path) -> None:
    with contextlib.closing(sqlite3.connect(large_db)) as db:
        counts = query_plans.sqlite_counts(db)
    assert counts["users"] == 3000
    assert counts["tokens"] == 6000
    assert counts["throttles"] == 30
    assert counts["auth_sessions"] == counts["authorization_codes"] == 300


def test_the_named_hot_lookups_find_their_row_through_an_index(large_db: Path) -> None:
    with contextlib.closing(sqlite3.connect(large_db)) as db:
        for name, sql in query_plans.named().items():
            assert db.execute(sql).fetchone() is not None, name
            plan = query_plans.sqlite_plan(db, sql)
            scanned = {t for step in plan if (t := query_plans.scanned_table(step))}
            assert not scanned & GROWING, (name, plan)


def test_a_full_scan_is_recognised_in_both_databases_plans() -> None:
    assert query_plans.scanned_table("SCAN tokens") == "tokens"
    assert query_plans.scanned_table("SCAN tokens USING INDEX ix_tokens_family_id") is None
    assert query_plans.scanned_table("SEARCH users USING INDEX uq (email=?)") is None
    assert query_plans.scanned_table("Seq Scan on throttles  (cost=0.00..4.50)") == "throttles"
    assert query_plans.scanned_table("Index Scan using uq_users_email on users") is None


def test_repeats_of_one_statement_count_once() -> None:
    a = "SELECT * FROM tokens WHERE access_token_hash = 'ab''c' AND expires_at > 17"
    b = "SELECT * FROM tokens WHERE access_token_hash = 'zz' AND expires_at > 99"
    assert query_plans.normalize(a) == query_plans.normalize(b)
    assert query_plans.normalize("x IN (1, 2, 3)") == query_plans.normalize("x IN (4, 5)")
