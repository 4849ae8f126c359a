"""The demo's generated secrets in {IDP_VAR_DIR}/demo.json (owner-only): written by idp.demo when
it seeds the database, read by the sandbox, which must not import our store to do so."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def credentials_file(var_dir: str) -> Path:
    return Path(var_dir) / "demo.json"


def load_credentials(var_dir: str) -> dict[str, Any] | None:
    """The demo credentials, or None before `make run` has seeded anything."""
    path = credentials_file(var_dir)
    return json.loads(path.read_text()) if path.exists() else None


def save_credentials(var_dir: str, credentials: dict[str, Any]) -> None:
    """Write them with mode 0600 from the start: they hold a password and secrets."""
    path = credentials_file(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(credentials, fh, indent=2)
