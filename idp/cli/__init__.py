"""The `idp` command. Each module adds its commands to the one group."""

from idp.cli import clients, configuration, people, records, run  # noqa: F401 - they register their commands
from idp.cli.base import main

__all__ = ["main"]
