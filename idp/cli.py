"""The `idp` command: serve, migrate, users, clients, terms, keys."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from idp.admin.actions import ROLES, ActionError, Actor, AdminActions
from idp.config import LANGUAGES, ConfigError, Settings, load_settings
from idp.protocol.keys import ALGORITHMS, generate_key
from idp.protocol.registration import (
    AUTH_METHODS,
    RegistrationError,
    validate_redirect_uri,
    validate_secret,
)
from idp.security import passwords
from idp.security.clock import SystemClock
from idp.security.secrets import new_secret
from idp.store import Store
from idp.store.users import DuplicateUser

T = TypeVar("T")
clock = SystemClock()


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = Store.connect(settings().database_url)
        try:
            return await fn(store)
        except OperationalError as exc:
            raise click.ClickException(
                f"the database is not ready ({exc.orig}); run `idp migrate` first"
            ) from None
        finally:
            await store.close()

    return asyncio.run(run())


def with_actions(fn: Callable[[AdminActions, Actor], Awaitable[T]]) -> T:
    """Run an admin action as the operator at this terminal; it writes the same audit row as
    the console does."""
    actor = Actor(f"cli:{getpass.getuser()}")

    async def run(store: Store) -> T:
        try:
            return await fn(AdminActions(store, clock), actor)
        except ActionError as exc:
            raise click.ClickException(str(exc)) from None

    return with_store(run)


def read_stdin_secret(what: str) -> str:
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.ClickException(f"no {what} on standard input")
    return value


@click.group()
def main() -> None:
    """The identity provider that links an energy supplier's customers to NOX Energy."""


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
def serve(host: str, port: int, workers: int) -> None:
    """Serve the identity provider with Hypercorn (uvloop workers)."""
    from hypercorn.config import Config
    from hypercorn.run import run

    settings()  # fail early, with a one-line error, on bad configuration
    config = Config()
    config.application_path = "idp.app:asgi_app()"
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.workers = workers
    config.worker_class = "uvloop"
    config.accesslog = None
    config.graceful_timeout = 5
    run(config)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sandbox-port", default=8100, show_default=True, type=click.IntRange(1, 65535))
