"""`idp dev` (behind `make run`): migrate, seed the demo data, serve, print what to open."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click
from hypercorn.asyncio import serve
from hypercorn.config import Config

from idp.app import create_app
from idp.config import Settings
from idp.demo import seed
from idp.security.clock import SystemClock
from idp.store import Store
from idp.store.migrate import upgrade


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 2
    return config


async def run_dev(settings: Settings, host: str, port: int) -> None:
    await asyncio.to_thread(upgrade, settings.database_url)  # alembic runs its own loop
    store = Store.connect(settings.database_url)
    try:
        credentials = await seed(
            store, settings.var_dir, "http://127.0.0.1:8100/callback", SystemClock().now()
        )
    finally:
        await store.close()
    announce(settings, credentials)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(create_app(settings), hypercorn_config(host, port), shutdown_trigger=stop.wait)


def announce(settings: Settings, credentials: dict[str, Any] | None) -> None:
    click.echo("")
    click.echo(f"  Identity provider:  {settings.issuer}")
    click.echo(f"  Discovery:          {settings.url('/.well-known/openid-configuration')}")
    if credentials:
        click.echo(f"  Demo customer:      {credentials['email']} / {credentials['password']}")
        click.echo(
            f"  Demo client:        {credentials['client_id']} / {credentials['client_secret']}"
        )
    click.echo("  Stop with Ctrl-C.")
    click.echo("")
