"""Alembic, driven from code so that `idp migrate` needs no alembic.ini. `/readyz` reads the
revisions without Alembic (idp/store/schema_version.py)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from idp.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision; running it again changes nothing."""
    command.upgrade(alembic_config(database_url), "head")


def alembic_head(database_url: str) -> str | None:
    """The newest revision as Alembic sees it (tests compare it with schema_version's)."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
