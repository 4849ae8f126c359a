"""The 15-minute window: an authentication session lives IDP_AUTH_SESSION_SECONDS from /authorize,
whatever happens in it (NOX-CONTRACT, flow 1), and every step checks it against the injected clock.

Opening sets the deadline; `load` is how every page of the session gets it, and refuses a session
that is unknown, another browser's, already ended or past its deadline. The code (steps.finish)
and the hand-off (which expires with the session, nox/handoff.py) check the same deadline.
"""

from __future__ import annotations

from dataclasses import replace

from idp.i18n import gettext as _
from idp.i18n import set_language
from idp.records import AuthSession
from idp.security.clock import Clock
from idp.security.secrets import same
from idp.signin.decisions import Ended, Refused
from idp.signin.responses import ClientResponses
from idp.store.sessions import AuthSessions
from idp.vocab import AUTH_DENIED, AUTH_PENDING, LANGUAGES

EXPIRED_DESCRIPTION = "The authentication session expired after 15 minutes"


def already_ended() -> Refused:
    return Refused(400, _("This sign-in has already ended."))


class Window:
    def __init__(
        self, sessions: AuthSessions, clock: Clock, seconds: int, responses: ClientResponses
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.seconds = seconds
        self.responses = responses

    def deadline(self, opened_at: int) -> int:
        return opened_at + self.seconds

    def closed(self, auth: AuthSession) -> bool:
        return auth.expired(self.clock.now())

    async def close(self, auth: AuthSession) -> Ended:
        """The customer learns the session ran out; the client learns it through access_denied."""
        await self.sessions.finish(auth.id, AUTH_DENIED)
        name, way_back = await self.responses.way_back(auth, "access_denied", EXPIRED_DESCRIPTION)
        return Ended("expired", name, way_back)

    async def choose_language(self, auth: AuthSession, language: str) -> AuthSession:
        """The customer switched language on a page of the session (a NOX language only)."""
        if language not in LANGUAGES or language == auth.language:
            return auth
        await self.sessions.set_language(auth.id, language)
        set_language(language)
        return replace(auth, language=language)

    async def load(self, session_id: str | None, browser_id: str) -> AuthSession | Refused | Ended:
        """The pending, open authentication session of this browser, or why not."""
        auth = await self.sessions.get(session_id) if session_id else None
        if auth is None or not same(auth.browser_id, browser_id):
            return Refused(404, _("This sign-in session was not found."))
        set_language(auth.language)
        if auth.status != AUTH_PENDING:
            return already_ended()
        if self.closed(auth):
            return await self.close(auth)
        return auth
