"""`idp dev` (behind `make run`): migrate, seed demo data, then serve the identity provider and
the NOX sandbox together, configured for each other, until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import click
import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config

from idp.app import create_app
from idp.config import Settings
from idp.demo import seed
from idp.sandbox.app import create_sandbox_app, sandbox_settings_from
from idp.security.clock import SystemClock
from idp.security.logs import configure_logging
from idp.store import Store
from idp.store.migrate import upgrade

MAIL_CATCHER_OFFSET = 25  # the mail catcher listens at the sandbox's port + 25 (8125)


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 2
    return config


async def run_dev(settings: Settings, host: str, port: int, sandbox_port: int) -> None:
    if "IDP_LOG_FORMAT" not in os.environ:
        settings = settings.with_overrides(log_format="text")  # a person reads this log
    configure_logging(settings.log_format)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    await asyncio.to_thread(upgrade, settings.database_url)  # alembic runs its own loop
    store = Store.connect(settings.database_url)
    try:
        credentials = await seed(store, settings.var_dir, sandbox_url, SystemClock().now())
    finally:
        await store.close()
    if credentials and not settings.nox_api_key:
        settings = settings.with_overrides(nox_api_key=credentials["nox_api_key"])
    if credentials and "IDP_NOX_AUTH_BASE" not in os.environ:
        settings = settings.with_overrides(nox_auth_base=sandbox_url)  # NOX is the sandbox here
    if credentials and "IDP_NOX_API_BASE" not in os.environ:
        settings = settings.with_overrides(nox_api_base=sandbox_url)  # and its data API
    smtp_port = None
    if credentials and "IDP_SMTP_HOST" not in os.environ:
        # Customers' mail (password resets) goes to the sandbox's mail catcher, shown at /mail.
        smtp_port = sandbox_port + MAIL_CATCHER_OFFSET
        settings = settings.with_overrides(
            smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none"
        )
    sandbox = None
    if credentials:
        sandbox = create_sandbox_app(
            sandbox_settings_from(
                settings.issuer,
                sandbox_url,
                settings.var_dir,
                "nox",
                None,
                None,
                smtp_port=smtp_port,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers = [
        serve(create_app(settings), hypercorn_config(host, port), shutdown_trigger=stop.wait)
    ]
    if sandbox is not None:
        servers.append(
            serve(sandbox, hypercorn_config("127.0.0.1", sandbox_port), shutdown_trigger=stop.wait)
        )
    urls = [settings.url("/healthz")] + ([f"{sandbox_url}/healthz"] if sandbox else [])
    banner = announce_when_up(urls, settings, credentials, sandbox_url if sandbox else None)
    await asyncio.gather(*servers, banner)


async def announce_when_up(
    urls: list[str], settings: Settings, credentials: dict[str, Any] | None, sandbox_url: str | None
) -> None:
    """Print what to open once, when every server answers (not before they listen)."""
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(300):
            try:
                answers = [await http.get(url) for url in urls]
                if all(a.status_code == 200 for a in answers):
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        else:
            click.echo("The servers did not answer within 30 s; see the log above.", err=True)
            return
    announce(settings, credentials, sandbox_url)


def announce(
    settings: Settings, credentials: dict[str, Any] | None, sandbox_url: str | None
) -> None:
    click.echo("")
    if sandbox_url and credentials:
        click.echo(f"  Open the NOX sandbox:  {sandbox_url}/")
        click.echo(f"  Sign in as:            {credentials['email']} / {credentials['password']}")
        click.echo(f"  Link a device (flow 2): {settings.url('/account')}")
        if settings.smtp_host == "127.0.0.1":
            click.echo(f"  Mail to customers:     {sandbox_url}/mail")
        click.echo("")
    click.echo(f"  Identity provider:     {settings.issuer}")
    click.echo(f"  Discovery:             {settings.url('/.well-known/openid-configuration')}")
    click.echo(f"  Admin console:         {settings.url('/admin')}")
    click.echo("    first admin:         echo -n 'a long password' | .venv/bin/idp admins add \\")
    click.echo("                           --email you@example.com --role owner --password-stdin")
    if not credentials:
        click.echo("  (the database had customers of its own, so no demo data was added)")
    click.echo("  Stop both with Ctrl-C.")
    click.echo("")
