"""Running the service: migrate, serve, dev (behind `make run`) and the NOX sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from idp.cli.base import main, settings
from idp.cli.servers import SERVERS
from idp.config import usable_cores
from idp.metrics import prepare as prepare_metrics


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from idp.store.migrate import upgrade

    upgrade(settings().database_url)
    click.echo("database is at the newest schema")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--server",
    type=click.Choice(list(SERVERS)),
    default=next(iter(SERVERS)),
    show_default=True,
    envvar="IDP_SERVER",
    help="The ASGI server (IDP_SERVER).",
)
def serve(host: str, port: int, workers: int, server: str) -> None:
    """Serve the identity provider: N worker processes, each with its own event loop."""
    import os

    found = settings()  # fail early, with a one-line error, on bad configuration
    if found.metrics_token:  # /metrics is on: every worker counts into files there
        prepare_metrics(Path(found.var_dir) / "metrics")
    os.environ.setdefault("IDP_PASSWORD_WORKERS", str(password_threads(usable_cores(), workers)))
    SERVERS[server](host, port, workers)


def password_threads(cores: int, workers: int) -> int:
    """Each worker's password-hashing threads: its share of the cores, at least one. N workers
    then hash on about as many threads as there are cores, and no worker holds more argon2
    buffers (12 MiB each by default) than it can keep busy."""
    return max(1, -(-cores // workers))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sandbox-port", default=8100, show_default=True, type=click.IntRange(1, 65535))
def dev(host: str, port: int, sandbox_port: int) -> None:
    """Try it on one machine: migrate an SQLite database, seed demo data, serve the identity
    provider and the NOX sandbox, print what to open."""
    import os

    from idp.devserver import run_dev

    os.environ.setdefault("IDP_ISSUER", f"http://127.0.0.1:{port}")
    asyncio.run(run_dev(settings(), host, port, sandbox_port))


@main.command()
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--idp-url", envvar="IDP_ISSUER", default="http://127.0.0.1:8000", show_default=True)
@click.option("--client-id", default="nox", show_default=True)
@click.option(
    "--client-secret", envvar="IDP_SANDBOX_CLIENT_SECRET", help="Default: ./var/demo.json"
)
@click.option("--api-key", envvar="IDP_NOX_API_KEY", help="Default: ./var/demo.json")
@click.option(
    "--misbehave",
    type=click.Choice(["ok", "503", "400", "slow"]),
    help="How POST /post-login-redirect answers (also settable at /_sandbox/control).",
)
@click.option(
    "--link-redirect-url",
    "link_redirect_urls",
    multiple=True,
    envvar="IDP_LINK_CALLBACK_URL",
    help="A redirect_url on the allow-list for link sessions (repeatable). "
    "Default: {idp-url}/link/callback",
)
@click.option(
    "--handoff-mode",
    type=click.Choice(["backchannel", "redirect", "form_post"]),
    default="backchannel",
    show_default=True,
    envvar="IDP_SANDBOX_HANDOFF_MODE",
    help="The supplier's hand-off mode for the client: with backchannel, flow 1 succeeds only "
    "once POST /post-login-redirect arrived for the state.",
)
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    envvar="IDP_SANDBOX_SMTP_PORT",
    help="Also run a mail catcher: SMTP on 127.0.0.1 at this port, shown at /mail.",
)
def sandbox(
    port: int,
    idp_url: str,
    client_id: str,
    client_secret: str | None,
    api_key: str | None,
    misbehave: str | None,
    link_redirect_urls: tuple[str, ...],
    handoff_mode: str,
    smtp_port: int | None,
) -> None:
    """Run the NOX sandbox: NOX's side of the flows, on this machine."""
    from hypercorn.asyncio import serve

    from idp.devserver import hypercorn_config
    from idp.sandbox.app import create_sandbox_app, sandbox_settings_from

    try:
        config = sandbox_settings_from(
            idp_url,
            f"http://127.0.0.1:{port}",
            settings().var_dir,
            client_id,
            client_secret,
            api_key,
            link_redirect_urls,
            handoff_mode,
            smtp_port,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_sandbox_app(config, misbehave=misbehave)
    click.echo(f"NOX sandbox on http://127.0.0.1:{port}/ (identity provider {idp_url})")
    asyncio.run(serve(app, hypercorn_config("127.0.0.1", port)))
