"""The `idp` command, run the way an operator runs it, on a fresh SQLite database per test.

The commands call asyncio.run themselves, so these tests are plain (not async) functions.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import pytest
from click.testing import CliRunner, Result
from passlib.hash import bcrypt, pbkdf2_sha256

from idp.cli import main
from idp.security import passwords
from idp.security.secrets import digest
from idp.store import Store
from idp.store.migrate import alembic_head
from idp.store.schema_version import current_revision

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
LEGACY_PASSWORD = "legacy-password-123"
REDIRECT_URI = "https://nox.example/oauth/callback"


# ---- helpers ----------------------------------------------------------------------------------
class Cli:
    """Runs `idp ...` against one database, with no IDP_* setting leaking in from outside."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("IDP_")}
        env.update({"IDP_DATABASE_URL": database_url, "IDP_ISSUER": "http://127.0.0.1:8000"})
        self.runner = CliRunner(env=env)

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        result = self.runner.invoke(main, list(args), input=input, env=env or None)
        # A failure must be a clean exit (click's one-line "Error: ..."), never a traceback.
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"`idp {' '.join(args)}` raised {result.exception!r}:\n{result.output}"
        )
        assert "Traceback" not in result.output, result.output
        return result

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, f"`idp {' '.join(args)}` failed:\n{result.output}"
        return result

    def query(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        async def run() -> T:
            store = Store.connect(self.database_url)
            try:
                return await fn(store)
            finally:
                await store.close()

        return asyncio.run(run())


def one_line_error(result: Result) -> str:
    """The single `Error: ...` line a failed command prints on stderr."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}"


@pytest.fixture
def cli(database_url: str) -> Cli:
    """The command on a migrated database."""
    cli = Cli(database_url)
    cli.ok("migrate")
    return cli


def add_user(cli: Cli, email: str, supplier_user_id: str, password: str = PASSWORD) -> Result:
    return cli(
        "users", "add", "--email", email, "--supplier-user-id", supplier_user_id,
        "--name", "Ada Lovelace", "--password-stdin", input=password + "\n",
    )  # fmt: skip


# ---- migrate and configuration ----------------------------------------------------------------
def test_migrate_twice(database_url: str) -> None:
    cli = Cli(database_url)
    for _ in range(2):
        result = cli.ok("migrate")
        assert "database is at the newest schema" in result.output
    revision = cli.query(lambda store: current_revision(store.engine))
    assert revision is not None and revision == alembic_head(database_url)


def test_insecure_issuer_is_refused(database_url: str) -> None:
    result = Cli(database_url)("migrate", IDP_ISSUER="http://example.com")
    assert result.exit_code != 0
    assert "IDP_ISSUER" in one_line_error(result)


def test_commands_before_migrate_say_so(database_url: str) -> None:
    result = Cli(database_url)("clients", "list")
    assert "idp migrate" in one_line_error(result)


def all_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> Iterator[list[str]]:
    yield list(path)
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))
        else:
            yield [*path, name]


@pytest.mark.parametrize("path", list(all_commands()), ids=lambda p: " ".join(p) or "idp")
def test_help(database_url: str, path: list[str]) -> None:
    result = Cli(database_url).ok(*path, "--help")
    assert result.output.startswith("Usage: ")


# ---- users ------------------------------------------------------------------------------------
def test_users_add_stores_an_argon2id_hash(cli: Cli) -> None:
    result = add_user(cli, "Ada@Example.com", "C-1")
    assert result.exit_code == 0, result.output
    assert "added customer C-1" in result.output
    assert PASSWORD not in result.output

    user = cli.query(lambda store: store.users.by_email("ada@example.com"))
    assert user is not None
    assert (user.email, user.supplier_user_id, user.name) == (
        "ada@example.com",
        "C-1",
        "Ada Lovelace",
    )
    assert user.password_hash.startswith("$argon2id$")
    assert passwords.verify(PASSWORD, user.password_hash) == passwords.Verification(True, None)


@pytest.mark.parametrize(
    ("email", "supplier_user_id"),
    [("ada@example.com", "C-2"), ("ADA@example.com", "C-2"), ("other@example.com", "C-1")],
    ids=["same email", "same email in other case", "same supplier_user_id"],
)
def test_users_add_duplicate(cli: Cli, email: str, supplier_user_id: str) -> None:
    assert add_user(cli, "ada@example.com", "C-1").exit_code == 0
    result = add_user(cli, email, supplier_user_id)
    assert result.exit_code == 1
    assert "exists" in one_line_error(result)
    assert cli.query(lambda store: store.users.count()) == 1


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("not-an-email", PASSWORD, "invalid email"),
        ("ada @example.com", PASSWORD, "invalid email"),
        ("ada@example.com", "short", "shorter than 8"),
        ("ada@example.com", "", "no password on standard input"),
    ],
)
def test_users_add_refuses(cli: Cli, email: str, password: str, reason: str) -> None:
    result = add_user(cli, email, "C-1", password)
    assert result.exit_code != 0
    assert reason in one_line_error(result)
    assert cli.query(lambda store: store.users.count()) == 0


CSV_FILE = """\
email,supplier_user_id,name,password,password_hash
plain@example.com,CSV-1,Plain,{password},
bcrypt@example.com,CSV-2,Bcrypt,,{bcrypt}
pbkdf2@example.com,CSV-3,Pbkdf2,,{pbkdf2}
nosupplier@example.com,,No Supplier Id,{password},
unknown@example.com,CSV-5,Unknown Hash,,md5:5f4dcc3b5aa765d61d8327deb882cf99
"""


def legacy_hashes() -> dict[str, str]:
    return {"bcrypt": bcrypt.hash(LEGACY_PASSWORD), "pbkdf2": pbkdf2_sha256.hash(LEGACY_PASSWORD)}


def rejected_lines(result: Result) -> dict[int, str]:
    found = re.findall(r"^  rejected line (\d+): (.+)$", result.stdout, flags=re.MULTILINE)
    return {int(number): reason for number, reason in found}


def test_users_import_csv(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV_FILE.format(password=PASSWORD, **legacy_hashes()), encoding="utf-8")

    result = cli("users", "import", str(path))
    assert result.exit_code == 1, result.output  # rows were rejected
    assert "imported 3, already present 0, rejected 2" in result.stdout
    assert rejected_lines(result) == {
        5: "missing or too long supplier_user_id",
        6: "password_hash is not in a recognised format",
    }

    def users(store: Store) -> Any:
        emails = ["plain@example.com", "bcrypt@example.com", "pbkdf2@example.com"]
        return asyncio.gather(*(store.users.by_email(e) for e in emails))

    plain, legacy_bcrypt, legacy_pbkdf2 = cli.query(users)
    assert plain.supplier_user_id == "CSV-1" and plain.password_hash.startswith("$argon2id$")
    assert legacy_bcrypt.password_hash.startswith("$2b$")  # kept as it came, until sign-in
    assert legacy_pbkdf2.password_hash.startswith("$pbkdf2-sha256$")
    assert cli.query(lambda store: store.users.count()) == 3

    again = cli("users", "import", str(path))
    assert again.exit_code == 1
    assert "imported 0, already present 3, rejected 2" in again.stdout
    assert cli.query(lambda store: store.users.count()) == 3


def test_imported_legacy_hashes_are_upgraded_at_sign_in(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV_FILE.format(password=PASSWORD, **legacy_hashes()), encoding="utf-8")
    cli("users", "import", str(path))
    for email in ("bcrypt@example.com", "pbkdf2@example.com"):
        user = cli.query(lambda store, email=email: store.users.by_email(email))
        assert passwords.verify("wrong password", user.password_hash) == passwords.Verification(
            False
        )
        verification = passwords.verify(LEGACY_PASSWORD, user.password_hash)
        assert verification.ok, email
        assert verification.new_hash is not None, f"{email}: no rehash on sign-in"
        assert verification.new_hash.startswith("$argon2id$")
        assert passwords.verify(LEGACY_PASSWORD, verification.new_hash) == passwords.Verification(
            True, None
        )


def test_users_import_json_lines(cli: Cli, tmp_path: Path) -> None:
    assert add_user(cli, "already@example.com", "J-0").exit_code == 0
    bcrypt_hash, pbkdf2_hash = legacy_hashes().values()
    lines = [
        {"email": "plain@example.com", "supplier_user_id": "J-1", "password": PASSWORD},
        {"email": "bcrypt@example.com", "supplier_user_id": "J-2", "password_hash": bcrypt_hash},
        {"email": "pbkdf2@example.com", "supplier_user_id": "J-3", "password_hash": pbkdf2_hash},
        {"email": "nosupplier@example.com", "password": PASSWORD},
        {"email": "unknown@example.com", "supplier_user_id": "J-5", "password_hash": "{SHA}abc"},
        "this line is not JSON",
        "",
        [1, 2, 3],
        {"email": "ALREADY@example.com", "supplier_user_id": "J-9", "password": PASSWORD},
        {"email": "both@example.com", "supplier_user_id": "J-10", "password": PASSWORD,
         "password_hash": bcrypt_hash},
        {"email": "short@example.com", "supplier_user_id": "J-11", "password": "short"},
        {"email": "nopassword@example.com", "supplier_user_id": "J-12", "name": "No Password"},
    ]  # fmt: skip
    path = tmp_path / "customers.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )

    result = cli("users", "import", str(path))
    assert result.exit_code == 1, result.output
    assert "imported 3, already present 1, rejected 7" in result.stdout
    rejected = rejected_lines(result)
    assert rejected == {
        4: "missing or too long supplier_user_id",
        5: "password_hash is not in a recognised format",
        6: rejected[6],
        8: "not a JSON object",
        10: "give either password or password_hash, not both",
        11: "password shorter than 8 characters",
        12: "missing password or password_hash",
    }
    assert rejected[6].startswith("not valid JSON")
    for email in ("plain@example.com", "bcrypt@example.com", "pbkdf2@example.com"):
        assert cli.query(lambda store, email=email: store.users.by_email(email)) is not None

    again = cli("users", "import", str(path))
    assert "imported 0, already present 4, rejected 7" in again.stdout
    assert cli.query(lambda store: store.users.count()) == 4


def test_users_import_all_good_exits_zero(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        f"email,supplier_user_id,password\nok@example.com,OK-1,{PASSWORD}\n", encoding="utf-8"
    )
    result = cli.ok("users", "import", str(path))
    assert "imported 1, already present 0, rejected 0" in result.stdout


@pytest.mark.parametrize(
    "password_hash",
    ["$2b$12$not-a-bcrypt-hash", "$argon2id$garbage", "$pbkdf2-sha256$x"],
    ids=["bcrypt", "argon2id", "pbkdf2_sha256"],
)
def test_users_import_rejects_a_malformed_hash(
    cli: Cli, tmp_path: Path, password_hash: str
) -> None:
    """A hash with a known prefix but a broken body can never verify: importing it would leave
    a customer who cannot sign in, with nothing said at import time."""
    path = tmp_path / "customers.jsonl"
    row = {"email": "broken@example.com", "supplier_user_id": "B-1", "password_hash": password_hash}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    result = cli("users", "import", str(path))
    assert "imported 0, already present 0, rejected 1" in result.stdout, (
        "BUG in idp/security/passwords.py is_known_hash: it only identifies the scheme by its "
        f"prefix, so the malformed hash {password_hash!r} was imported:\n{result.output}"
    )
    assert rejected_lines(result) == {1: "password_hash is not in a recognised format"}


@pytest.mark.parametrize("command", ["users import", "terms publish"])
def test_a_file_that_is_not_utf8_is_a_clean_error(cli: Cli, tmp_path: Path, command: str) -> None:
    if command == "users import":
        path = tmp_path / "customers.csv"
        path.write_bytes(b"email,supplier_user_id,password\nj\xe9@example.com,L-1,abcdefghij\n")
        args = ["users", "import", str(path)]
    else:
        path = tmp_path / "terms.md"
        path.write_bytes(b"# Voorwaarden\n\nCaf\xe9.\n")
        args = ["terms", "publish", "--version", "2026-01", "--language", "nl", str(path)]
    result = cli.runner.invoke(main, args)
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0, (
        f"BUG in idp/cli.py: `idp {command}` on a Latin-1 file crashes with "
        f"{result.exception!r} and a traceback instead of a one-line error"
    )
    assert "utf-8" in one_line_error(result).lower()


def test_a_bad_database_url_is_a_clean_error(database_url: str) -> None:
    result = Cli(database_url).runner.invoke(
        main, ["migrate"], env={"IDP_DATABASE_URL": "nonsense"}
    )
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0, (
        "BUG in idp/config.py/idp/cli.py: IDP_DATABASE_URL=nonsense makes `idp migrate` crash "
        f"with {result.exception!r} and a traceback instead of a one-line error"
    )
    assert "IDP_DATABASE_URL" in one_line_error(result)


# ---- clients ----------------------------------------------------------------------------------
def add_client(cli: Cli, *extra: str, input: str | None = None, client_id: str = "nox") -> Result:
    return cli("clients", "add", "--client-id", client_id, "--name", "NOX", *extra, input=input)


def test_clients_add_prints_a_generated_secret_once_and_keeps_its_digest(
    cli: Cli, tmp_path: Path
) -> None:
    result = add_client(cli, "--redirect-uri", REDIRECT_URI)
    assert result.exit_code == 0, result.output
    match = re.search(r"^client secret \(shown once\): (\S+)$", result.stdout, flags=re.MULTILINE)
    assert match, result.stdout
    secret = match.group(1)
    assert len(secret) >= 32

    client = cli.query(lambda store: store.clients.get("nox"))
    assert client is not None
    assert client.secret_hash == digest(secret) != secret
    assert client.redirect_uris == [REDIRECT_URI]
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ["authorization_code", "refresh_token"]
    for file in tmp_path.glob("idp.sqlite3*"):  # the database and its WAL
        assert secret.encode() not in file.read_bytes(), f"the secret is stored in {file.name}"


def test_clients_add_secret_from_stdin(cli: Cli) -> None:
    secret = "s" * 40
    result = add_client(cli, "--redirect-uri", REDIRECT_URI, "--secret-stdin", input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "shown once" not in result.output
    client = cli.query(lambda store: store.clients.get("nox"))
    assert client is not None and client.secret_hash == digest(secret)


def test_clients_add_refuses_a_short_secret(cli: Cli) -> None:
    result = add_client(cli, "--redirect-uri", REDIRECT_URI, "--secret-stdin", input="too-short\n")
    assert "at least 32 characters" in one_line_error(result)
    assert cli.query(lambda store: store.clients.get("nox")) is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://nox.example/callback", "must use https"),
        ("https://nox.example/callback#top", "fragment"),
        ("https://nox.example/*", "wildcard"),
        ("https://*.nox.example/callback", "wildcard"),
        ("/oauth/callback", "not an absolute"),
        ("nox.example/callback", "not an absolute"),
        ("https://user:pw@nox.example/callback", "credentials"),
        ("https://nox.example/call back", "spaces"),
    ],
)
def test_clients_add_refuses_a_bad_redirect_uri(cli: Cli, uri: str, reason: str) -> None:
    result = add_client(cli, "--redirect-uri", REDIRECT_URI, "--redirect-uri", uri)
    assert reason in one_line_error(result)
    assert cli.query(lambda store: store.clients.get("nox")) is None


def test_clients_add_allows_http_on_loopback(cli: Cli) -> None:
    uri = "http://127.0.0.1:8080/callback"
    assert add_client(cli, "--redirect-uri", uri).exit_code == 0
    client = cli.query(lambda store: store.clients.get("nox"))
    assert client is not None and client.redirect_uris == [uri]


def test_public_client_has_no_secret(cli: Cli) -> None:
    refused = add_client(
        cli, "--redirect-uri", REDIRECT_URI, "--auth-method", "none", "--secret-stdin",
        input="s" * 40 + "\n",
    )  # fmt: skip
    assert "no secret" in one_line_error(refused)
    assert cli.query(lambda store: store.clients.get("nox")) is None

    result = add_client(cli, "--redirect-uri", REDIRECT_URI, "--auth-method", "none")
    assert result.exit_code == 0, result.output
    assert "secret" not in result.output
    client = cli.query(lambda store: store.clients.get("nox"))
    assert client is not None and client.is_public and client.secret_hash is None


def test_public_client_cannot_use_client_credentials(cli: Cli) -> None:
    """RFC 6749 §4.4: client_credentials is for confidential clients only. The token endpoint
    refuses it for a public client (idp/oauth/models.py), so registration must refuse too
    rather than store a client that can never get a token."""
    result = add_client(cli, "--auth-method", "none", "--grant-type", "client_credentials")
    assert result.exit_code != 0, (
        "BUG in idp/cli.py clients_add: `--auth-method none --grant-type client_credentials` "
        "registers a public client_credentials client, which /token always refuses:\n"
        + result.output
    )
    implicit = add_client(cli, "--auth-method", "none", client_id="machine")
    assert implicit.exit_code != 0, (
        "BUG in idp/cli.py clients_add: `--auth-method none` without --redirect-uri or "
        f"--grant-type defaults to the client_credentials grant:\n{implicit.output}"
    )


def test_authorization_code_client_needs_a_redirect_uri(cli: Cli) -> None:
    result = add_client(cli, "--grant-type", "authorization_code")
    # The console's rule and its words (idp/admin/clients.py), not a copy of them in the CLI.
    assert "needs at least one redirect URI" in one_line_error(result)
    assert cli.query(lambda store: store.clients.get("nox")) is None


def test_clients_add_duplicate(cli: Cli) -> None:
    assert add_client(cli, "--redirect-uri", REDIRECT_URI).exit_code == 0
    result = add_client(cli, "--redirect-uri", REDIRECT_URI)
    assert "exists already" in one_line_error(result)


def test_clients_list(cli: Cli) -> None:
    assert json.loads(cli.ok("clients", "list", "--json").stdout) == []
    assert add_client(cli, "--redirect-uri", REDIRECT_URI).exit_code == 0
    machine = add_client(cli, "--scope", "introspect", client_id="machine")
    assert machine.exit_code == 0, machine.output

    listed = json.loads(cli.ok("clients", "list", "--json").stdout)
    assert listed == [
        {
            "client_id": "machine",
            "name": "NOX",
            "auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "scopes": ["introspect"],
            "redirect_uris": [],
            "post_logout_redirect_uris": [],
            "handoff_mode": "redirect",
            "post_login_redirect_url": None,
            "preset": None,
            "disabled": False,
        },
        {
            "client_id": "nox",
            "name": "NOX",
            "auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "email", "offline_access"],
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": [],
            "handoff_mode": "redirect",
            "post_login_redirect_url": None,
            "preset": None,
            "disabled": False,
        },
    ]
    assert not any("secret_hash" in c or "secret" in c for c in listed)
    text = cli.ok("clients", "list").stdout.splitlines()
    assert text == [
        "machine\tNOX\tclient_secret_basic\t",
        f"nox\tNOX\tclient_secret_basic\t{REDIRECT_URI}",
    ]


# ---- terms ------------------------------------------------------------------------------------
def test_terms_publish(cli: Cli, tmp_path: Path) -> None:
    v1, v2 = tmp_path / "terms-2026-01.md", tmp_path / "terms-2026-02.md"
    v1.write_text("# Voorwaarden\n\nVersie 1.\n", encoding="utf-8")
    v2.write_text("# Voorwaarden\n\nVersie 2.\n", encoding="utf-8")

    result = cli.ok("terms", "publish", "--version", "2026-01", "--language", "nl", str(v1))
    assert "published terms 2026-01 (nl)" in result.output
    assert cli.query(lambda store: store.terms.current_version()) == "2026-01"

    again = cli("terms", "publish", "--version", "2026-01", "--language", "nl", str(v2))
    assert "2026-01 already has a nl text" in one_line_error(again)
    text = cli.query(lambda store: store.terms.text("2026-01", ["nl"]))
    assert text is not None and "Versie 1." in text.body_md

    cli.ok("terms", "publish", "--version", "2026-01", "--language", "en", str(v1))
    cli.ok("terms", "publish", "--version", "2026-02", "--language", "nl", str(v2))
    assert cli.query(lambda store: store.terms.current_version()) == "2026-02"


def test_terms_publish_refuses(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("  \n", encoding="utf-8")
    assert "is empty" in one_line_error(
        cli("terms", "publish", "--version", "2026-01", "--language", "nl", str(empty))
    )
    body = tmp_path / "terms.md"
    body.write_text("# Terms\n", encoding="utf-8")
    assert cli("terms", "publish", "--version", "2026-01", "--language", "de", str(body)).exit_code
    assert cli("terms", "publish", "--version", "x" * 65, "--language", "nl", str(body)).exit_code
    assert cli.query(lambda store: store.terms.current_version()) is None


# ---- keys -------------------------------------------------------------------------------------
def rotate(cli: Cli, *extra: str) -> str:
    result = cli.ok("keys", "rotate", *extra)
    match = re.fullmatch(
        r"new published signing key (\S+) \((RS256|ES256)\); it signs from 7 minutes on\n",
        result.stdout,
    )
    assert match, result.stdout
    return match.group(1)


def test_keys_rotate(cli: Cli) -> None:
    first = rotate(cli)
    second = rotate(cli)
    assert first != second
    published = cli.query(lambda store: store.keys.published(0))
    assert [(k.kid, k.alg) for k in published] == [(second, "RS256"), (first, "RS256")]
    assert published[0].retired_at is None and published[1].retired_at is not None

    third = rotate(cli, "--alg", "ES256")
    published = cli.query(lambda store: store.keys.published(0))
    # The current key first; keys retired within the same second have no defined order.
    assert published[0].kid == third
    assert {k.kid for k in published[1:]} == {second, first}
    assert published[0].alg == "ES256" and published[0].private_jwk["crv"] == "P-256"


def test_keys_rotate_refuses_an_unknown_algorithm(cli: Cli) -> None:
    result = cli("keys", "rotate", "--alg", "HS256")
    assert result.exit_code == 2
    assert cli.query(lambda store: store.keys.published(0)) == []


def test_clients_add_preset_nox(cli: Cli) -> None:
    added = cli("clients", "add", "--preset", "nox", "--redirect-uri", REDIRECT_URI)
    assert added.exit_code == 0, added.output
    [nox] = json.loads(cli.ok("clients", "list", "--json").stdout)
    assert nox["client_id"] == "nox" and nox["name"] == "NOX Energy"
    assert nox["preset"] == "nox" and nox["handoff_mode"] == "backchannel"
    assert nox["post_login_redirect_url"] == "https://auth.nox.energy/post-login-redirect"
    refused = cli("clients", "update", "nox", "--handoff-mode", "redirect")
    assert "backchannel" in one_line_error(refused)


def test_clients_add_needs_an_id_and_name_without_a_preset(cli: Cli) -> None:
    result = cli("clients", "add", "--redirect-uri", REDIRECT_URI)
    assert "--client-id and --name are required" in one_line_error(result)


# ---- links held for an operator --------------------------------------------------------------
def test_links_held_approve_and_reject(cli: Cli) -> None:
    from idp.records import LinkSession

    add_user(cli, "ada@example.com", "cust-0001")
    add_user(cli, "bob@example.com", "cust-0002")

    async def hold(store: Store) -> None:
        for n, (user_id, supplier_user_id) in enumerate([(1, "cust-0001"), (2, "cust-0002")]):
            session = LinkSession(
                id=f"ls{n}", link_token=f"t{n}", user_id=user_id,
                supplier_user_id=supplier_user_id, asset_type="hp", language="en", brand=None,
                link_url="https://auth.nox.example/ui", client_id=None, return_url=None,
                created_at=10, expires_at=610, completed_at=None,
            )  # fmt: skip
            await store.links.add_session(session)
        ada, bob = await store.links.get_session("ls0"), await store.links.get_session("ls1")
        assert ada is not None and bob is not None
        await store.links.complete(
            ada, nox_user_id="n1", brand="daikin", device_ids=["pump"], connected_at=1, now=20
        )
        for held_id in ("h1", "h2"):
            await store.links.add_session(
                LinkSession(**{**bob.__dict__, "id": f"ls-{held_id}", "link_token": held_id})
            )
            bob = await store.links.get_session(f"ls-{held_id}")
            assert bob is not None
            await store.links.hold(
                bob, held_id=held_id, nox_user_id="n2", brand="daikin", device_ids=["pump"],
                connected_at=1, moved_from={"pump": "cust-0001"},
                reason="data_api_not_configured", now=30,
            )  # fmt: skip

    cli.query(hold)
    listed = cli.ok("links", "held").output.splitlines()
    assert listed == [
        "h1\tcust-0002\tpump\tpump from cust-0001\tdata_api_not_configured",
        "h2\tcust-0002\tpump\tpump from cust-0001\tdata_api_not_configured",
    ]
    assert cli.ok("links", "approve", "h1").output == "held link h1 approved\n"
    assert cli.ok("links", "reject", "h2").output == "held link h2 rejected\n"
    assert cli.ok("links", "held").output == ""
    assert (
        one_line_error(cli("links", "approve", "h1"))
        == "Error: There is no held link with this id."
    )

    async def state(store: Store) -> Any:
        devices = {d.device_id: d.supplier_user_id for d in await store.links.all_devices()}
        kinds = [e["kind"] for e in await store.events.recent()]
        return devices, kinds

    devices, kinds = cli.query(state)
    assert devices == {"pump": "cust-0002"}
    assert "admin.link.approved" in kinds and "admin.link.rejected" in kinds
