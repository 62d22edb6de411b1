"""Mail-in objects for worlds built elsewhere (tests/security's): attachments of a ticket of each tenant and a
helpdesk address, written as a received mail writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.mailin.addresses import MailAddresses
from uhd_telephony.mailin.models import MailKind, attachments, messages
from uhd_telephony.store.db import Database


async def seed_attachment(db: Database, tenant: str, ticket_id: int, filename: str, data: bytes) -> int:
    """A mail of ``tenant`` on the ticket with one attachment; its id."""
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        mail_id = (
            await conn.execute(
                insert(messages)
                .values(tenant=tenant, message_id=f"<seed-{ticket_id}@test>", ticket_id=ticket_id,
                        kind=MailKind.COMMENT.value, sender="seed@test.example", size=len(data), received_at=now)
                .returning(messages.c.id)
            )
        ).scalar_one()  # fmt: skip
        stored = await conn.execute(
            insert(attachments)
            .values(tenant=tenant, ticket_id=ticket_id, mail_id=mail_id, filename=filename,
                    content_type="application/pdf", size=len(data), data=data, created_at=now)
            .returning(attachments.c.id)
        )  # fmt: skip
        return int(stored.scalar_one())


async def seed_mail(db: Database, ticket_a: int, ticket_b: int, secret: str) -> dict[str, int]:
    """``attachment_a`` (of tenant A's ticket), ``attachment_b`` (of B's, named after B's ``secret``) and
    ``mail_address`` (tenant A's helpdesk address)."""
    return {
        "attachment_a": await seed_attachment(db, TENANT_A, ticket_a, "Befund.pdf", b"%PDF-1.7 A"),
        "attachment_b": await seed_attachment(db, TENANT_B, ticket_b, f"Akte {secret}.pdf", f"%PDF {secret}".encode()),
        "mail_address": (await MailAddresses(db).add("helpdesk@klinikum-nord.example", TENANT_A)).id,
    }
