"""Migration 0004 keeps what is known about each device's first link."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from idp.store.migrate import alembic_config


def test_upgrade_backfills_the_first_link_from_the_history(tmp_path: Path) -> None:
    path = tmp_path / "idp.sqlite3"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "0003")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (id, email, supplier_user_id, password_hash, disabled, created_at,"
            " updated_at) VALUES (1, 'a@example.com', 'cust-1', 'x', 0, 0, 0)"
        )
        db.execute(
            "INSERT INTO devices VALUES ('pump', 1, 'cust-1', 'n1', 'daikin', 'hp', 5, 300, 'ls2')"
        )
        for at, action in ((100, "linked"), (300, "linked")):
            db.execute(
                "INSERT INTO device_history (at, device_id, action, supplier_user_id)"
                " VALUES (?, 'pump', ?, 'cust-1')",
                (at, action),
            )
    command.upgrade(config, "head")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM device_first_links").fetchall() == [("pump", 100, 5)]
        assert db.execute("SELECT first_linked_at FROM devices").fetchall() == [(100,)]
    command.downgrade(config, "0003")