def dev(host: str, port: int, sandbox_port: int) -> None:
    """Try it on one machine: migrate an SQLite database, seed demo data, serve the identity
    provider and the NOX sandbox, print what to open."""
    import logging
    import os

    from idp.devserver import run_dev

    os.environ.setdefault("IDP_ISSUER", f"http://127.0.0.1:{port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
def sandbox(
    port: int,
    idp_url: str,
    client_id: str,
    client_secret: str | None,
    api_key: str | None,
    misbehave: str | None,
    link_redirect_urls: tuple[str, ...],
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
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_sandbox_app(config, misbehave=misbehave)
    click.echo(f"NOX sandbox on http://127.0.0.1:{port}/ (identity provider {idp_url})")
    asyncio.run(serve(app, hypercorn_config("127.0.0.1", port)))


# ---- users ----------------------------------------------------------------------------------
@main.group()
def users() -> None:
    """Customers who can sign in."""


@users.command("add")
@click.option("--email", required=True)
@click.option("--supplier-user-id", required=True)
@click.option("--name")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def users_add(email: str, supplier_user_id: str, name: str | None, password_stdin: bool) -> None:
    """Add one customer."""
    password = read_stdin_secret("password")
    row = {"email": email, "supplier_user_id": supplier_user_id, "name": name, "password": password}
    try:
        clean = check_user_row(row)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    async def add(store: Store) -> None:
        try:
            await store.users.add(now=clock.now(), **clean)
        except DuplicateUser:
            raise click.ClickException(
                "a customer with this email or supplier_user_id exists"
            ) from None

    with_store(add)
    click.echo(f"added customer {supplier_user_id}")


def check_user_row(row: dict[str, Any]) -> dict[str, Any]:
    """Validate one customer record; raises ValueError with the reason."""
    email = str(row.get("email") or "").strip()
    supplier_user_id = str(row.get("supplier_user_id") or "").strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise ValueError("invalid email")
    if not supplier_user_id or len(supplier_user_id) > 255:
        raise ValueError("missing or too long supplier_user_id")
    password, password_hash = row.get("password"), row.get("password_hash")
    if password and password_hash:
        raise ValueError("give either password or password_hash, not both")
    if password_hash:
        if not passwords.is_known_hash(str(password_hash)):
            raise ValueError("password_hash is not in a recognised format")
        hashed = str(password_hash)
    elif password:
        if len(str(password)) < 8:
            raise ValueError("password shorter than 8 characters")
        hashed = passwords.hash_password(str(password))
    else:
        raise ValueError("missing password or password_hash")
    name = str(row.get("name") or "").strip() or None
    return {
        "email": email,
        "supplier_user_id": supplier_user_id,
        "name": name,
        "password_hash": hashed,
    }


def read_text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


def read_rows(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """Rows of a CSV file (with a header) or JSON lines, numbered from 1; a bad line is a str."""
    text = read_text(path, "utf-8-sig")
    rows: list[tuple[int, dict[str, Any] | str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((number, f"not valid JSON ({exc.msg})"))
                continue
            rows.append((number, value if isinstance(value, dict) else "not a JSON object"))
    else:
        reader = csv.DictReader(io.StringIO(text))
        for number, record in enumerate(reader, start=2):
            rows.append((number, dict(record)))
    return rows


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def users_import(file: Path) -> None:
    """Import customers from CSV or JSON lines (email, supplier_user_id, name, password or
    password_hash). Existing customers are skipped, so running it again duplicates nobody."""
    rows = read_rows(file)

    async def run(store: Store) -> tuple[int, int, list[str]]:
        imported, skipped, rejected = 0, 0, []
        for number, row in rows:
            if isinstance(row, str):
                rejected.append(f"line {number}: {row}")
                continue
            try:
                clean = await asyncio.to_thread(check_user_row, row)
            except ValueError as exc:
                rejected.append(f"line {number}: {exc}")
                continue
            if await store.users.exists(clean["email"], clean["supplier_user_id"]):
                skipped += 1
                continue
            try:
                await store.users.add(now=clock.now(), **clean)
                imported += 1
            except DuplicateUser:
                skipped += 1
        return imported, skipped, rejected

    imported, skipped, rejected = with_store(run)
    click.echo(f"imported {imported}, already present {skipped}, rejected {len(rejected)}")
    for reason in rejected:
        click.echo(f"  rejected {reason}")
    if rejected:
        sys.exit(1)


HANDOFF_MODE = click.option(
    "--handoff-mode",
    type=click.Choice(["backchannel", "form_post", "redirect"]),
    help="How the customer is handed over: POST to NOX plus the code redirect (backchannel), "
    "a form post to the redirect URI (form_post), or the plain code redirect (redirect, default).",
)
POST_LOGIN_REDIRECT_URL = click.option(
    "--post-login-redirect-url", help="NOX's POST /post-login-redirect URL (for backchannel)."
)


def check_handoff(mode: str, url: str | None) -> str:
    if mode == "backchannel" and not url:
        raise click.ClickException("--handoff-mode backchannel needs --post-login-redirect-url")
    if url:
        try:
            validate_redirect_uri(url)
        except RegistrationError as exc:
            raise click.ClickException(f"--post-login-redirect-url: {exc}") from None
    return mode


# ---- clients --------------------------------------------------------------------------------
@main.group()
def clients() -> None:
    """OAuth clients such as NOX."""


@clients.command("add")
@click.option("--client-id", required=True)
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeat for more than one.")
@click.option(
    "--auth-method",
    type=click.Choice(AUTH_METHODS),
    default="client_secret_basic",
    show_default=True,
)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Allowed scopes (default: openid profile email offline_access).",
)
@click.option("--secret-stdin", is_flag=True, help="Read the client secret from stdin.")
@HANDOFF_MODE
@POST_LOGIN_REDIRECT_URL
def clients_add(
    client_id: str,
    name: str,
    redirect_uris: tuple[str, ...],
    auth_method: str,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    secret_stdin: bool,
    handoff_mode: str | None,
    post_login_redirect_url: str | None,
) -> None:
    """Register a client. A generated secret is printed once; only its hash is kept."""
    try:
        uris = [validate_redirect_uri(u) for u in redirect_uris]
        secret = None
        if auth_method != "none":
            secret = (
                validate_secret(read_stdin_secret("secret")) if secret_stdin else new_secret(32)
            )
        elif secret_stdin:
            raise RegistrationError("a public client (--auth-method none) has no secret")
    except RegistrationError as exc:
        raise click.ClickException(str(exc)) from None
    kinds = list(grant_types) or (
        ["authorization_code", "refresh_token"] if uris else ["client_credentials"]
    )
    if auth_method == "none" and "client_credentials" in kinds:
        raise click.ClickException(
            "a public client (--auth-method none) cannot use client_credentials"
        )
    if "authorization_code" in kinds and not uris:
        raise click.ClickException("an authorization_code client needs at least one --redirect-uri")
    allowed = list(scopes) or ["openid", "profile", "email", "offline_access"]
    mode = check_handoff(handoff_mode or "redirect", post_login_redirect_url)

    async def add(actions: AdminActions, actor: Actor) -> None:
        await actions.create_client(
            actor,
            client_id=client_id,
            name=name,
            redirect_uris=uris,
            auth_method=auth_method,
            grant_types=kinds,
            scopes=allowed,
            secret=secret,
            handoff_mode=mode,
            post_login_redirect_url=post_login_redirect_url,
        )

    with_actions(add)
    click.echo(f"added client {client_id}")
    if secret and not secret_stdin:
        click.echo(f"client secret (shown once): {secret}")


@clients.command("update")
@click.argument("client_id")
@click.option("--name")
@HANDOFF_MODE
@POST_LOGIN_REDIRECT_URL
def clients_update(
    client_id: str,
    name: str | None,
    handoff_mode: str | None,
    post_login_redirect_url: str | None,
) -> None:
    """Change a client's name, hand-off mode or post-login-redirect URL."""

    if post_login_redirect_url:
        check_handoff("redirect", post_login_redirect_url)

    async def run(actions: AdminActions, actor: Actor) -> None:
        await actions.update_client(
            actor,
            client_id,
            name=name,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
        )

    with_actions(run)
    click.echo(f"updated client {client_id}")


@clients.group("redirect-uris")
def redirect_uris() -> None:
    """A client's registered redirect URIs (matched by exact string comparison)."""


@redirect_uris.command("add")
@click.argument("client_id")
@click.argument("uri")
def redirect_uris_add(client_id: str, uri: str) -> None:
    """Register one more redirect URI; it is accepted at /authorize at once."""
    with_actions(lambda actions, actor: actions.add_redirect_uri(actor, client_id, uri))
    click.echo(f"added {uri} to {client_id}")


@redirect_uris.command("remove")
@click.argument("client_id")
@click.argument("uri")
def redirect_uris_remove(client_id: str, uri: str) -> None:
    """Remove a redirect URI; requests using it get the error page at once."""
    with_actions(lambda actions, actor: actions.remove_redirect_uri(actor, client_id, uri))
    click.echo(f"removed {uri} from {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
def clients_rotate_secret(client_id: str) -> None:
    """A new client secret (printed once); the old one stops working."""
    secret = with_actions(lambda actions, actor: actions.rotate_secret(actor, client_id))
    click.echo(f"client secret (shown once): {secret}")


@clients.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Refuse the client everywhere until enabled again."""
    with_actions(lambda actions, actor: actions.set_client_disabled(actor, client_id, True))
    click.echo(f"disabled client {client_id}")


@clients.command("enable")
@click.argument("client_id")
def clients_enable(client_id: str) -> None:
    """Accept a disabled client again."""
    with_actions(lambda actions, actor: actions.set_client_disabled(actor, client_id, False))
    click.echo(f"enabled client {client_id}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    """List the registered clients."""

    async def run(store: Store) -> list[Any]:
        return await store.clients.all()

    found = with_store(run)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "client_id": c.client_id,
                        "name": c.name,
                        "auth_method": c.token_endpoint_auth_method,
                        "grant_types": c.grant_types,
                        "scopes": c.scopes,
                        "redirect_uris": c.redirect_uris,
                        "disabled": c.disabled,
                    }
                    for c in found
                ],
                indent=2,
            )
        )
        return
    for c in found:
        click.echo(
            f"{c.client_id}\t{c.name}\t{c.token_endpoint_auth_method}\t{' '.join(c.redirect_uris)}"
        )


# ---- customers --------------------------------------------------------------------------------
@main.group()
def customers() -> None:
    """Disable or enable customers, clear a sign-in throttle."""


async def customer_id(store: Store, supplier_user_id: str) -> int:
    user = await store.users.by_supplier_user_id(supplier_user_id)
    if user is None:
        raise click.ClickException(f"no customer {supplier_user_id!r}")
    return user.id


@customers.command("disable")
@click.argument("supplier_user_id")
def customers_disable(supplier_user_id: str) -> None:
    """The customer can no longer sign in; their sessions and tokens stop working."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        user_id = await customer_id(actions.store, supplier_user_id)
        await actions.set_customer_disabled(actor, user_id, True)

    with_actions(run)
    click.echo(f"disabled customer {supplier_user_id}")


@customers.command("enable")
@click.argument("supplier_user_id")
def customers_enable(supplier_user_id: str) -> None:
    """Let a disabled customer sign in again."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        user_id = await customer_id(actions.store, supplier_user_id)
        await actions.set_customer_disabled(actor, user_id, False)

    with_actions(run)
    click.echo(f"enabled customer {supplier_user_id}")


@customers.command("clear-throttle")
@click.argument("supplier_user_id")
def customers_clear_throttle(supplier_user_id: str) -> None:
    """Forget the customer's failed sign-ins."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        user_id = await customer_id(actions.store, supplier_user_id)
        await actions.clear_throttle(actor, user_id)

    with_actions(run)
    click.echo(f"cleared the sign-in throttle of {supplier_user_id}")


# ---- admins -----------------------------------------------------------------------------------
@main.group()
def admins() -> None:
    """Supplier admins of the web console at /admin."""


@admins.command("add")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def admins_add(email: str, role: str, password_stdin: bool) -> None:
    """Add an admin and print their TOTP enrolment URI (RFC 6238), once."""
    password = read_stdin_secret("password")
    name = settings().supplier_name
    uri = with_actions(lambda actions, actor: actions.add_admin(actor, email, role, password, name))
    click.echo(f"added admin {email} ({role})")
    click.echo(f"TOTP enrolment URI (shown once): {uri}")


# ---- outbox ----------------------------------------------------------------------------------
@main.group()
def outbox() -> None:
    """Hand-offs to NOX's POST /post-login-redirect."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--json", "as_json", is_flag=True)
def outbox_list(status: str | None, as_json: bool) -> None:
    """List hand-offs, newest first, with NOX's last answer."""

    async def run(store: Store) -> list[Any]:
        return await store.outbox.list(status)

    found = with_store(run)
    if as_json:
        click.echo(json.dumps([h.__dict__ for h in found], indent=2))
        return
    for h in found:
        answer = f"HTTP {h.last_status}" if h.last_status else (h.last_error or "-")
        click.echo(f"{h.id}\t{h.status}\t{h.attempts} attempts\t{h.client_id}\t{answer}")


@outbox.command("retry")
@click.argument("handoff_id")
def outbox_retry(handoff_id: str) -> None:
    """Queue a failed or waiting hand-off for delivery now (a running server sends it)."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        await actions.retry_handoff(actor, handoff_id)

    with_actions(run)
    click.echo(f"hand-off {handoff_id} queued")


# ---- links ----------------------------------------------------------------------------------
@main.group()
def links() -> None:
    """Devices linked to NOX (flow 2) and their history."""


@links.command("list")
@click.option("--json", "as_json", is_flag=True)
def links_list(as_json: bool) -> None:
    """Every linked device and its customer."""

    async def run(store: Store) -> list[Any]:
        return await store.links.all_devices()

    found = with_store(run)
    if as_json:
        click.echo(json.dumps([d.__dict__ for d in found], indent=2))
        return
    for d in found:
        click.echo(
            f"{d.supplier_user_id}\t{d.device_id}\t{d.brand}\t{d.asset_type}\t{d.nox_user_id}"
        )


@links.command("show")
@click.argument("supplier_user_id")
def links_show(supplier_user_id: str) -> None:
    """One customer's devices, and the history of every device they ever had."""

    async def run(store: Store) -> tuple[Any, list[Any], list[dict[str, Any]]]:
        user = await store.users.by_supplier_user_id(supplier_user_id)
        if user is None:
            raise click.ClickException(f"no customer {supplier_user_id!r}")
        devices = await store.links.devices_of(user.id)
        history = await store.links.history(supplier_user_id=supplier_user_id)
        return user, devices, history

    user, devices, history = with_store(run)
    click.echo(f"{user.supplier_user_id} ({user.email})")
    click.echo("devices:" if devices else "devices: none")
    for d in devices:
        click.echo(f"  {d.device_id}\t{d.brand}\t{d.asset_type}\tNOX user {d.nox_user_id}")
    click.echo("history:" if history else "history: none")
    for h in history:
        click.echo(f"  {h['at']}\t{h['action']}\t{h['device_id']}\t{h['brand'] or ''}")


# ---- terms ----------------------------------------------------------------------------------
@main.group()
def terms() -> None:
    """Terms and conditions."""


@terms.command("upload")
@click.option("--version", "version", required=True)
@click.option("--language", required=True, type=click.Choice(LANGUAGES))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def terms_upload(version: str, language: str, file: Path) -> None:
    """Store the Markdown text of a version in one language, not yet current."""
    body = terms_body(file, version)
    with_actions(lambda actions, actor: actions.upload_terms(actor, version, language, body))
    click.echo(f"uploaded terms {version} ({language}); publish it to make it current")


@terms.command("publish")
@click.option("--version", "version", required=True)
@click.option("--language", type=click.Choice(LANGUAGES), help="With FILE: its language.")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def terms_publish(version: str, language: str | None, file: Path | None) -> None:
    """Publish a version (all its uploaded texts); it becomes current and customers are asked
    again. With FILE and --language, upload that text first."""
    if file is not None and language is None:
        raise click.UsageError("--language is required with FILE")
    body = terms_body(file, version) if file is not None else None

    async def run(actions: AdminActions, actor: Actor) -> None:
        if body is not None and language is not None:
            await actions.upload_terms(actor, version, language, body)
        await actions.publish_terms(actor, version)

    with_actions(run)
    click.echo(f"published terms {version}" + (f" ({language})" if language else ""))


def terms_body(file: Path, version: str) -> str:
    body = read_text(file).strip()
    if not body:
        raise click.ClickException(f"{file} is empty")
    if len(version) > 64 or not version.strip():
        raise click.ClickException("--version must be 1 to 64 characters")
    return body


# ---- keys -----------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """ID token signing keys."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(ALGORITHMS), default="RS256", show_default=True)
def keys_rotate(alg: str) -> None:
    """Make a new signing key current; the old one stays in the JWKS until its tokens expired."""
    kid, jwk = generate_key(alg)

    async def run(store: Store) -> None:
        await store.keys.add_current(kid=kid, alg=alg, private_jwk=jwk, now=clock.now())

    with_store(run)
    click.echo(f"new current signing key {kid} ({alg})")


if __name__ == "__main__":
    main()
