"""Command-line parity with the admin console: the same actions, the same audit rows."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.store import Store
from tests.conftest import failed_handoff

REDIRECT_URI = "https://nox.example/cb"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}"
    runner = CliRunner(env={"IDP_DATABASE_URL": url, "IDP_VAR_DIR": str(tmp_path)})

    def run(*args: str, input: str | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(main, list(args), input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def query(fn):  # type: ignore[no-untyped-def]
        async def go():  # type: ignore[no-untyped-def]
            store = Store.connect(url)
            try:
                return await fn(store)
            finally:
                await store.close()

        return asyncio.run(go())

    run("migrate")
    run("clients", "add", "--client-id", "nox", "--name", "NOX", "--redirect-uri", REDIRECT_URI)
    run.query = query  # type: ignore[attr-defined]
    return run


def audit(cli, kind: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return cli.query(lambda store: store.events.recent(kind))  # type: ignore[no-any-return]


def test_admins_add_prints_a_totp_uri_once(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "admins",
        "add",
        "--email",
        "o@s.example",
        "--role",
        "owner",
        "--password-stdin",
        input="a long password\n",
    )
    assert "TOTP enrolment URI (shown once): otpauth://totp/" in result.output
    admin = cli.query(lambda store: store.admins.by_email("o@s.example"))
    assert admin.role == "owner" and admin.password_hash.startswith("$argon2id$")
    assert admin.totp_secret in result.output
    [event] = audit(cli, "admin.admin.created")
    assert event["actor"] == f"cli:{getpass.getuser()}"


def test_admins_add_refuses_a_short_password_and_a_bad_role(cli) -> None:  # type: ignore[no-untyped-def]
    short = cli(
        "admins",
        "add",
        "--email",
        "o@s.example",
        "--role",
        "owner",
        "--password-stdin",
        input="short\n",
        ok=False,
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    role = cli(
        "admins",
        "add",
        "--email",
        "o@s.example",
        "--role",
        "king",
        "--password-stdin",
        input="x" * 20,
        ok=False,
    )
    assert role.exit_code == 2
    assert cli.query(lambda store: store.admins.all()) == []


def test_redirect_uris_add_and_remove_write_the_console_audit_rows(cli) -> None:  # type: ignore[no-untyped-def]
    cli("clients", "redirect-uris", "add", "nox", "https://nox.example/cb2")
    client = cli.query(lambda store: store.clients.get("nox"))
    assert client.redirect_uris == [REDIRECT_URI, "https://nox.example/cb2"]
    [added] = audit(cli, "admin.redirect_uri.added")
    assert added["detail"] == {"client_id": "nox", "uri": "https://nox.example/cb2"}
    bad = cli("clients", "redirect-uris", "add", "nox", "http://nox.example/cb", ok=False)
    assert bad.exit_code == 1 and "https" in bad.output
    cli("clients", "redirect-uris", "remove", "nox", REDIRECT_URI)
    assert cli.query(lambda store: store.clients.get("nox")).redirect_uris == [
        "https://nox.example/cb2"
    ]
    assert audit(cli, "admin.redirect_uri.removed")
    missing = cli("clients", "redirect-uris", "remove", "nox", REDIRECT_URI, ok=False)
    assert missing.exit_code == 1


def test_post_logout_uris_add_and_remove(cli) -> None:  # type: ignore[no-untyped-def]
    out = "https://nox.example/signed-out"
    cli("clients", "post-logout-uris", "add", "nox", out)
    client = cli.query(lambda store: store.clients.get("nox"))
    assert (client.redirect_uris, client.post_logout_redirect_uris) == ([REDIRECT_URI], [out])
    [added] = audit(cli, "admin.post_logout_redirect_uri.added")
    assert added["detail"] == {"client_id": "nox", "uri": out}
    bad = cli("clients", "post-logout-uris", "add", "nox", "https://nox.example/#x", ok=False)
    assert bad.exit_code == 1 and "fragment" in bad.output
    listed = json.loads(cli("clients", "list", "--json").output)
    assert listed[0]["post_logout_redirect_uris"] == [out]
    cli("clients", "post-logout-uris", "remove", "nox", out)
    assert cli.query(lambda store: store.clients.get("nox")).post_logout_redirect_uris == []
    assert audit(cli, "admin.post_logout_redirect_uri.removed")
    missing = cli("clients", "post-logout-uris", "remove", "nox", out, ok=False)
    assert missing.exit_code == 1 and "not registered" in missing.output


def test_rotate_disable_enable_client(cli) -> None:  # type: ignore[no-untyped-def]
    from idp.security.secrets import digest

    result = cli("clients", "rotate-secret", "nox")
    secret = result.output.split("(shown once): ")[1].strip()
    assert cli.query(lambda store: store.clients.get("nox")).secret_hash == digest(secret)
    cli("clients", "disable", "nox")
    assert cli.query(lambda store: store.clients.get("nox")).disabled is True
    cli("clients", "enable", "nox")
    assert cli.query(lambda store: store.clients.get("nox")).disabled is False
    kinds = [e["kind"] for e in audit(cli, "admin.client")]
    assert kinds == [
        "admin.client.enabled",
        "admin.client.disabled",
        "admin.client.secret_rotated",
        "admin.client.created",
    ]


def test_customers_disable_enable_clear_throttle(cli) -> None:  # type: ignore[no-untyped-def]
    cli(
        "users",
        "add",
        "--email",
        "a@x.example",
        "--supplier-user-id",
        "C-1",
        "--password-stdin",
        input="a long password\n",
    )
    cli("customers", "disable", "C-1")
    assert cli.query(lambda store: store.users.by_supplier_user_id("C-1")).disabled is True
    cli("customers", "enable", "C-1")
    cli("customers", "clear-throttle", "C-1")
    kinds = [e["kind"] for e in audit(cli, "admin.customer")]
    assert kinds == [
        "admin.customer.throttle_cleared",
        "admin.customer.enabled",
        "admin.customer.disabled",
        "admin.customer.added",
    ]
    unknown = cli("customers", "disable", "nobody", ok=False)
    assert unknown.exit_code == 1 and "no customer" in unknown.output


def test_terms_upload_then_publish(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "t.md"
    text.write_text("# Voorwaarden\n")
    cli("terms", "upload", "--version", "v2", "--language", "nl", str(text))
    assert cli.query(lambda store: store.terms.current_version()) is None
    cli("terms", "publish", "--version", "v2")
    assert cli.query(lambda store: store.terms.current_version()) == "v2"
    assert [e["kind"] for e in audit(cli, "admin.terms")] == [
        "admin.terms.published",
        "admin.terms.uploaded",
    ]
    again = cli("terms", "publish", "--version", "v2", ok=False)
    assert again.exit_code == 1 and "no unpublished text" in again.output


def test_outbox_list_and_retry(cli) -> None:  # type: ignore[no-untyped-def]
    import json

    async def setup(store):  # type: ignore[no-untyped-def]
        await store.users.add(
            email="a@x.example", supplier_user_id="C-1", name=None, password_hash="x", now=0
        )
        await failed_handoff(store, "h1", 1)

    cli.query(setup)
    listed = json.loads(cli("outbox", "list", "--json").output)
    assert [(h["id"], h["status"], h["last_status"]) for h in listed] == [("h1", "failed", 400)]
    assert "h1\tfailed" in cli("outbox", "list", "--status", "failed").output
    cli("outbox", "retry", "h1")
    assert cli.query(lambda store: store.outbox.get("h1")).status == "pending"
    assert audit(cli, "admin.outbox.retried")[0]["detail"] == {"handoff_id": "h1"}
    assert cli("outbox", "retry", "nope", ok=False).exit_code == 1


def test_links_list_and_show(cli) -> None:  # type: ignore[no-untyped-def]
    from idp.records import LinkSession

    async def linked(store):  # type: ignore[no-untyped-def]
        user = await store.users.add(
            email="a@x.example", supplier_user_id="C-1", name=None, password_hash="x", now=0
        )
        session = LinkSession(
            id="ls1",
            link_token="t",
            user_id=user.id,
            supplier_user_id="C-1",
            asset_type="hp",
            language="nl",
            brand=None,
            link_url="https://nox/ui",
            client_id=None,
            return_url=None,
            created_at=0,
            expires_at=600,
            completed_at=None,
        )
        await store.links.add_session(session)
        await store.links.complete(
            session, nox_user_id="n1", brand="nibe", device_ids=["nibe-1"], connected_at=5, now=10
        )

    cli.query(linked)
    assert "C-1\tnibe-1\tnibe\thp\tn1" in cli("links", "list").output
    shown = cli("links", "show", "C-1").output
    assert "nibe-1" in shown and "linked" in shown
    assert cli("links", "show", "nobody", ok=False).exit_code == 1


# ---- changes that once left no trail: now the same actions, each with its audit row ----------
def rows(cli, kind: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The audit rows of `kind` as (kind, actor, ip, detail), newest first."""
    return [(e["kind"], e["actor"], e["ip"], e["detail"]) for e in audit(cli, kind)]


