"""The one TLS context of every outbound HTTPS call (NOX's APIs, hand-offs, back-channel logout).

httpx builds a context per client, loading certifi's CA bundle each time (about 30 ms of CPU):
three clients per app, and one per back-channel logout notification. The context is the same
httpx would build (its `create_ssl_context`, which honours SSL_CERT_FILE and SSL_CERT_DIR), made
once per process; an SSLContext may be shared by any number of clients."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
