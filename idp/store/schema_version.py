"""Which schema revision the database is at and which the code expects, read without Alembic.

`/readyz` asks both on every call. Alembic's own readers import Alembic, Mako and Pygments
(11 MiB in every server worker) and load every migration module per call; the migrations are a
straight line of files, so their newest revision is the one no other names as its predecessor.
`idp migrate` still runs Alembic (idp/store/migrate.py); a test checks both agree."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.config import PROJECT_ROOT

VERSIONS = PROJECT_ROOT / "migrations" / "versions"


def _assigned(path: Path) -> dict[str, str | None]:
    """The module-level `revision` and `down_revision` of one migration file."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            name, value = target.id, node.value
        else:
            continue
        if name in ("revision", "down_revision"):
            found[name] = ast.literal_eval(value)
    return found


@functools.cache
def head_revision(versions: Path = VERSIONS) -> str:
    """The newest migration's revision. Raises when the files do not form one line."""
    revisions: set[str] = set()
    predecessors: set[str | None] = set()
    for path in versions.glob("*.py"):
        found = _assigned(path)
        if found.get("revision"):
            revisions.add(str(found["revision"]))
            predecessors.add(found.get("down_revision"))
    heads = revisions - predecessors
    if len(heads) != 1:
        raise RuntimeError(f"migrations/versions has {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database was migrated to; None before the first `idp migrate`."""

    def read(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
