"""What the customer answers inside an authentication session: signed in, accepted or declined
the terms, "Continue as" or "Not you?". Each records the answer, then asks `Steps` what is next."""

from __future__ import annotations

from idp.i18n import gettext as _
from idp.oauth.models import Subject
from idp.records import AuthSession, User
from idp.security.clock import Clock
from idp.signin.decisions import Decision, Ended, Refused, Step
from idp.signin.steps import Steps, login_url
from idp.signin.terms import TermsAcceptance
from idp.signin.window import already_ended
from idp.store.sessions import AuthSessions


class Answers:
    def __init__(
        self, steps: Steps, sessions: AuthSessions, terms: TermsAcceptance, clock: Clock
    ) -> None:
        self.steps = steps
        self.sessions = sessions
        self.acceptance = terms
        self.clock = clock

    async def signed_in(self, auth: AuthSession, user: User) -> Decision:
        """The customer signed in inside this session: that is the step it may need."""
        now = self.clock.now()
        await self.sessions.set_user(auth.id, user.id, now, signed_in_here=True)
        fresh = await self.sessions.get(auth.id)
        if fresh is None:
            return already_ended()
        return await self.steps.advance(fresh, Subject(user, now))

    async def cancel(self, auth: AuthSession) -> Decision:
        """ "Back to <client>" on the sign-in page: the client learns it as access_denied."""
        return await self.steps.deny(auth, "The customer went back without signing in")

    async def terms(
        self,
        auth: AuthSession,
        session_digest: str | None,
        *,
        action: str | None,
        version: str | None,
        ticked: bool,
        ip: str,
        user_agent: str,
    ) -> Decision:
        """Accept (only the version that was read, with the box ticked) or decline the terms."""
        subject = await self.steps.terms_subject(auth, session_digest)
        if isinstance(subject, Step):
            return subject
        if action == "decline":
            return await self.steps.deny(auth, "The customer declined the terms and conditions")
        terms = await self.steps.terms_to_show(auth, subject)
        if terms is None:
            return await self.steps.advance(auth, subject)
        if isinstance(terms, Ended):
            return terms
        if version != terms.version:
            # A new version was published while the page was open: accept only what was read.
            return await self.steps.show_terms(
                auth,
                terms,
                409,
                _("The terms and conditions have changed. Please read them again."),
            )
        if action != "accept" or not ticked:
            return await self.steps.show_terms(
                auth, terms, 400, _("Tick the box to accept the terms and conditions.")
            )
        now = self.clock.now()
        await self.acceptance.accept(
            subject.id, terms, now=now, client_id=auth.client_id, ip=ip, user_agent=user_agent
        )
        if not await self.sessions.interacted(auth.id, subject.id, now):
            return already_ended()
        return await self.steps.finish(auth, subject)

    async def confirm(
        self, auth: AuthSession, session_digest: str | None, action: str | None
    ) -> Decision:
        """ "Continue as <name>": the step this session needed. "Not you?" (`switch`) forgets
        the customer in this session and signs the browser out."""
        subject = await self.steps.signed_in_for(auth, session_digest)
        if subject is None:
            return Step(login_url(auth))
        if action == "switch":
            await self.sessions.forget_user(auth.id)
            return Step(login_url(auth), sign_out=True)
        if action != "continue":
            return Refused(400, _("Choose one of the buttons."))
        if not await self.sessions.interacted(auth.id, subject.id, self.clock.now()):
            return already_ended()
        return await self.steps.advance(auth, subject)
