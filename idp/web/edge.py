"""What is settled before Quart sees a request: the client's address behind trusted reverse
proxies (IDP_TRUSTED_PROXIES), and a Host header Quart's router cannot read (a 400 here, where
it would otherwise end in a 500 before any handler runs).

`idp serve` does not terminate TLS, so in production a proxy is the direct peer of every
request. X-Forwarded-For is honoured only when that peer is a listed proxy, and then the
right-most address that is not a listed proxy is the client: everything left of it was written
by whoever sent the request and proves nothing. An ASGI middleware rewrites the scope's
`client`, so `request.remote_addr` (throttling, audit rows, request logs) is the customer's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 32  # a longer chain is not walked further than this


def parse_address(text: str) -> Address | None:
    """An IP address as a proxy writes it (IPv4-mapped IPv6 unmapped), or None."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def forwarded_client(peer: str, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` unless it is a trusted proxy, else the right-most address in
    X-Forwarded-For that is not one (the left-most when all are)."""

    def is_trusted(address: Address | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    if not trusted or not is_trusted(parse_address(peer)):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    client = peer
    for hop in reversed(hops[-MAX_HOPS:]):
        address = parse_address(hop)
        if address is None:
            break  # a proxy we trust writes addresses: this was written by the sender
        client = str(address)
        if not is_trusted(address):
            break
    return client


def readable_host(host: str) -> bool:
    """False for a Host header werkzeug's router refuses (BadHost): its name must be IDNA."""
    try:
        host.lower().partition(":")[0].encode("idna")
    except UnicodeError:
        return False
    return True


class Edge:
    """ASGI middleware in front of the app: a Host the router cannot read is a plain 400; the
    scope's `client` becomes the address `forwarded_client` finds."""

    def __init__(self, app: Any, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        hosts = [value.decode("latin-1") for name, value in headers if name.lower() == b"host"]
        if scope["type"] == "http" and not all(readable_host(h) for h in hosts):
            await bad_request(send)
            return
        if self.trusted and scope.get("client"):
            host, port = scope["client"][0], scope["client"][1]
            values = [
                value.decode("latin-1")
                for name, value in headers
                if name.lower() == b"x-forwarded-for"
            ]
            client = forwarded_client(str(host), values, self.trusted)
            if client != host:
                scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)


async def bad_request(send: Any) -> None:
    body = b"Bad Request: the Host header is not a host name.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
