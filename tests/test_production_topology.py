"""The production topology of docs/deploy.md, on this machine: one PostgreSQL database, two
`idp serve` instances on it, the NOX sandbox, and Debian's nginx terminating TLS (with
deploy/nginx/idp.conf.template, the file the docs and compose.yaml use) and balancing over the
instances. Flow 1 over https, Secure cookies and HSTS, the customer's address (not nginx's) in
the audit rows, one hand-off per code whichever instance delivers it, one sign-in throttle for
both, a key rotation seen by both, and an instance killed in the middle of a customer's flow.

Needs nginx and IDP_TEST_TOPOLOGY_POSTGRES_URL (a database of its own, emptied here; .ci/run
creates it)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from idp.config import PROJECT_ROOT
from idp.oauth.keys import KEY_REFRESH_SECONDS
from idp.security import passwords
from idp.security.secrets import digest
from idp.store import Store
from tests.e2e import (
    API_KEY,
    CLIENT_SECRET,
    IDP,
    PASSWORD,
    Customer,
    Process,
    drop_postgres_schema,
    eventually,
    free_port,
    run_in_thread,
    server_option,
)

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DATABASE_URL = os.environ.get("IDP_TEST_TOPOLOGY_POSTGRES_URL", "")
TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "idp.conf.template"
SECRET_KEY = "topology-secret-key-0123456789-abcdef"
FREE_FAILURES = 5  # IDP_SIGNIN_FREE_FAILURES (default)
# The customers' browsers connect from loopback addresses other than nginx's 127.0.0.1, so an
# address in an audit row tells the customer from the proxy.
CUSTOMER_IP = "127.0.0.2"
FORGED = "203.0.113.9"  # what a browser writes into X-Forwarded-For itself: never believed
CUSTOMERS = [(f"customer{n}@example.com", f"cust-{n:04d}") for n in range(1, 7)]


# ---- the pieces ----------------------------------------------------------------------------------
def make_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it signed for 127.0.0.1: (CA, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: str, public: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("topology test CA", "topology test CA", ca_key.public_key(), ca_key, ca=True)
    cert = build("127.0.0.1", "topology test CA", key.public_key(), ca_key, ca=False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].chmod(0o600)
    return paths


def fill(template: str, values: dict[str, str]) -> str:
    """envsubst, as the nginx image runs it: ${NAME} for the names given; nginx's own $vars stay."""
    filled = re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values[m.group(1)], template)
    assert "${" not in filled
    return filled