def test_users_add_writes_the_audit_row(cli) -> None:  # type: ignore[no-untyped-def]
    me = f"cli:{getpass.getuser()}"
    cli(
        "users", "add", "--email", "a@x.example", "--supplier-user-id", "C-1",
        "--password-stdin", input="a long password\n",
    )  # fmt: skip
    assert rows(cli, "admin.customer") == [
        ("admin.customer.added", me, None, {"supplier_user_id": "C-1"})
    ]
    refused = cli(
        "users", "add", "--email", "b@x.example", "--supplier-user-id", "C-1",
        "--password-stdin", input="a long password\n", ok=False,
    )  # fmt: skip
    assert refused.exit_code == 1 and "exists" in refused.output
    assert len(rows(cli, "admin.customer")) == 1  # a refused change leaves no row


def test_users_import_writes_one_audit_row(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    me = f"cli:{getpass.getuser()}"
    path = tmp_path / "customers.csv"
    path.write_text(
        "email,supplier_user_id,password\n"
        "a@x.example,C-1,a long password\n"
        "b@x.example,C-2,a long password\n"
        "not-an-email,C-3,a long password\n",
        encoding="utf-8",
    )
    first = cli("users", "import", str(path), ok=False)
    assert first.exit_code == 1 and "imported 2, already present 0, rejected 1" in first.output
    again = cli("users", "import", str(path), ok=False)
    assert "imported 0, already present 2, rejected 1" in again.output
    assert rows(cli, "admin.customer") == [
        ("admin.customer.imported", me, None, {"imported": 0, "already_present": 2, "rejected": 1}),
        ("admin.customer.imported", me, None, {"imported": 2, "already_present": 0, "rejected": 1}),
    ]


def test_keys_rotate_writes_the_audit_row(cli) -> None:  # type: ignore[no-untyped-def]
    me = f"cli:{getpass.getuser()}"
    first = cli("keys", "rotate").output.split()[4]
    second = cli("keys", "rotate", "--alg", "ES256").output.split()[4]
    assert rows(cli, "admin.keys") == [
        ("admin.keys.rotated", me, None, {"kid": second, "alg": "ES256"}),
        ("admin.keys.rotated", me, None, {"kid": first, "alg": "RS256"}),
    ]
    published = cli.query(lambda store: store.keys.published(0))
    assert published[0].kid == second


def test_clients_add_writes_the_consoles_audit_row(cli) -> None:  # type: ignore[no-untyped-def]
    """The fixture registered `nox` from the command line: the row the console would write."""
    assert rows(cli, "admin.client.created") == [
        (
            "admin.client.created",
            f"cli:{getpass.getuser()}",
            None,
            {
                "client_id": "nox",
                "name": "NOX",
                "redirect_uris": [REDIRECT_URI],
                "preset": None,
                "handoff_mode": "redirect",
                "post_login_redirect_url": None,
            },
        )
    ]


def test_admins_role_and_remove_keep_an_owner(cli) -> None:  # type: ignore[no-untyped-def]
    def add(email: str, role: str) -> None:
        cli("admins", "add", "--email", email, "--role", role, "--password-stdin",
            input="a long password\n")  # fmt: skip

    add("o@s.example", "owner")
    add("v@s.example", "viewer")
    last = cli("admins", "role", "o@s.example", "operator", ok=False)
    assert last.exit_code != 0 and "last owner" in last.output
    assert "last owner" in cli("admins", "remove", "o@s.example", "--yes", ok=False).output
    assert cli("admins", "remove", "v@s.example", ok=False).exit_code != 0  # needs --yes
    assert "no admin" in cli("admins", "role", "x@s.example", "owner", ok=False).output
    cli("admins", "role", "V@s.example", "owner")
    cli("admins", "remove", "o@s.example", "--yes")
    admins = cli.query(lambda store: store.admins.all())
    assert [(a.email, a.role) for a in admins] == [("v@s.example", "owner")]
    [changed] = audit(cli, "admin.admin.role_changed")
    assert changed["actor"] == f"cli:{getpass.getuser()}"
    assert changed["detail"] == {"email": "v@s.example", "role": "owner", "was": "viewer"}
    [removed] = audit(cli, "admin.admin.removed")
    assert removed["detail"] == {"email": "o@s.example", "role": "owner"}


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    config_file = tmp_path / "idp.toml"
    config_file.write_text('supplier_name = "Groene Stroom"\nauthorize_per_minute = 30\n')
    env = {
        "IDP_CONFIG": str(config_file),
        "IDP_VAR_DIR": str(tmp_path),
        "IDP_SECRET_KEY": "a-very-secret-key-0123456789",
        "IDP_NOX_API_KEY": "nox-api-key-abcdef",
        "IDP_METRICS_TOKEN": "metrics-token-0123456789",
        "IDP_DATABASE_URL": "postgresql+asyncpg://idp:hunter2-password@db.internal/idp",
        "IDP_AUTHORIZE_PER_MINUTE": "45",
    }
    result = CliRunner(env=env).invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    lines = {line.split("=", 1)[0]: line for line in result.output.splitlines()}
    for secret in ("a-very-secret", "nox-api-key", "metrics-token", "hunter2"):
        assert secret not in result.output
    assert lines["IDP_SECRET_KEY"].startswith("IDP_SECRET_KEY=(set, 28 characters)")
    assert lines["IDP_DATABASE_URL"].startswith("IDP_DATABASE_URL=postgresql+asyncpg://idp:***@")
    assert lines["IDP_SUPPLIER_NAME"].endswith("# IDP_CONFIG file")
    assert "IDP_AUTHORIZE_PER_MINUTE=45 " in lines["IDP_AUTHORIZE_PER_MINUTE"]  # env wins
    assert lines["IDP_AUTHORIZE_PER_MINUTE"].endswith("# environment")
    assert lines["IDP_CODE_SECONDS"].endswith("# default")
    assert len(lines) == len(set(lines)) and "IDP_EXTRA" not in lines


def test_config_show_refuses_what_serve_would_refuse(tmp_path: Path) -> None:
    env = {"IDP_VAR_DIR": str(tmp_path), "IDP_METRICS_TOKEN": "short"}
    result = CliRunner(env=env).invoke(main, ["config", "show"])
    assert result.exit_code != 0
    assert result.output.strip() == "Error: IDP_METRICS_TOKEN must be at least 16 characters"


def test_customers_export_and_erase(cli) -> None:  # type: ignore[no-untyped-def]
    cli(
        "users", "add", "--email", "ada@example.com", "--supplier-user-id", "cust-9",
        "--name", "Ada", "--password-stdin", input="a long enough password",
    )  # fmt: skip
    document = json.loads(cli("customers", "export", "cust-9").output)
    assert document["tables"]["profile"][0]["email"] == "ada@example.com"
    assert "password_hash" not in document["tables"]["profile"][0]
    unconfirmed = cli("customers", "erase", "cust-9", ok=False)
    assert unconfirmed.exit_code == 2  # --yes is required
    erased = cli("customers", "erase", "cust-9", "--yes")
    assert "erased customer cust-9; what is kept now carries erased-" in erased.output
    assert cli("customers", "export", "cust-9", ok=False).exit_code == 1  # no such customer
    kinds = [e["kind"] for e in audit(cli, "admin.customer.e")]
    assert sorted(kinds) == ["admin.customer.erased", "admin.customer.exported"]


def test_backchannel_logout_uri_is_set_checked_and_cleared(cli) -> None:  # type: ignore[no-untyped-def]
    uri = "https://nox.example/backchannel-logout"
    cli("clients", "update", "nox", "--backchannel-logout-uri", uri)
    assert cli.query(lambda store: store.clients.get("nox")).backchannel_logout_uri == uri
    bad = cli("clients", "update", "nox", "--backchannel-logout-uri", "http://x.example/", ok=False)
    assert bad.exit_code == 1 and "https" in bad.output
    cli("clients", "update", "nox", "--backchannel-logout-uri", "")
    assert cli.query(lambda store: store.clients.get("nox")).backchannel_logout_uri is None


def test_admins_invite_prints_a_link_and_reset_totp_another(cli) -> None:  # type: ignore[no-untyped-def]
    """`idp admins invite` gives the console's invitation (same audit row), and
    `idp admins reset-totp` the console's reset; each prints its one-time link."""
    import re

    invited = cli("admins", "invite", "New@S.example", "--role", "operator")
    assert "invited new@s.example (operator)" in invited.output
    assert re.search(r"link \(works once, shown once\): http\S+/admin/enrol\?token=[\w-]{43}\n",
                     invited.output)  # fmt: skip
    [row] = audit(cli, "admin.admin.invited")
    assert row["actor"] == f"cli:{getpass.getuser()}"
    assert (row["detail"]["email"], row["detail"]["role"]) == ("new@s.example", "operator")
    admin = cli.query(lambda store: store.admins.by_email("new@s.example"))
    assert (admin.status, admin.role) == ("invited", "operator")
    assert (
        "exists already" not in cli("admins", "invite", "new@s.example", "--role", "viewer").output
    )
    assert "--role" in cli("admins", "invite", "x@s.example", ok=False).output

    cli("admins", "add", "--email", "o@s.example", "--role", "owner", "--password-stdin",
        input="a long password\n")  # fmt: skip
    assert cli("admins", "reset-totp", "o@s.example", ok=False).exit_code != 0  # needs --yes
    reset = cli("admins", "reset-totp", "o@s.example", "--yes")
    assert "reset the authenticator of o@s.example" in reset.output
    assert "/admin/enrol?token=" in reset.output
    owner = cli.query(lambda store: store.admins.by_email("o@s.example"))
    assert (owner.status, owner.totp_secret) == ("totp_reset", "")
    [row] = audit(cli, "admin.admin.totp_reset")
    assert row["detail"]["email"] == "o@s.example"
    refused = cli("admins", "reset-totp", "new@s.example", "--yes", ok=False)
    assert "no enrolled admin" in refused.output
