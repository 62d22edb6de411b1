"""The tenants' helpdesk addresses: mail to one of them becomes a ticket of its tenant; any other recipient is
refused at RCPT (550 5.1.1), so the mail server bounces it instead of a mail being accepted and lost.

Addresses are kept in lower case (the helpdesk's domain and mailbox, as mail servers compare them in practice) and
belong to exactly one tenant. An admin sets them with the admin API or ``uhd-telephony mail-address``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.mailin.models import ADDRESS_LENGTH, addresses
from uhd_telephony.outbox.mail import valid_address
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import is_tenant
from uhd_telephony.tenants.models import Tenant

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddressView:
    id: int
    address: str
    tenant: str
    created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        created = self.created_at.astimezone(UTC) if self.created_at is not None else None
        return {
            "id": self.id,
            "address": self.address,
            "tenant": self.tenant,
            "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z") if created else None,
        }


def normalise_address(value: object) -> str:
    """A helpdesk address as stored (lower case, trimmed); InvalidInput for anything that is not one address."""
    address = value.strip().lower() if isinstance(value, str) else ""
    if not valid_address(address) or len(address) > ADDRESS_LENGTH:
        shown = Quoted(value if isinstance(value, str) else str(value), 80)
        raise InvalidInput(Msg("%(address)s is not a mail address", address=shown), {"field": "address"})
    return address


def _view(row: Any) -> AddressView:
    return AddressView(int(row.id), row.address, row.tenant, row.created_at)


class MailAddresses:
    """The ``mail_in_addresses`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, tenant: str | None = None) -> list[AddressView]:
        stmt = select(addresses).order_by(addresses.c.tenant, addresses.c.address)
        if tenant is not None:
            stmt = stmt.where(addresses.c.tenant == tenant)
        async with self.db.engine.connect() as conn:
            return [_view(row) for row in await conn.execute(stmt)]

    async def add(self, address: str, tenant: str) -> AddressView:
        """Give ``tenant`` the helpdesk address; InvalidInput for a bad address or an unknown tenant, Conflict when
        the address is taken already (by this or another tenant)."""
        address = normalise_address(address)
        taken = Msg("the address %(address)s is a helpdesk address already", address=Quoted(address))
        try:
            async with self.db.engine.begin() as conn:
                known = (
                    is_tenant(tenant)
                    and (await conn.execute(select(Tenant.tenant).where(Tenant.tenant == tenant))).first() is not None
                )
                if not known:
                    unknown = Msg("unknown tenant %(tenant)s: add it first", tenant=Quoted(tenant, 80))
                    raise InvalidInput(unknown, {"field": "tenant"})
                if (await conn.execute(select(addresses.c.id).where(addresses.c.address == address))).first():
                    raise Conflict(taken, {"field": "address"})
                await conn.execute(insert(addresses).values(address=address, tenant=tenant))
                row = (await conn.execute(select(addresses).where(addresses.c.address == address))).one()
        except IntegrityError:  # added at the same moment by someone else
            raise Conflict(taken, {"field": "address"}) from None
        log.info("helpdesk address %s added for tenant %s", address, tenant)
        return _view(row)

    async def remove(self, address_id: int | None = None, *, address: str | None = None) -> AddressView:
        """Remove the address (by id, or by its spelling); NotFound when there is none such."""
        where = addresses.c.id == address_id if address is None else addresses.c.address == address.strip().lower()
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(select(addresses).where(where))).first()
            if row is None:
                missing = Msg("no helpdesk address %(address)s", address=Quoted(address or address_id, 80))
                raise NotFound(missing, {"address": address or address_id})
            await conn.execute(delete(addresses).where(addresses.c.id == row.id))
        log.info("helpdesk address %s of tenant %s removed", row.address, row.tenant)
        return _view(row)

    async def tenant_of(self, address: str) -> str | None:
        """The tenant a recipient address belongs to (case ignored), or None."""
        wanted = address.strip().strip("<>").lower()
        async with self.db.engine.connect() as conn:
            found = await conn.execute(select(addresses.c.tenant).where(addresses.c.address == wanted))
            return found.scalar_one_or_none()

    async def any_of(self, candidates: tuple[str, ...]) -> bool:
        """Whether one of ``candidates`` is a helpdesk address (a mail from one is a loop)."""
        if not candidates:
            return False
        async with self.db.engine.connect() as conn:
            stmt = select(addresses.c.id).where(addresses.c.address.in_(candidates)).limit(1)
            return (await conn.execute(stmt)).first() is not None