@dataclass
class Instance(Process):
    """`idp serve` in a process group of its own, so that the whole instance (its workers
    included) can be frozen or killed at once, as when its machine dies."""

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready:\n{self.log()}")

    def signal_all(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal_all(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(5)


@dataclass
class Topology:
    tmp: Path
    instances: list[Instance] = field(default_factory=list)
    sandbox: Process = field(init=False)
    nginx: Process = field(init=False)
    issuer: str = field(init=False)
    http_url: str = field(init=False)
    ca: Path = field(init=False)
    access_log: Path = field(init=False)
    env: dict[str, str] = field(init=False)  # what every instance (and the `idp` command) reads
    rotated: tuple[str, float] = ("", 0.0)  # the kid `idp keys rotate` made, and when

    def __post_init__(self) -> None:
        https_port, http_port, sandbox_port = free_port(), free_port(), free_port()
        self.issuer = f"https://127.0.0.1:{https_port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        self.ca, cert, key = make_certificate(self.tmp)
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.env = {
            **os.environ,
            "IDP_ISSUER": self.issuer,
            "IDP_DATABASE_URL": DATABASE_URL,
            "IDP_SECRET_KEY": SECRET_KEY,
            "IDP_TRUSTED_PROXIES": "127.0.0.1/32",
            "IDP_NOX_API_KEY": API_KEY,
            "IDP_NOX_AUTH_BASE": sandbox_url,
            "IDP_NOX_API_BASE": sandbox_url,
            "IDP_HANDOFF_TIMEOUT_SECONDS": "1",
            "IDP_HANDOFF_POLL_SECONDS": "0.2",
            "IDP_HANDOFF_RETRY_BASE_SECONDS": "0.5",
            "IDP_SANDBOX_CLIENT_SECRET": CLIENT_SECRET,
            "IDP_PASSWORD_WORKERS": "1",
        }
        for name, workers in (("a", 2), ("b", 1)):  # `idp serve --workers N` on each machine
            port, var = free_port(), self.tmp / name
            var.mkdir()
            argv = [IDP, "serve", "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--workers", str(workers), *server_option()]
            env = {**self.env, "IDP_VAR_DIR": str(var)}
            self.instances.append(Instance(name, argv, env, port, self.tmp / f"{name}.log"))
        sandbox_env = {**self.env, "IDP_VAR_DIR": str(self.tmp), "SSL_CERT_FILE": str(self.ca)}
        self.sandbox = Process(
            "sandbox",
            [IDP, "sandbox", "--port", str(sandbox_port), "--idp-url", self.issuer],
            sandbox_env,
            sandbox_port,
            self.tmp / "sandbox.log",
        )
        self.access_log = self.tmp / "nginx-access.log"
        site = fill(
            TEMPLATE.read_text(),
            {
                "IDP_UPSTREAM_1": f"127.0.0.1:{self.instances[0].port}",
                "IDP_UPSTREAM_2": f"127.0.0.1:{self.instances[1].port}",
                "IDP_PUBLIC_URL": self.issuer,
                "IDP_SERVER_NAME": "127.0.0.1",
                "IDP_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
                "IDP_HTTP_LISTEN": f"127.0.0.1:{http_port}",
                "IDP_TLS_CERT": str(cert),
                "IDP_TLS_KEY": str(key),
                "IDP_ACCESS_LOG": str(self.access_log),
            },
        )
        (self.tmp / "idp.conf").write_text(site)
        # What a distribution's nginx.conf provides, here with every path under tmp.
        temp = {k: self.tmp / "nginx" / k for k in ("client_body", "proxy", "fastcgi", "uwsgi")}
        temp["scgi"] = self.tmp / "nginx" / "scgi"
        for path in temp.values():
            path.mkdir(parents=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers read tmp's 0700 dirs
        main = (
            f"{user}daemon off;\nworker_processes 1;\npid {self.tmp / 'nginx.pid'};\n"
            f"error_log {self.tmp / 'nginx-error.log'} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
            + f"    access_log off;\n    include {self.tmp / 'idp.conf'};\n}}\n"
        )
        (self.tmp / "nginx.conf").write_text(main)
        self.nginx = Process(
            "nginx",
            [NGINX, "-c", str(self.tmp / "nginx.conf"), "-e", str(self.tmp / "nginx-error.log")],
            dict(os.environ),
            https_port,
            self.tmp / "nginx.log",
        )

    # -- lifecycle
    def prepare_database(self) -> None:
        """From nothing, as an operator would: an empty database, `idp migrate`, the data."""
        drop_postgres_schema(DATABASE_URL)
        subprocess.run([IDP, "migrate"], env=self.env, check=True, capture_output=True)
        run_in_thread(lambda: asyncio.run(self.seed()))

    async def seed(self) -> None:
        store = Store.connect(DATABASE_URL)
        try:
            hashed = passwords.hash_password(PASSWORD)
            for email, supplier_user_id in CUSTOMERS:
                await store.users.add(
                    email=email,
                    supplier_user_id=supplier_user_id,
                    name=supplier_user_id,
                    password_hash=hashed,
                    now=0,
                )
            await store.clients.add(
                client_id="nox",
                name="NOX Energy",
                secret_hash=digest(CLIENT_SECRET),
                token_endpoint_auth_method="client_secret_basic",
                grant_types=["authorization_code", "refresh_token"],
                scopes=["openid", "profile", "email"],
                redirect_uris=[self.sandbox.url + "/callback"],
                now=0,
                handoff_mode="backchannel",
                post_login_redirect_url=self.sandbox.url + "/post-login-redirect",
            )
            for language in ("nl", "en"):
                await store.terms.publish(
                    version="2026-01", language=language, body_md="# Terms", now=0
                )
        finally:
            await store.close()

    def start(self) -> None:
        self.prepare_database()
        self.cli("keys", "rotate")  # the first key, before any instance serves
        for instance in self.instances:
            instance.start()
        self.sandbox.start()
        with self.nginx.log_path.open("ab") as log:
            self.nginx.proc = subprocess.Popen(self.nginx.argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(self.issuer + "/healthz", verify=self.tls()).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.nginx.proc.poll() is not None:
                    raise RuntimeError(self.logs()) from None
                time.sleep(0.1)
        # A rotation on one machine's command line, while both instances serve: checked late
        # (test_a_key_rotation_is_seen_by_both_instances), to let the other tests run meanwhile.
        kid = self.cli("keys", "rotate").split()[4]
        self.rotated = (kid, time.monotonic())

    def stop(self) -> None:
        for process in (self.nginx, self.sandbox, *self.instances):
            process.stop()

    def cli(self, *args: str) -> str:
        done = subprocess.run([IDP, *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def logs(self) -> str:
        parts = [*self.instances, self.sandbox, self.nginx]
        error_log = self.tmp / "nginx-error.log"
        text = "".join(f"--- {p.name} ---\n{p.log()}\n" for p in parts)
        access = self.access_log.read_text() if self.access_log.exists() else ""
        errors = error_log.read_text() if error_log.exists() else ""
        return f"{text}--- nginx access ---\n{access}\n--- nginx errors ---\n{errors}"

    # -- what the test looks at
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def browser(self, ip: str = CUSTOMER_IP) -> Customer:
        """A customer's browser at `ip`, trusting the test CA, that also writes a forged
        X-Forwarded-For into each request."""
        transport = httpx.AsyncHTTPTransport(verify=self.tls(), local_address=ip)
        http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=20,
            headers={"X-Forwarded-For": FORGED},
        )
        return Customer(http)

    def upstream(self, instance: Instance) -> str:
        return f"127.0.0.1:{instance.port}"

    def access(self) -> list[dict[str, str]]:
        """nginx's access log: request line, status and the instances tried, per request."""
        pattern = r'^(\S+) \[[^]]+\] "([^"]*)" (\d+) \d+ upstream="([^"]*)"'
        rows = []
        for line in self.access_log.read_text().splitlines():
            match = re.match(pattern, line)
            assert match, line
            ip, request, status, upstream = match.groups()
            rows.append({"ip": ip, "request": request, "status": status, "upstream": upstream})
        return rows

    async def sandbox_events(self, kind: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            found = (await http.get(self.sandbox.url + "/_sandbox/events")).json()
        return [e for e in found if e["type"] == kind]

    async def sandbox_control(self, **behaviour: Any) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(self.sandbox.url + "/_sandbox/control", json=behaviour)
            response.raise_for_status()


async def query(sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (Debian's nginx package)")
    if not DATABASE_URL:
        pytest.skip(
            "IDP_TEST_TOPOLOGY_POSTGRES_URL names no PostgreSQL database (.ci/run makes one)"
        )
    topology = Topology(tmp_path_factory.mktemp("topology"))
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
        print(topology.logs())  # shown when a test failed


@pytest.fixture
async def watched(topology: Topology) -> AsyncIterator[tuple[Customer, list[httpx.Response]]]:
    """A customer's browser, and every answer it got from the identity provider (via nginx)."""
    customer = topology.browser()
    answers: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        if str(response.url).startswith(topology.issuer):
            answers.append(response)

    customer.http.event_hooks["response"].append(keep)
    yield customer, answers
    await customer.close()


def interaction_id(page: httpx.Response) -> str:
    match = re.search(r"/interaction/([^/]+)/", str(page.url))
    assert match, page.url
    return match.group(1)


async def handoffs_for(topology: Topology, state: str) -> list[dict[str, Any]]:
    """The hand-offs NOX took (answered 200, at once or slowly) for `state`."""
    return [
        e
        for e in await topology.sandbox_events("post_login_redirect")
        if e["body"]["state"] == state and e["answered"] in ("ok", "slow")
    ]


async def run_flow(topology: Topology, customer: Customer, email: str) -> tuple[str, str]:
    """Flow 1 from NOX's app to NOX's result page; returns (the NOX state, the result page)."""
    login = await customer.start_at_nox(topology.sandbox.url)
    assert str(login.url).startswith(topology.issuer + "/interaction/"), login.url
    terms = await customer.follow(
        await customer.submit(login, {"email": email, "password": PASSWORD})
    )
    assert "accept_terms" in terms.text, terms.text
    back = await customer.submit(terms, {"accept_terms": "yes", "action": "accept"})
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(topology.sandbox.url + "/callback?code=")
    state = re.search(r"[?&]state=([^&]+)", back.headers["location"])
    assert state
    result = await customer.follow(back)
    return state.group(1), result.text


# ---- the tests -----------------------------------------------------------------------------------
async def test_flow1_over_https_through_nginx_with_secure_cookies_and_hsts(
    topology: Topology, watched: tuple[Customer, list[httpx.Response]]
) -> None:
    customer, answers = watched
    before = len(topology.access())
    state, result = await run_flow(topology, customer, CUSTOMERS[0][0])
    assert "Supplier authentication succeeded" in result
    assert await eventually(lambda: handoffs_for(topology, state))
    assert len(await handoffs_for(topology, state)) == 1

    # Every answer of the identity provider came over https, with one HSTS header, and every
    # cookie it set is Secure and HttpOnly.
    assert len(answers) >= 4
    cookies = [c for a in answers for c in a.headers.get_list("set-cookie")]
    assert {c.split("=")[0] for c in cookies} >= {"idp_browser"}, cookies
    for cookie in cookies:
        assert "; Secure" in cookie and "; HttpOnly" in cookie, cookie
    for answer in answers:
        assert answer.url.scheme == "https"
        assert answer.headers.get_list("strict-transport-security") == ["max-age=31536000"]
    # nginx spread the flow (the sandbox's code exchange included) over both instances, and
    # logged no query string (states, codes, reset tokens travel there).
    assert "/authorize " in "".join(row["request"] for row in topology.access()[before:])
    assert not [row for row in topology.access() if "?" in row["request"]]
    used = {row["upstream"] for row in topology.access()[before:]}
    assert used >= {topology.upstream(i) for i in topology.instances}, used

    # The customer's address, not nginx's 127.0.0.1 nor what the browser forged, is recorded.
    [user] = await query("SELECT id FROM users WHERE email = $1", CUSTOMERS[0][0])
    sessions = await query("SELECT ip FROM login_sessions WHERE user_id = $1", user["id"])
    accepted = await query("SELECT ip FROM terms_acceptances WHERE user_id = $1", user["id"])
    assert [r["ip"] for r in sessions + accepted] == [CUSTOMER_IP, CUSTOMER_IP]
    assert {row["ip"] for row in topology.access()[before:] if row["ip"] != "127.0.0.1"} == {
        CUSTOMER_IP
    }

    # Port 80 sends the browser to the https issuer.
    async with httpx.AsyncClient() as http:
        plain = await http.get(topology.http_url + "/authorize?client_id=nox")
    assert plain.status_code == 301
    assert plain.headers["location"] == topology.issuer + "/authorize?client_id=nox"


async def test_each_handoff_is_delivered_once_whichever_instance_retries_it(
    topology: Topology,
) -> None:
    # NOX refuses each hand-off (503) once: it goes to the outbox, which the three workers of
    # both instances poll every 0.2 s and retry after about 0.5 s, 1 s, ... Then NOX takes them,
    # slowly (0.6 s each): meanwhile the other workers find the hand-off still pending and due,
    # and only its lease keeps them from sending it again.
    await topology.sandbox_control(post_login_redirect="503")  # until told otherwise
    customers = [topology.browser() for _ in range(3)]

    async def refused_once() -> bool:
        events = await topology.sandbox_events("post_login_redirect")
        return len({e["idempotency_key"] for e in events if e["answered"] == "503"}) >= 3

    try:
        flows = asyncio.gather(
            *(
                run_flow(topology, customer, email)
                for customer, (email, _) in zip(customers, CUSTOMERS[1:4], strict=True)
            )
        )
        assert await eventually(refused_once, timeout=30)
        await topology.sandbox_control(post_login_redirect="slow", delay=0.6, for_seconds=30)
        done = await flows
    finally:
        for customer in customers:
            await customer.close()
    states = [state for state, _ in done]

    async def all_delivered() -> bool:
        rows = await query("SELECT status FROM handoffs WHERE body->>'state' = ANY($1)", states)
        return len(rows) == 3 and {r["status"] for r in rows} == {"delivered"}

    try:
        assert await eventually(all_delivered, timeout=30)
        await asyncio.sleep(2)  # a second delivery, were there one, would come within this
    finally:
        await topology.sandbox_control(post_login_redirect="ok")
    refused = [
        e
        for e in await topology.sandbox_events("post_login_redirect")
        if e["body"]["state"] in states and e["answered"] == "503"
    ]
    assert {e["body"]["state"] for e in refused} == set(states)  # each refused, then retried
    for state in states:
        assert len(await handoffs_for(topology, state)) == 1, state


async def test_the_signin_throttle_counts_wrong_passwords_on_both_instances(
    topology: Topology,
) -> None:
    email = CUSTOMERS[4][0]
    ip = "127.0.0.3"
    customer = topology.browser(ip)
    try:
        page = await customer.go(topology.issuer + "/account/login")
        before = len(topology.access())
        statuses = []
        for _ in range(FREE_FAILURES):
            answer = await customer.submit(page, {"email": email, "password": "wrong password"})
            statuses.append(answer.status_code)
        throttled = await customer.submit(page, {"email": email, "password": PASSWORD})
    finally:
        await customer.close()
    assert statuses == [401] * FREE_FAILURES
    assert throttled.status_code == 429  # even the right password, on whichever instance
    posts = [row for row in topology.access()[before:] if row["request"].startswith("POST")]
    assert {row["upstream"] for row in posts} == {topology.upstream(i) for i in topology.instances}

    throttles = await query("SELECT key, failures FROM throttles WHERE key LIKE '%' || $1", ip)
    assert {(r["key"], r["failures"]) for r in throttles} == {(f"ip:{ip}", FREE_FAILURES)}
    [account] = await query("SELECT failures FROM throttles WHERE key = $1", f"account:{email}")
    assert account["failures"] == FREE_FAILURES
    events = await query("SELECT kind, ip FROM security_events WHERE actor = $1 ORDER BY id", email)
    kinds = [(e["kind"], e["ip"]) for e in events]
    assert kinds == [("signin_failed", ip)] * FREE_FAILURES + [("signin_throttled", ip)]


async def test_a_key_rotation_is_seen_by_both_instances(topology: Topology) -> None:
    kid, rotated_at = topology.rotated
    [row] = await query("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
    assert row["kid"] == kid
    # Each worker reads the keys again at most KEY_REFRESH_SECONDS after it last did (at start,
    # before the rotation): so by then every worker of both instances publishes the new key,
    # asked directly (each request a new connection, so any worker may answer).
    await asyncio.sleep(max(0.0, rotated_at + KEY_REFRESH_SECONDS + 2 - time.monotonic()))
    for instance in topology.instances:
        for _ in range(6):
            async with httpx.AsyncClient() as http:
                jwks = (await http.get(instance.url + "/jwks.json")).json()
            kids = [key["kid"] for key in jwks["keys"]]
            assert kid in kids and len(kids) == 2, (instance.name, kids)  # the old one stays


async def test_an_instance_killed_mid_flow_loses_nothing(topology: Topology) -> None:
    a, b = topology.instances
    email, supplier_user_id = CUSTOMERS[5]
    customer = topology.browser()
    try:
        login = await customer.start_at_nox(topology.sandbox.url)
        session_id = interaction_id(login)

        # nginx takes turns: after an answer from b, the next request goes to a. nginx writes
        # a request's log line after the answer has gone out, so wait for each line to appear.
        async def healthz_answered_by() -> str:
            def healthz() -> list[dict[str, str]]:
                return [r for r in topology.access() if r["request"].startswith("GET /healthz")]

            before = len(healthz())
            await http.get(topology.issuer + "/healthz")

            async def logged() -> bool:
                return len(healthz()) > before

            assert await eventually(logged, timeout=5)
            return healthz()[-1]["upstream"]

        async with httpx.AsyncClient(verify=topology.tls()) as http:
            for _ in range(2):
                if await healthz_answered_by() == topology.upstream(b):
                    break
            else:
                raise AssertionError("nginx did not pass a /healthz to b")

        # Instance a hangs, then dies, while the customer's sign-in is on its way to it.
        a.signal_all(signal.SIGSTOP)
        form = {"email": email, "password": PASSWORD}
        submitted = asyncio.create_task(customer.submit(login, form))
        await asyncio.sleep(1)
        assert not submitted.done()
        a.kill()
        lost = await submitted
        assert lost.status_code == 502  # nginx does not resend a POST that reached an instance

        async def lost_rows() -> list[dict[str, str]]:
            rows = topology.access()
            return [r for r in rows if "/login" in r["request"] and r["status"] == "502"]

        [row] = await eventually(lost_rows, timeout=5)
        assert row["upstream"] == topology.upstream(a)

        # The customer submits again; nginx finds a down and passes it to b, and the flow that
        # started on a ends on b: its authentication session lived in the database.
        terms = await customer.follow(await customer.submit(login, form))
        assert interaction_id(terms) == session_id
        back = await customer.submit(terms, {"accept_terms": "yes", "action": "accept"})
        assert back.status_code == 302, back.text
        result = await customer.follow(back)
        assert "Supplier authentication succeeded" in result.text
    finally:
        await customer.close()
    state = re.search(r"[?&]state=([^&]+)", back.headers["location"])
    assert state
    assert len(await handoffs_for(topology, state.group(1))) == 1
    # nginx counted the reset as a's failure and left a alone from then on (fail_timeout=10s).
    after = topology.access()
    after = after[after.index(row) + 1 :]
    assert after and all(r["upstream"] == topology.upstream(b) for r in after), after

    # Nothing was lost or done twice: one authentication session, issued; one sign-in.
    [session] = await query("SELECT status, user_id FROM auth_sessions WHERE id = $1", session_id)
    [user] = await query("SELECT id FROM users WHERE supplier_user_id = $1", supplier_user_id)
    assert session["user_id"] == user["id"]
    signins = await query("SELECT ip FROM login_sessions WHERE user_id = $1", user["id"])
    assert [r["ip"] for r in signins] == [CUSTOMER_IP]
    assert await query("SELECT 1 FROM security_events WHERE actor = $1", email) == []
