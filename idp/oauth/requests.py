"""Authlib requests built from plain data, so that protocol code never sees a framework request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request


class Params(OAuth2Payload):
    """Request parameters as (name, value) pairs; `data` keeps the first value of each name."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist

    def repeated(self) -> list[str]:
        return [key for key, values in self._datalist.items() if len(values) > 1]


@dataclass(frozen=True)
class CodeSession:
    """The authentication session a code is issued in: the code records it, and a hand-off made
    with the code ends when the session does (NOX's window is the session's)."""

    id: str
    expires_at: int


class ProtocolRequest(OAuth2Request):
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
        session: CodeSession | None = None,
    ) -> None:
        super().__init__(method, uri, headers=dict(headers))
        self.session = session
        # Set when a code is issued with a hand-off to the client's back channel.
        self.handoff_id: str | None = None
        # The token endpoint authenticates clients as this process remembers them
        # (`OAuth.token`); the version of the one it used, until a write has confirmed it.
        self.remember_clients = False
        self.unconfirmed_client_version: int | None = None
        self._args = Params(query)
        self._form = Params(form)
        # RFC 6749 §3.1 / §3.2: the authorization endpoint reads the query (or a POSTed form);
        # the token endpoint reads only the form body.
        self.payload = self._form if method == "POST" else self._args

    @property
    def args(self) -> dict[str, str]:
        return self._args.data

    @property
    def form(self) -> dict[str, Any]:
        return self._form.data

    def confirm_client_version(self) -> int | None:
        """The client version for the first write of this request to confirm, once."""
        version, self.unconfirmed_client_version = self.unconfirmed_client_version, None
        return version

    def repeated_form_params(self) -> list[str]:
        return self._form.repeated()
