"""Terms and conditions: versions per language, publication, and each customer's acceptance."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from idp.records import TermsVersion
from idp.store.base import Repository, to_record
from idp.store.tables import terms_acceptances, terms_versions


class DuplicateTerms(Exception):
    """This version already has a text in this language."""


class Terms(Repository):
    async def publish(self, *, version: str, language: str, body_md: str, now: int) -> None:
        """Store and publish one language of a version; the newest published version is current."""
        try:
            async with self.begin() as conn:
                await conn.execute(
                    insert(terms_versions).values(
                        version=version,
                        language=language,
                        body_md=body_md,
                        created_at=now,
                        published_at=now,
                    )
                )
        except IntegrityError:
            raise DuplicateTerms(f"{version}/{language}") from None

    async def add_draft(self, *, version: str, language: str, body_md: str, now: int) -> None:
        """Store a text that is not current until its version is published."""
        try:
            async with self.begin() as conn:
                await conn.execute(
                    insert(terms_versions).values(
                        version=version, language=language, body_md=body_md, created_at=now
                    )
                )
        except IntegrityError:
            raise DuplicateTerms(f"{version}/{language}") from None

    async def publish_version(self, version: str, now: int) -> int:
        """Publish every language of `version`; it becomes current. Returns the texts published."""
        async with self.begin() as conn:
            result = await conn.execute(
                update(terms_versions)
                .where(terms_versions.c.version == version, terms_versions.c.published_at.is_(None))
                .values(published_at=now)
            )
        return result.rowcount

    async def make_current(self, version: str, now: int) -> int:
        """Make an already published `version` current again (a rollback): its texts count as
        published `now`, so it is the newest. Returns the texts changed (0: none published)."""
        async with self.begin() as conn:
            result = await conn.execute(
                update(terms_versions)
                .where(
                    terms_versions.c.version == version, terms_versions.c.published_at.is_not(None)
                )
                .values(published_at=now)
            )
        return result.rowcount

    async def unpublish(self, version: str) -> int:
        """Take back `version` (its texts become drafts) unless a customer accepted it: what
        was accepted stays published, as the customer's evidence and their /account shows it.
        One statement, so an acceptance is never unpublished. Returns the texts changed."""
        accepted = select(terms_acceptances.c.id).where(terms_acceptances.c.version == version)
        async with self.begin() as conn:
            result = await conn.execute(
                update(terms_versions)
                .where(
                    terms_versions.c.version == version,
                    terms_versions.c.published_at.is_not(None),
                    ~accepted.exists(),
                )
                .values(published_at=None)
            )
        return result.rowcount

    async def versions(self) -> list[dict[str, object]]:
        """Every text, newest first, with how often its version was accepted in its language."""
        counts = (
            select(
                terms_acceptances.c.version,
                terms_acceptances.c.language,
                func.count().label("acceptances"),
            )
            .group_by(terms_acceptances.c.version, terms_acceptances.c.language)
            .subquery()
        )
        query = (
            select(terms_versions, func.coalesce(counts.c.acceptances, 0).label("acceptances"))
            .outerjoin(
                counts,
                (counts.c.version == terms_versions.c.version)
                & (counts.c.language == terms_versions.c.language),
            )
            .order_by(terms_versions.c.created_at.desc(), terms_versions.c.id.desc())
        )
        async with self.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def acceptances_of(self, user_id: int) -> list[dict[str, object]]:
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(terms_acceptances)
                    .where(terms_acceptances.c.user_id == user_id)
                    .order_by(terms_acceptances.c.accepted_at.desc())
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    async def current_version(self) -> str | None:
        async with self.connect() as conn:
            return await conn.scalar(
                select(terms_versions.c.version)
                .where(terms_versions.c.published_at.is_not(None))
                .order_by(terms_versions.c.published_at.desc(), terms_versions.c.id.desc())
                .limit(1)
            )

    async def text(
        self, version: str, languages: list[str], *, drafts: bool = False
    ) -> TermsVersion | None:
        """The published text of `version` in the first of `languages` that has one. Drafts only
        for an admin's preview (`drafts=True`): customers never see an unpublished text."""
        query = select(terms_versions).where(terms_versions.c.version == version)
        if not drafts:
            query = query.where(terms_versions.c.published_at.is_not(None))
        async with self.connect() as conn:
            rows = (await conn.execute(query)).all()
        by_language = {row.language: row for row in rows}
        for language in languages:
            if language in by_language:
                return to_record(TermsVersion, by_language[language])
        return None

    async def has_accepted(self, user_id: int, version: str) -> bool:
        async with self.connect() as conn:
            found = await conn.scalar(
                select(func.count())
                .select_from(terms_acceptances)
                .where(
                    terms_acceptances.c.user_id == user_id, terms_acceptances.c.version == version
                )
            )
        return bool(found)

    async def accept(
        self,
        *,
        user_id: int,
        version: str,
        language: str,
        now: int,
        client_id: str | None,
        ip: str | None,
        user_agent: str | None,
        text_sha256: str | None = None,
    ) -> None:
        async with self.begin() as conn:
            await conn.execute(
                insert(terms_acceptances).values(
                    text_sha256=text_sha256,
                    user_id=user_id,
                    version=version,
                    language=language,
                    accepted_at=now,
                    client_id=client_id,
                    ip=ip,
                    user_agent=(user_agent or "")[:512] or None,
                )
            )

    async def count(self) -> int:
        async with self.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(terms_versions)) or 0)
