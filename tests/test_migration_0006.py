"""Migration 0006 gives every existing token family its row, and marks exchanged codes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from idp.store.migrate import alembic_config


def test_upgrade_backfills_the_families_and_exchanged_codes(tmp_path: Path) -> None:
    path = tmp_path / "idp.sqlite3"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "0005")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (id, email, supplier_user_id, password_hash, disabled, created_at,"
            " updated_at) VALUES (1, 'a@example.com', 'cust-1', 'x', 0, 0, 0)"
        )
        for code_id in (7, 8):
            db.execute(
                "INSERT INTO authorization_codes (id, code_hash, client_id, user_id, redirect_uri,"
                " scope, auth_time, created_at, expires_at, used_at)"
                " VALUES (?, ?, 'nox', 1, 'https://x/cb', 'openid', 0, 0, 60, 10)",
                (code_id, f"h{code_id}"),
            )
        rows = [
            # family A: issued from code 7, rotated once, alive
            ("nox", 1, "openid", "a1", "r1", 100, 200, 900, None, 150, "A", 7),
            ("nox", 1, "openid", "a2", "r2", 150, 250, 950, None, None, "A", None),
            # family B: issued from code 8, revoked
            ("nox", 1, "openid", "b1", "s1", 300, 400, 999, 350, None, "B", 8),
        ]
        db.executemany(
            "INSERT INTO tokens (client_id, user_id, scope, access_token_hash,"
            " refresh_token_hash, issued_at, expires_at, refresh_expires_at, revoked_at,"
            " rotated_at, family_id, code_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    command.upgrade(config, "head")
    with sqlite3.connect(path) as db:
        families = db.execute(
            "SELECT id, client_id, code_id, created_at, last_issued_at, revoked_at"
            " FROM token_families ORDER BY id"
        ).fetchall()
        assert families == [("A", "nox", 7, 100, 150, None), ("B", "nox", 8, 300, 300, 350)]
        codes = db.execute(
            "SELECT id, exchanged_at, replayed_at FROM authorization_codes ORDER BY id"
        ).fetchall()
        assert codes == [(7, 10, None), (8, 10, None)]
    command.downgrade(config, "0005")
