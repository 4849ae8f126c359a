"""`idp config show`: the effective settings, where each comes from, secrets masked; `idp config
docs`: docs/settings.md, every setting documented."""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from typing import Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from idp.cli.base import main, settings
from idp.config import Settings

# Settings whose value is a secret: only whether they are set, and their length, is shown.
SECRETS = frozenset({"secret_key", "nox_api_key", "metrics_token", "smtp_password"})


@main.group()
def config() -> None:
    """The service's settings (IDP_* variables, the IDP_CONFIG file, defaults)."""


@config.command("show")
def config_show() -> None:
    """Print every setting in effect as IDP_NAME=value, with where it comes from and secrets
    masked; exit with the reason when the settings are refused (as `idp serve` would)."""
    effective = settings()
    from_file = file_keys()
    width = max(len(f.name) for f in fields(Settings)) + 4
    for f in fields(Settings):
        if f.name == "extra":
            continue
        name = f"IDP_{f.name.upper()}"
        if name in os.environ:
            source = "environment"
        elif f.name in from_file:
            source = "IDP_CONFIG file"
        else:
            source = "default"
        shown = f"{name}={shown_value(f.name, getattr(effective, f.name))}"
        click.echo(f"{shown:<{width + 40}}  # {source}")


@config.command("docs")
def config_docs() -> None:
    """Print docs/settings.md: every setting with its default and meaning, from the comments
    in idp/config.py (`idp config docs > docs/settings.md`)."""
    from idp.cli.settings_docs import render

    click.echo(render(main), nl=False)


# Settings holding a URL whose password (user:password@host) is masked.
URLS_WITH_PASSWORDS = frozenset({"database_url", "otel_endpoint"})


def shown_value(name: str, value: Any) -> str:
    if name in SECRETS:
        return f"(set, {len(value)} characters)" if value else "(not set)"
    if name in URLS_WITH_PASSWORDS and value:
        try:
            return make_url(value).render_as_string(hide_password=True)
        except ArgumentError:
            return "(set, not shown)"
    if value is None:
        return ""
    return str(value)


def file_keys() -> set[str]:
    """The settings the IDP_CONFIG file names (load_settings has read it already)."""
    path = os.environ.get("IDP_CONFIG")
    if not path:
        return set()
    with open(path, "rb") as fh:
        return set(tomllib.load(fh))
