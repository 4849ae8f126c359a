"""Whether this instance may take traffic (/readyz): the database answers, its schema is the
newest migration, and what keeps NOX from getting what it needs (warnings, not a refusal)."""

from __future__ import annotations

from dataclasses import dataclass, field

from idp.config import Settings
from idp.nox.readiness import configuration_warnings
from idp.store import Store
from idp.store.schema_version import current_revision, head_revision


@dataclass(frozen=True)
class Readiness:
    """`reachable` False: the database did not answer (the revisions are then unknown)."""

    reachable: bool
    current: str | None = None
    head: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.reachable and self.current == self.head


class ReadinessCheck:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def check(self) -> Readiness:
        try:
            current = await current_revision(self.store.engine)
        except Exception:  # any database failure means "not ready", never a 500
            return Readiness(reachable=False)
        head = head_revision()
        if current != head:
            return Readiness(reachable=True, current=current, head=head)
        # Ready to serve, but say what keeps NOX from getting what it needs.
        warnings = await configuration_warnings(self.settings, self.store)
        return Readiness(reachable=True, current=current, head=head, warnings=warnings)
