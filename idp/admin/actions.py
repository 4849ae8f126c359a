"""Every change a supplier admin can make, from the console or the `idp` command alike.

Each action validates, changes, and writes its audit row (kind, actor, IP, what changed) in one
transaction, so the console and the command line leave the same trail. Client and customer
actions live with their rules (clients.py, customers.py); the rest is here.
"""

from __future__ import annotations

from idp.admin.accounts import AdminAccountActions
from idp.admin.actor import ActionError, Actor, role_allows
from idp.admin.audited import AuditedActions, transactional
from idp.admin.clients import NOX_PRESET, ClientActions, nox_post_login_url
from idp.admin.customers import CustomerActions, CustomerDataActions
from idp.admin.timezones import known_zone
from idp.i18n import gettext as _
from idp.oauth.keys import ALGORITHMS, generate_key
from idp.store.terms import DuplicateTerms
from idp.vocab import LANGUAGES

# Re-exported: callers name them from here, where the actions are.
__all__ = [
    "NOX_PRESET",
    "ActionError",
    "Actor",
    "AdminActions",
    "nox_post_login_url",
    "role_allows",
]


class AdminActions(
    ClientActions, CustomerActions, CustomerDataActions, AdminAccountActions, AuditedActions
):
    """The changes an admin makes: clients, customers, terms, outbox, held links, keys, admins."""

    # ---- terms -----------------------------------------------------------------------------
    @transactional
    async def upload_terms(self, actor: Actor, version: str, language: str, body_md: str) -> None:
        if not version.strip() or len(version) > 64:
            raise ActionError(_("The version must be 1 to 64 characters."))
        if language not in LANGUAGES:
            raise ActionError(_("The language must be nl, en, fr or es."))
        if not body_md.strip():
            raise ActionError(_("The text is empty."))
        try:
            await self.store.terms.add_draft(
                version=version, language=language, body_md=body_md.strip(), now=self.clock.now()
            )
        except DuplicateTerms:
            raise ActionError(
                _("Version %(version)s already has a %(language)s text.")
                % {"version": version, "language": language}
            ) from None
        await self.audit("admin.terms.uploaded", actor, version=version, language=language)

    @transactional
    async def publish_terms(self, actor: Actor, version: str) -> None:
        published = await self.store.terms.publish_version(version, self.clock.now())
        if not published:
            raise ActionError(
                _("Version %(version)s has no unpublished text.") % {"version": version}
            )
        await self.audit("admin.terms.published", actor, version=version, texts=published)

    # ---- outbox ----------------------------------------------------------------------------
    @transactional
    async def retry_handoff(self, actor: Actor, handoff_id: str) -> None:
        if not await self.store.outbox.retry_now(handoff_id, self.clock.now()):
            raise ActionError(_("There is no undelivered hand-off with this id."))
        await self.audit("admin.outbox.retried", actor, handoff_id=handoff_id)

    # ---- held device moves (flow 2) ---------------------------------------------------------
    @transactional
    async def decide_held_link(self, actor: Actor, held_id: str, approve: bool) -> None:
        """Approve a held link (NOX's rules apply now: the devices move) or reject it."""
        decided = await self.store.links.decide_held(
            held_id, approve=approve, now=self.clock.now(), decided_by=actor.name
        )
        if decided is None:
            raise ActionError(_("There is no held link with this id."))
        held, outcome = decided
        await self.audit(
            "admin.link.approved" if approve else "admin.link.rejected",
            actor,
            held_id=held_id,
            supplier_user_id=held.supplier_user_id,
            device_ids=held.device_ids,
            moved_from=outcome.moved_from if outcome else held.moved_from,
        )

    # ---- signing keys ----------------------------------------------------------------------
    @transactional
    async def rotate_signing_key(self, actor: Actor, alg: str) -> str:
        """Publish a new ID token signing key; returns its kid. It signs once it is
        KEY_ACTIVATION_SECONDS old (idp/oauth/keys.py); the old key signs until then and stays in
        the JWKS until the tokens it signed have expired."""
        if alg not in ALGORITHMS:
            raise ActionError(f"The algorithm must be one of {', '.join(ALGORITHMS)}.")
        kid, jwk = generate_key(alg)
        await self.store.keys.add_current(kid=kid, alg=alg, private_jwk=jwk, now=self.clock.now())
        await self.audit("admin.keys.rotated", actor, kid=kid, alg=alg)
        return kid

    # ---- the admin's own preferences (console) ------------------------------------------------
    @transactional
    async def set_admin_preferences(
        self, actor: Actor, admin_id: int, timezone: str, language: str | None = None
    ) -> None:
        """The zone the admin reads the console's times in ("" goes back to IDP_TIMEZONE) and
        the language they read it in ("" goes back to the browser's; None leaves it as it is).
        Both are checked before either is saved."""
        timezone = timezone.strip()
        if timezone and not known_zone(timezone):
            raise ActionError(_("Choose a time zone from the list."))
        if language and language not in LANGUAGES:
            raise ActionError(_("Choose a language from the list."))
        before = await self.store.admins.set_timezone(admin_id, timezone or None)
        if before is None:
            raise ActionError(_("There is no such admin."))
        if (before.timezone or "") != timezone:
            await self.audit(
                "admin.admin.timezone_changed",
                actor,
                email=before.email,
                timezone=timezone or None,
                was=before.timezone,
            )
        if language is not None and (before.language or "") != language:
            await self.store.admins.set_language(admin_id, language or None)
            await self.audit(
                "admin.admin.language_changed",
                actor,
                email=before.email,
                language=language or None,
                was=before.language,
            )

    # ---- terms rolled back or taken back (console) --------------------------------------------
    @transactional
    async def make_terms_current(self, actor: Actor, version: str) -> None:
        """Roll back: make an earlier published version current again. Customers who have not
        accepted that version (those who accepted only a newer one included) are asked to at
        their next sign-in, as after any publication (idp/signin/terms.py)."""
        was = await self.store.terms.current_version()
        if version == was:
            raise ActionError(_("Version %(version)s is current already.") % {"version": version})
        texts = await self.store.terms.make_current(version, self.clock.now())
        if not texts:
            raise ActionError(
                _("Version %(version)s has no published text.") % {"version": version}
            )
        await self.audit("admin.terms.made_current", actor, version=version, was=was, texts=texts)

    @transactional
    async def unpublish_terms(self, actor: Actor, version: str) -> None:
        """Take back a published version nobody accepted yet (its texts become drafts); the
        newest version still published is current then."""
        texts = await self.store.terms.unpublish(version)
        if not texts:
            raise ActionError(
                _(
                    "Version %(version)s is not published, or customers accepted it already: "
                    "what was accepted stays published. Make an earlier version current instead."
                )
                % {"version": version}
            )
        await self.audit("admin.terms.unpublished", actor, version=version, texts=texts)
