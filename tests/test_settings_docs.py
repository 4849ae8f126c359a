"""docs/settings.md documents every IDP_* setting, as `idp config docs` makes it from
idp/config.py; `idp config show` shows each setting, secrets masked."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.cli.configuration import SECRETS
from idp.cli.settings_docs import command_rows, render, rows
from idp.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "settings.md"
SETTINGS = {f"IDP_{f.name.upper()}" for f in fields(Settings) if f.name != "extra"}
# Names the code mentions that are not variables: the placeholder in `idp config show`'s help.
NOT_VARIABLES = {"IDP_NAME"}


def documented() -> set[str]:
    return set(re.findall(r"^\| `(IDP_[A-Z0-9_]+)` \|", DOC.read_text(), flags=re.M))


def test_the_doc_is_made_from_the_code() -> None:
    assert DOC.read_text() == render(main), "run: .venv/bin/idp config docs > docs/settings.md"


def test_every_setting_is_documented_and_nothing_else() -> None:
    commands = {variable for variable, _, _ in command_rows(main)}
    assert SETTINGS - documented() == set(), "settings missing from docs/settings.md"
    assert documented() - SETTINGS - commands - {"IDP_CONFIG"} == set(), "no such setting"


def test_every_setting_has_a_meaning() -> None:
    assert [variable for variable, _, meaning in rows() if not meaning] == []


def test_every_variable_the_code_names_is_documented() -> None:
    named = set()
    for path in (ROOT / "idp").rglob("*.py"):
        named |= set(re.findall(r"\bIDP_[A-Z0-9_]*[A-Z0-9]\b(?!_)", path.read_text()))
    assert named - NOT_VARIABLES - documented() == set()


def test_config_show_lists_every_setting_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IDP_VAR_DIR", str(tmp_path))
    values = {name: "s3cret-" + name.lower() + "-0123456789" for name in SECRETS}
    for name, value in values.items():
        monkeypatch.setenv(f"IDP_{name.upper()}", value)
    monkeypatch.setenv("IDP_OTEL_ENDPOINT", "https://otel:collector-pass@collector.example:4318")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = {line.split("=", 1)[0] for line in result.output.splitlines()}
    assert shown == SETTINGS
    assert "IDP_OTEL_ENDPOINT=https://otel:***@collector.example:4318" in result.output
    for value in [*values.values(), "collector-pass"]:
        assert value not in result.output
