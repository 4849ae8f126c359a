"""Flow 1 without a web framework: the authentication session from /authorize to the code.

authorize_checks.py  the /authorize pipeline (parameters, client, redirect URI, PKCE via Authlib)
window.py            the 15-minute authentication session
steps.py             which step comes next: sign in, confirm, terms, the code, or the refusal
answers.py           what the customer answered in a step
terms.py             the terms a customer still has to accept, and the acceptance
customers.py         email and password, and the browser's sign-in session
logout.py            signing out when a client asks (RP-Initiated Logout)
backchannel.py       telling clients that a customer signed out (Back-Channel Logout)
account.py           what the customer controls on /account: access given, sessions, terms
password_reset.py    "Forgot your password?": the link by mail, the new password
responses.py         authorization responses and errors to the client
decisions.py         what the use cases return; web/signin_pages.py renders them
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.config import Settings
from idp.mail import Mailer
from idp.nox.handoff import HandoffDelivery
from idp.oauth.facade import OAuth
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.throttle import RateLimit, SignInThrottle
from idp.signin.account import AccountControls
from idp.signin.answers import Answers
from idp.signin.authorize_checks import Authorize
from idp.signin.backchannel import BackchannelLogout
from idp.signin.customers import Customers
from idp.signin.logout import Logout
from idp.signin.password_reset import PasswordReset
from idp.signin.responses import ClientResponses
from idp.signin.steps import Steps
from idp.signin.terms import TermsAcceptance
from idp.signin.window import Window
from idp.store import Store

RESET_REQUESTS_PER_MINUTE = 10  # "Forgot your password?" requests per client network


@dataclass(frozen=True)
class SignIn:
    """Everything the sign-in pages call, built once per app."""

    authorize: Authorize
    window: Window
    steps: Steps
    answers: Answers
    customers: Customers
    logout: Logout
    account: AccountControls
    password_reset: PasswordReset
    backchannel: BackchannelLogout
    login_session_seconds: int
    cookie_secure: bool
    password_reset_url: str | None

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        oauth: OAuth,
        handoffs: HandoffDelivery,
        throttle: SignInThrottle,
        new_sessions: RateLimit,
        events: SecurityLog,
        mailer: Mailer,
    ) -> SignIn:
        # The sign-in steps read clients through the protocol's cache: one version check a read,
        # as the token endpoint's, instead of the client's row and both URI lists each time.
        responses = ClientResponses(oauth.clients, settings.issuer)
        window = Window(store.auth_sessions, clock, settings.auth_session_seconds, responses)
        terms = TermsAcceptance(store.terms)
        backchannel = BackchannelLogout(oauth, store.grants, oauth.clients, clock)
        customers = Customers(
            store.users,
            store.login_sessions,
            throttle,
            events,
            clock,
            settings.login_session_seconds,
            backchannel,
            settings.zone,
        )
        steps = Steps(
            store.auth_sessions,
            oauth.clients,
            store.users,
            window,
            terms,
            customers,
            responses,
            oauth,
            handoffs,
        )
        return cls(
            authorize=Authorize(
                oauth, store.auth_sessions, window, steps, responses, new_sessions, clock
            ),
            window=window,
            steps=steps,
            answers=Answers(steps, store.auth_sessions, terms, clock),
            customers=customers,
            logout=Logout(oauth, customers),
            account=AccountControls(
                store.grants, store.login_sessions, store.terms, events, clock, backchannel
            ),
            backchannel=backchannel,
            password_reset=PasswordReset(
                settings,
                store,
                mailer,
                RateLimit(store.throttles, "password-reset-ip:", RESET_REQUESTS_PER_MINUTE),
                events,
                clock,
            ),
            login_session_seconds=settings.login_session_seconds,
            cookie_secure=settings.cookie_secure,
            password_reset_url=(
                # The built-in page when mail is configured, else the supplier's own, if any.
                "/password/forgot" if mailer.configured else settings.password_reset_url
            ),
        )
