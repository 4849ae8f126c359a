"""The steps of an authentication session, from /authorize to the code: which comes next.

Sign in, then "Continue as" where the client needs a step the customer takes in this session,
then the terms, then the code. `finish` re-checks everything on the session as stored now, so no
route can skip a step, and completes it with one conditional update (pending, same customer, step
taken), so two tabs or a replay cannot both get a code.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from idp.nox.handoff import HandoffDelivery
from idp.oauth.clients import ClientCache
from idp.oauth.facade import OAuth, RefusedAuthorization
from idp.oauth.models import Subject
from idp.oauth.requests import CodeSession
from idp.records import AuthSession, Client
from idp.signin.customers import Customers
from idp.signin.decisions import Decision, Ended, InvalidRequest, ShowTerms, Step
from idp.signin.responses import ClientResponses
from idp.signin.terms import TermsAcceptance, TermsToAccept, TermsUnavailable
from idp.signin.window import Window, already_ended
from idp.store.sessions import AuthSessions
from idp.store.users import Users
from idp.vocab import AUTH_COMPLETED, AUTH_DENIED, AUTH_PENDING

log = logging.getLogger("idp.flow")


def login_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/login"


def terms_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/terms"


def confirm_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/confirm"


def prompts_of(auth: AuthSession) -> list[str]:
    return dict(parse_qsl(auth.query)).get("prompt", "").split()


def needs_step(auth: AuthSession, client: Client | None) -> bool:
    """Whether this session needs a step the customer takes in it: for a client that links
    accounts (NOX), and whenever the client asked for `prompt=consent` (OIDC Core §3.1.2.1).
    Otherwise anyone who can send a signed-in browser to /authorize with their own `state` would
    have NOX map their account to this customer."""
    return "consent" in prompts_of(auth) or (client is not None and client.needs_fresh_step)


class Steps:
    def __init__(
        self,
        sessions: AuthSessions,
        clients: ClientCache,
        users: Users,
        window: Window,
        terms: TermsAcceptance,
        customers: Customers,
        responses: ClientResponses,
        oauth: OAuth,
        handoffs: HandoffDelivery,
    ) -> None:
        self.sessions = sessions
        self.clients = clients
        self.users = users
        self.window = window
        self.terms = terms
        self.customers = customers
        self.responses = responses
        self.oauth = oauth
        self.handoffs = handoffs

    async def client_name(self, auth: AuthSession) -> str:
        client = await self.clients.get(auth.client_id)
        return client.name if client else auth.client_id

    async def advance(self, auth: AuthSession, subject: Subject | None) -> Decision:
        """The next step this session needs: sign in, confirm who is signed in, accept the
        terms, or the code (see `finish`)."""
        if self.window.closed(auth):
            return await self.window.close(auth)
        if subject is None or auth.force_login:
            if "none" in prompts_of(auth):
                return await self.deny_silently(auth, "login_required", "The customer must sign in")
            return Step(login_url(auth))
        if auth.user_id != subject.id:
            await self.sessions.set_user(auth.id, subject.id, subject.auth_time)
        return await self.finish(auth, subject)

    async def finish(self, auth: AuthSession, subject: Subject) -> Decision:
        """The last checks, on the session as stored now, then the code. Authlib validates the
        stored request again (a redirect URI removed meanwhile no longer works); the terms are
        checked here too, so no route can skip them, and a version published meanwhile is
        asked for. A client with a back-channel hand-off (or NOX itself) gets a code only after
        a step the customer took in this session, asked for before the terms."""
        if self.window.closed(auth):
            return await self.window.close(auth)
        fresh = await self.sessions.get(auth.id)
        if fresh is None or fresh.status != AUTH_PENDING:
            return already_ended()
        if fresh.user_id != subject.id:
            return Step(login_url(fresh))
        silent = "none" in prompts_of(fresh)
        step_needed = needs_step(fresh, await self.clients.get(fresh.client_id))
        if step_needed and fresh.interacted_at is None:
            if silent:
                return await self.deny_silently(
                    fresh, "interaction_required", "The customer must confirm who is signed in"
                )
            return Step(confirm_url(fresh))
        try:
            terms = await self.terms.needed(subject.id, fresh.language)
        except TermsUnavailable:
            return await self.terms_unavailable(fresh)
        if terms:
            if silent:
                return await self.deny_silently(
                    fresh, "consent_required", "The customer must accept the terms and conditions"
                )
            return Step(terms_url(fresh))
        completed = await self.sessions.finish(
            auth.id, AUTH_COMPLETED, require_step=step_needed, user_id=subject.id
        )
        if not completed:
            return already_ended()
        issued = await self.oauth.issue_code(
            auth.query, subject, CodeSession(auth.id, auth.expires_at)
        )
        if isinstance(issued, RefusedAuthorization):
            return InvalidRequest(issued.error, issued.description)
        if issued.handoff_id:
            # One attempt now, bounded by IDP_HANDOFF_TIMEOUT_SECONDS; the worker retries.
            await self.handoffs.attempt(issued.handoff_id)
        return await self.responses.deliver(auth, issued.redirect_url)

    async def deny_silently(self, auth: AuthSession, error: str, description: str) -> Decision:
        """prompt=none: no page may be shown, so the client gets the error at once (OIDC Core
        §3.1.2.6)."""
        await self.sessions.finish(auth.id, AUTH_DENIED)
        return await self.responses.deliver(
            auth, self.responses.error_url(auth, error, description)
        )

    async def deny(self, auth: AuthSession, description: str) -> Decision:
        """The customer said no: access_denied to the client."""
        if self.window.closed(auth):
            return await self.window.close(auth)
        if not await self.sessions.finish(auth.id, AUTH_DENIED):
            return already_ended()
        return await self.responses.deliver(
            auth, self.responses.error_url(auth, "access_denied", description)
        )

    async def terms_unavailable(self, auth: AuthSession) -> Ended:
        log.error(
            "no published terms and conditions: customers cannot be handed to %s", auth.client_id
        )
        await self.sessions.finish(auth.id, AUTH_DENIED)
        name, way_back = await self.responses.way_back(
            auth, "temporarily_unavailable", "The terms and conditions cannot be shown right now"
        )
        return Ended("terms_unavailable", name, way_back)

    async def signed_in_for(self, auth: AuthSession, session_digest: str | None) -> Subject | None:
        """Who this session is for. Until the customer acted in it, that is only who the
        browser remembered at /authorize, so the browser must still be signed in as them (not
        signed out or switched in another tab since)."""
        if auth.user_id is None or auth.auth_time is None:
            return None
        if auth.interacted_at is None:
            live = await self.customers.signed_in(session_digest)
            if live is None or live.id != auth.user_id:
                return None
        user = await self.users.by_id(auth.user_id)
        if user is None or user.disabled:
            return None
        return Subject(user, auth.auth_time)

    async def step_missing(self, auth: AuthSession) -> bool:
        """True while the session still lacks the step it needs (see `needs_step`)."""
        client = await self.clients.get(auth.client_id)
        return needs_step(auth, client) and auth.interacted_at is None

    async def terms_subject(self, auth: AuthSession, session_digest: str | None) -> Subject | Step:
        """Who may see or accept the terms in this session, or where the browser goes first:
        to sign in, or to confirm who is signed in (a remembered customer confirms first)."""
        subject = await self.signed_in_for(auth, session_digest)
        if subject is None:
            return Step(login_url(auth))
        if await self.step_missing(auth):
            return Step(confirm_url(auth))
        return subject

    async def terms_to_show(
        self, auth: AuthSession, subject: Subject
    ) -> TermsToAccept | Ended | None:
        """The terms this customer still has to accept, None, or the end when none can be shown."""
        try:
            return await self.terms.needed(subject.id, auth.language)
        except TermsUnavailable:
            return await self.terms_unavailable(auth)

    async def show_terms(
        self, auth: AuthSession, terms: TermsToAccept, status: int = 200, error: str | None = None
    ) -> ShowTerms:
        return ShowTerms(auth.id, auth.language, terms, await self.client_name(auth), status, error)
