"""The schema revisions /readyz compares, read without Alembic, agree with Alembic's, and a
server worker's app does not import Alembic at all (11 MiB per worker)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from idp.store.migrate import alembic_head, upgrade
from idp.store.schema_version import current_revision, head_revision


def test_the_head_is_alembics_head(tmp_path: Path) -> None:
    assert head_revision() == alembic_head(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")


async def test_current_revision_before_and_after_migrating(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    engine = create_async_engine(url)
    try:
        assert await current_revision(engine) is None
        await asyncio.to_thread(upgrade, url)  # Alembic runs a loop of its own
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def migration(folder: Path, revision: str, down: str | None) -> None:
    body = f'revision: str = "{revision}"\ndown_revision: str | None = {down!r}\n'
    (folder / f"{revision}_x.py").write_text(body)


def test_a_line_of_files_has_one_head_and_a_fork_is_refused(tmp_path: Path) -> None:
    migration(tmp_path, "0001", None)
    migration(tmp_path, "0002", "0001")
    assert head_revision(tmp_path) == "0002"
    fork = tmp_path / "fork"
    fork.mkdir()
    for revision, down in [("0001", None), ("0002", "0001"), ("0003", "0001")]:
        migration(fork, revision, down)
    with pytest.raises(RuntimeError, match="2 heads"):
        head_revision(fork)


def test_the_served_app_does_not_import_alembic(tmp_path: Path) -> None:
    code = (
        "import sys, idp.app\n"
        "app = idp.app.asgi_app()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))"
    )
    env = {
        "IDP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}",
        "IDP_ISSUER": "http://127.0.0.1:8000",
        "IDP_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
