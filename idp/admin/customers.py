"""What a customer record must be before it is added, alone or in an import: an email, the
supplier_user_id NOX will know them by, and a password (hashed here) or a hash we can verify."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idp.admin.actor import ActionError, Actor
from idp.admin.audited import AuditedActions, transactional
from idp.i18n import gettext as _
from idp.records import User
from idp.security import passwords
from idp.security.secrets import new_secret
from idp.store.users import DuplicateUser

MAX_EMAIL = 320
MAX_SUPPLIER_USER_ID = 255
MIN_PASSWORD = 8
ERASED_DOMAIN = "@erased.invalid"  # an erased customer's email is <pseudonym>@erased.invalid

# One line of an import: its number in the file, and the record it holds or why it is unreadable.
ImportLine = tuple[int, Mapping[str, Any] | str]


@dataclass(frozen=True)
class NewCustomer:
    """A customer record that passed every check; never holds a plain password."""

    email: str
    supplier_user_id: str
    name: str | None
    password_hash: str


@dataclass
class ImportReport:
    """What an import did: customers added, customers already present, lines refused (why)."""

    imported: int = 0
    already_present: int = 0
    rejected: list[str] = field(default_factory=list)


async def checked_customer(row: Mapping[str, Any]) -> NewCustomer:
    """The record as it will be stored, or ActionError with the reason (a password is hashed
    with Argon2id; a legacy hash is kept, and upgraded at the customer's next sign-in)."""
    email = str(row.get("email") or "").strip()
    supplier_user_id = str(row.get("supplier_user_id") or "").strip()
    if "@" not in email or len(email) > MAX_EMAIL or any(c.isspace() for c in email):
        raise ActionError("invalid email")
    if not supplier_user_id or len(supplier_user_id) > MAX_SUPPLIER_USER_ID:
        raise ActionError("missing or too long supplier_user_id")
    password, password_hash = row.get("password"), row.get("password_hash")
    if password and password_hash:
        raise ActionError("give either password or password_hash, not both")
    if password_hash:
        if not passwords.is_known_hash(str(password_hash)):
            raise ActionError("password_hash is not in a recognised format")
        hashed = str(password_hash)
    elif password:
        if len(str(password)) < MIN_PASSWORD:
            raise ActionError(f"password shorter than {MIN_PASSWORD} characters")
        hashed = await passwords.hash_async(str(password))
    else:
        raise ActionError("missing password or password_hash")
    name = str(row.get("name") or "").strip() or None
    return NewCustomer(email, supplier_user_id, name, hashed)


class CustomerActions(AuditedActions):
    """Adding, importing, disabling customers and clearing their sign-in throttle."""

    @transactional
    async def add_customer(
        self,
        actor: Actor,
        *,
        email: str,
        supplier_user_id: str,
        name: str | None,
        password: str,
    ) -> User:
        """Add one customer who signs in with `password` (checks: checked_customer)."""
        record = {"email": email, "supplier_user_id": supplier_user_id, "name": name}
        new = await checked_customer({**record, "password": password})
        try:
            user = await self._add_customer(new)
        except DuplicateUser:
            raise ActionError("a customer with this email or supplier_user_id exists") from None
        await self.audit("admin.customer.added", actor, supplier_user_id=user.supplier_user_id)
        return user

    async def import_customers(self, actor: Actor, lines: Iterable[ImportLine]) -> ImportReport:
        """Add every valid record not present yet (by email or supplier_user_id), so running
        an import again duplicates nobody; one audit row counts what happened.

        The records are checked (and passwords hashed) before the transaction opens: hashing
        is slow, and an open write transaction would hold up the running server meanwhile."""
        report = ImportReport()
        checked: list[NewCustomer] = []
        for number, row in lines:
            try:
                if isinstance(row, str):
                    raise ActionError(row)
                checked.append(await checked_customer(row))
            except ActionError as exc:
                report.rejected.append(f"line {number}: {exc}")
        return await self._import_checked(actor, checked, report)

    @transactional
    async def _import_checked(
        self, actor: Actor, customers: list[NewCustomer], report: ImportReport
    ) -> ImportReport:
        for new in customers:
            if await self.store.users.exists(new.email, new.supplier_user_id):
                report.already_present += 1
                continue
            try:
                await self._add_customer(new)
            except DuplicateUser:  # added by someone else since exists(): start again
                raise ActionError(
                    f"{new.supplier_user_id} was added meanwhile by someone else; nothing was "
                    "imported, run the import again"
                ) from None
            report.imported += 1
        await self.audit(
            "admin.customer.imported",
            actor,
            imported=report.imported,
            already_present=report.already_present,
            rejected=len(report.rejected),
        )
        return report

    async def _add_customer(self, new: NewCustomer) -> User:
        return await self.store.users.add(
            email=new.email,
            supplier_user_id=new.supplier_user_id,
            name=new.name,
            password_hash=new.password_hash,
            now=self.clock.now(),
        )

    @transactional
    async def set_customer_disabled(self, actor: Actor, user_id: int, disabled: bool) -> None:
        user = await self.store.users.by_id(user_id)
        if user is None:
            raise ActionError(_("There is no such customer."))
        now = self.clock.now()
        await self.store.users.set_disabled(user_id, disabled, now)
        if disabled:  # signed out everywhere; their refresh and access tokens stop working
            await self.store.login_sessions.remove_for_user(user_id)
            await self.store.grants.revoke_for_user(user_id, now)
        kind = "admin.customer.disabled" if disabled else "admin.customer.enabled"
        await self.audit(kind, actor, supplier_user_id=user.supplier_user_id)

    @transactional
    async def clear_throttle(self, actor: Actor, user_id: int) -> None:
        user = await self.store.users.by_id(user_id)
        if user is None:
            raise ActionError(_("There is no such customer."))
        await self.store.throttles.clear(f"account:{user.email}")
        await self.audit(
            "admin.customer.throttle_cleared", actor, supplier_user_id=user.supplier_user_id
        )


PSEUDONYM_KEY = "pseudonym_key"  # in the settings table: the key of erased customers' pseudonyms


class CustomerDataActions(AuditedActions):
    """A customer's data handed over (GDPR Art. 15, 20) or erased (Art. 17)."""

    async def _customer(self, user_id: int) -> User:
        user = await self.store.users.by_id(user_id)
        if user is None or user.email.endswith(ERASED_DOMAIN):
            raise ActionError(_("There is no such customer."))
        return user

    @transactional
    async def export_customer(self, actor: Actor, user_id: int) -> dict[str, Any]:
        """One JSON document of everything stored about the customer."""
        user = await self._customer(user_id)
        tables = await self.store.customer_data.export(user)
        await self.audit("admin.customer.exported", actor, supplier_user_id=user.supplier_user_id)
        return {
            "supplier_user_id": user.supplier_user_id,
            "exported_at": self.clock.now(),
            "tables": tables,
        }

    @transactional
    async def erase_customer(self, actor: Actor, user_id: int) -> str:
        """Erase the customer's personal data; returns the pseudonym what is kept now carries.

        The pseudonym is an HMAC of the supplier_user_id under a key kept in this database:
        whoever knows the customer number can find the kept evidence again (pseudonymised, GDPR
        Art. 4(5)), nobody can read the number back from it."""
        user = await self._customer(user_id)
        key = await self.store.settings.get_or_create(PSEUDONYM_KEY, new_secret(32))
        mac = hmac.new(key.encode(), user.supplier_user_id.encode(), hashlib.sha256)
        pseudonym = "erased-" + mac.hexdigest()[:24]
        await self.store.customer_data.erase(user, pseudonym, self.clock.now())
        # The audit row names the pseudonym only; NOX offers no call to be told of an erasure.
        await self.audit("admin.customer.erased", actor, pseudonym=pseudonym)
        return pseudonym
