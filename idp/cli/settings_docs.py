"""docs/settings.md, made from idp/config.py: every IDP_* setting with its default and meaning
(the comment above the field, or beside it), then the variables `idp` commands read."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import MISSING, fields
from pathlib import Path

import click

from idp import config
from idp.config import PROJECT_ROOT, Settings

HEADER = """# Settings

Every setting is an environment variable `IDP_<NAME>`, or `<name>` in lower case in the TOML
file `IDP_CONFIG` names (the variables win). `idp config show` prints the settings in effect,
secrets masked. This file is made from the comments in `idp/config.py` by `idp config docs >
docs/settings.md`; `tests/test_settings_docs.py` fails when the two differ.

| variable | default | meaning |
|---|---|---|
"""
CONFIG_FILE_ROW = (
    "IDP_CONFIG",
    "",
    "a TOML file with the settings below in lower case; an unknown name in it is refused",
)
NOT_SETTINGS = ("extra",)  # a field load_settings does not read from the environment


def field_comments(source: str) -> dict[str, str]:
    """Each Settings field's comment: the block of comment lines right above it, else the one
    at the end of its line."""
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    lines = source.splitlines()
    [settings] = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "Settings"
    ]
    found = {}
    for node in settings.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        above: list[str] = []
        number = node.lineno - 1
        while number in comments and lines[number - 1].lstrip().startswith("#"):
            above.insert(0, comments[number])
            number -= 1
        trailing = comments.get(node.end_lineno or node.lineno, "")
        found[node.target.id] = " ".join(above) or trailing
    return found


def shown_default(value: object) -> str:
    if value is None or value == "":
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace(str(PROJECT_ROOT), ".")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, in idp/config.py's order."""
    comments = field_comments(Path(config.__file__).read_text())
    found = [CONFIG_FILE_ROW]
    for f in fields(Settings):
        if f.name in NOT_SETTINGS:
            continue
        if f.default is not MISSING:
            default = shown_default(f.default)
        else:
            default = "(computed)"
        found.append((f"IDP_{f.name.upper()}", default, comments.get(f.name, "")))
    return found


def command_rows(group: click.Group) -> list[tuple[str, str, str]]:
    """The IDP_* variables `idp` commands read as options, other than the settings."""
    settings = {f"IDP_{f.name.upper()}" for f in fields(Settings)}
    found = {}
    for name, command in sorted(group.commands.items()):
        for param in command.params:
            for variable in [param.envvar] if isinstance(param.envvar, str) else []:
                if variable.startswith("IDP_") and variable not in settings:
                    help_text = getattr(param, "help", None) or ""
                    found[variable] = (variable, "", f"`idp {name}`: {help_text}".strip())
    return sorted(found.values())


def render(group: click.Group) -> str:
    out = [HEADER]
    for variable, default, meaning in rows():
        shown = f"`{cell(default)}`" if default and default != "(computed)" else default
        out.append(f"| `{variable}` | {shown} | {cell(meaning)} |\n")
    out.append("\n## Read by commands\n\n| variable | meaning |\n|---|---|\n")
    for variable, _, meaning in command_rows(group):
        out.append(f"| `{variable}` | {cell(meaning)} |\n")
    return "".join(out)
