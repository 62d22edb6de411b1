"""Accounts: create, authenticate, look up the agent who answered a call; views that never carry the hash."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from uhd_telephony.accounts import confidentiality, passwords
from uhd_telephony.accounts.hashing import PasswordHasher
from uhd_telephony.accounts.models import GROUP_MAX, INTERFACE_MAX, Account, AccountTenant, Role
from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.i18n import DEFAULT_LOCALE, LOCALES, Label, Labels, Msg, Quoted, is_locale
from uhd_telephony.store.db import Database
from uhd_telephony.tenant import check_tenant

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# Asterisk channel technology/resource, e.g. PJSIP/101, SIP/anna, Local/101@agents/n
_INTERFACE = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[^\s,;|\x00-\x1f\x7f]+")
# a Local channel's trailing option flags: /n (no optimisation), /j, /m, /b
_LOCAL_OPTIONS = re.compile(r"/[a-z]+$")
# a partner firm's support group, as tickets.groups spells it: partner:<firm>
_PARTNER_GROUP = re.compile(r"partner:[a-z0-9][a-z0-9_.-]*")

# why an account's access ends: its logins always; its API tokens on a new role too
REVOKE_DEACTIVATED = "deactivated"
REVOKE_PASSWORD = "password"
REVOKE_ROLE = "role"
# (the caller's session, account id, now, why): end what an account was given before a change of who it is
AccessHook = Callable[[AsyncSession, int, datetime, str], Awaitable[None]]
_revokers: list[AccessHook] = []


def on_access_revoked(hook: AccessHook) -> AccessHook:
    """Have ``hook`` run, in the changing transaction, when an account's access must end: deactivation, a new
    password, a new role. How the security capability (above accounts) revokes the account's sessions and tokens
    without accounts knowing its tables (security/sessions.py)."""
    if hook not in _revokers:
        _revokers.append(hook)
    return hook


async def _revoke_access(session: AsyncSession, account_id: int, why: str) -> None:
    now = datetime.now(UTC)
    for hook in _revokers:
        await hook(session, account_id, now, why)


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as the rest of the application sees it: no password hash, ever."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    tenants: tuple[str, ...]
    interface: str | None
    member_name: str | None
    phone_channel: str | None  # what a callback rings: the explicit channel, else the interface
    created_at: datetime
    last_login_at: datetime | None
    partner_group: str | None = None  # a partner's group (partner:<firm>): the tickets it may see
    locale: str = DEFAULT_LOCALE  # the language of its pages and answers (uhd_telephony.i18n)
    confidentiality_version: int | None = None  # the § 203 text it last acknowledged (accounts.confidentiality)
    confidentiality_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        """Whether the account has acknowledged the current confidentiality text (else only that works)."""
        return confidentiality.acknowledged(self.confidentiality_version)

    def serves(self, tenant: str) -> bool:
        """Whether this account works for ``tenant`` (an admin works for every tenant)."""
        return self.role == Role.ADMIN or tenant in self.tenants

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the API."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "active": self.active,
            "tenants": list(self.tenants),
            "interface": self.interface,
            "member_name": self.member_name,
            "phone_channel": self.phone_channel,
            "created_at": _iso(self.created_at),
            "last_login_at": _iso(self.last_login_at),
            "partner_group": self.partner_group,
            "locale": self.locale,
            "confidentiality_version": self.confidentiality_version,
            "confidentiality_at": _iso(self.confidentiality_at),
        }

    @classmethod
    def of(cls, row: Account) -> AccountView:
        return cls(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            role=row.role,
            active=row.active,
            tenants=tuple(sorted(t.tenant for t in row.tenants)),
            interface=row.interface,
            member_name=row.member_name,
            phone_channel=row.phone_channel or row.interface,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
            partner_group=row.partner_group,
            locale=row.locale or DEFAULT_LOCALE,
            confidentiality_version=row.confidentiality_version,
            confidentiality_at=row.confidentiality_at,
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise_username(username: str) -> str:
    """The stored form of a username: trimmed and lower-cased (lookups are case-insensitive)."""
    return username.strip().lower()


def canonical_interface(interface: str) -> str:
    """An interface in a comparable form: case-folded, a Local channel without its ``/n``-style options."""
    value = interface.strip().lower()
    if value.startswith("local/"):
        value = _LOCAL_OPTIONS.sub("", value[len("local/") :].rstrip("/"))
        return "local/" + value
    return value


def interface_extension(interface: str) -> str:
    """The extension an interface reaches: ``101`` for PJSIP/101 and for Local/101@agents/n."""
    resource = canonical_interface(interface).partition("/")[2]
    return resource.partition("@")[0]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        too_short = Msg("the password needs at least %(n)s characters", n=MIN_PASSWORD_CHARS)
        raise InvalidInput(too_short, {"field": "password"})
    if len(password) > passwords.MAX_PASSWORD_CHARS:
        too_long = Msg("the password may have at most %(n)s characters", n=passwords.MAX_PASSWORD_CHARS)
        raise InvalidInput(too_long, {"field": "password"})


def _check_interface(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > INTERFACE_MAX or not _INTERFACE.fullmatch(value):
        not_a_channel = Msg(
            "%(field)s %(value)s is not an Asterisk channel such as PJSIP/101",
            field=Label("field", field),
            value=Quoted(value, 80),
        )
        raise InvalidInput(not_a_channel, {"field": field})
    return value


def _check_locale(locale: str) -> str:
    if not is_locale(locale):
        raise InvalidInput(
            Msg(
                "unknown language %(locale)s: one of %(locales)s", locale=repr(locale)[:20], locales=", ".join(LOCALES)
            ),
            {"field": "locale"},
        )
    return locale


def check_role(role: str | Role) -> Role:
    """``role`` as a Role; InvalidInput naming the roles there are otherwise."""
    try:
        return Role(role)
    except ValueError:
        unknown = Msg("unknown role %(role)s: one of %(roles)s", role=Quoted(role, 40), roles=Labels("role", Role))
        raise InvalidInput(unknown, {"field": "role"}) from None


def check_partner_group(value: str | None, role: Role) -> str | None:
    """A partner needs its group (``partner:<firm>``); every other role has none."""
    group = (value or "").strip() or None
    if role != Role.PARTNER:
        if group is not None:
            raise InvalidInput(Msg("only a partner account has a partner_group"), {"field": "partner_group"})
        return None
    if group is None or len(group) > GROUP_MAX or not _PARTNER_GROUP.fullmatch(group):
        raise InvalidInput(
            Msg(
                "a partner account needs its support group, partner:<firm> (lower-case letters, digits, '.', '_', '-')"
            ),
            {"field": "partner_group"},
        )
    return group


def _check_tenants(tenants: Iterable[str], role: Role) -> list[str]:
    clean = sorted({t.strip() for t in tenants})
    for tenant in clean:
        check_tenant(tenant, field="tenants")
    if not clean and role != Role.ADMIN:
        # an agent, manager or partner without a tenant could see nothing and do nothing
        no_tenant = Msg("an account with role %(role)s needs at least one tenant", role=Label("role", role.value))
        raise InvalidInput(no_tenant, {"field": "tenants"})
    return clean


class AccountService:
    """Accounts in the database; hashing runs in an executor, never on the event loop."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        # the web app's bounded pool (accounts.plugin); without the app, the loop's default executor
        self.hasher = hasher or PasswordHasher.unowned()
        self._dummy_hash: str | None = None
        # counts this process's changes to who answers on which phone (create, change, deactivate): whoever
        # remembers ``agent_for_call`` answers (the screen pop) starts over when it moves
        self.version = 0

    async def create(
        self,
        username: str,
        password: str,
        *,
        display_name: str | None = None,
        role: str | Role = Role.AGENT,
        tenants: Sequence[str] = (),
        interface: str | None = None,
        member_name: str | None = None,
        phone_channel: str | None = None,
        partner_group: str | None = None,
        locale: str = DEFAULT_LOCALE,
    ) -> AccountView:
        """A new active account; ``Conflict`` when the username or interface is taken."""
        name = normalise_username(username)
        if not _USERNAME.fullmatch(name):
            rule = Msg("a username is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
            raise InvalidInput(rule, {"field": "username"})
        checked_role = check_role(role)
        _check_locale(locale)
        group = check_partner_group(partner_group, checked_role)
        _check_password(password)
        tenant_list = _check_tenants(tenants, checked_role)
        iface = _check_interface(interface, "interface")
        channel = _check_interface(phone_channel, "phone_channel")
        member = (member_name or "").strip() or None
        display = (display_name or "").strip() or member or name
        hashed = await self.hasher.hash(password)
        row = Account(
            username=name,
            display_name=display[:200],
            role=checked_role.value,
            password_hash=hashed,
            active=True,
            interface=iface,
            member_name=member,
            phone_channel=channel,
            partner_group=group,
            locale=locale,
            tenants=[AccountTenant(tenant=t) for t in tenant_list],
        )
        async with self.db.sessionmaker() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise await self._conflict(name, iface) from None
            view = AccountView.of(await self._load(session, row.id))
        self.version += 1
        log.info("account %s created (id %d, role %s, tenants %s)", name, view.id, view.role, ",".join(tenant_list))
        return view

    async def _conflict(self, username: str, interface: str | None) -> Conflict:
        """Which unique value a failed insert collided with, as the error to raise."""
        if await self.by_username(username) is not None:
            return Conflict(Msg("the username %(username)s is taken", username=Quoted(username)), {"field": "username"})
        if interface is not None:
            taken = Msg("the interface %(interface)s belongs to another account", interface=Quoted(interface))
            return Conflict(taken, {"field": "interface"})
        return Conflict(Msg("the account collides with an existing one"))

    @staticmethod
    async def _load(session: AsyncSession, account_id: int) -> Account:
        row = await session.scalar(
            select(Account).where(Account.id == account_id).execution_options(populate_existing=True)
        )
        if row is None:
            raise NotFound(Msg("no account %(id)s", id=account_id), {"account_id": account_id})
        return row

    async def get(self, account_id: int) -> AccountView:
        """The account with this id; ``NotFound`` otherwise."""
        async with self.db.sessionmaker() as session:
            return AccountView.of(await self._load(session, account_id))

    async def by_username(self, username: str) -> AccountView | None:
        """The account with this username, whatever its case; None when there is none."""
        async with self.db.sessionmaker() as session:
            row = await session.scalar(select(Account).where(Account.username == normalise_username(username)))
            return None if row is None else AccountView.of(row)

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        then: Callable[[AsyncSession, AccountView], Awaitable[None]] | None = None,
    ) -> AccountView | None:
        """The account when the password matches and it is active; None otherwise, in about the same time.

        The password is checked with no database connection held: a storm of logins waiting for the hashing pool
        must not take the connections the pops, the call writer and the API need. ``then`` adds what the login
        writes (its session, its audit entry) to the one transaction that records the login: one write per
        login, not three, on a database that has a single writer (SQLite)."""
        name = normalise_username(username)
        async with self.db.sessionmaker() as session:
            found = (
                await session.execute(
                    select(Account.id, Account.password_hash, Account.active).where(Account.username == name)
                )
            ).first()
        encoded = found.password_hash if found is not None else await self._dummy()
        # verify even for unknown or inactive accounts: the response time must not tell which names exist
        ok = await self.hasher.verify(password, encoded)
        if found is None or not ok or not found.active:
            log.info("login refused for %r", name[:64])
            return None
        rehashed = await self.hasher.hash(password) if passwords.needs_rehash(encoded) else None
        async with self.db.sessionmaker() as session:
            row = await session.get(Account, found.id)
            if row is None or not row.active or row.password_hash != encoded:
                return None  # deactivated or given a new password while the old one was being checked
            row.last_login_at = datetime.now(UTC)
            if rehashed is not None:
                row.password_hash = rehashed
                log.info("password hash of account %d upgraded to the current parameters", row.id)
            view = AccountView.of(row)
            if then is not None:
                await then(session, view)
            await session.commit()
        log.info("account %s logged in", name)
        return view

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hasher.hash("not a password: a timing decoy")
        return self._dummy_hash

    async def set_password(self, account_id: int, password: str) -> None:
        """Replace the account's password."""
        _check_password(password)
        hashed = await self.hasher.hash(password)
        async with self.db.sessionmaker() as session:
            result = await session.execute(update(Account).where(Account.id == account_id).values(password_hash=hashed))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(Msg("no account %(id)s", id=account_id), {"account_id": account_id})
            await _revoke_access(session, account_id, REVOKE_PASSWORD)  # every login with the old password ends
            await session.commit()
        log.info("password of account %d changed", account_id)

    async def set_locale(self, account_id: int, locale: str) -> AccountView:
        """The language of the account's pages and answers: one of ``uhd_telephony.i18n.LOCALES``."""
        _check_locale(locale)
        async with self.db.sessionmaker() as session:
            row = await self._load(session, account_id)
            row.locale = locale
            await session.commit()
            view = AccountView.of(row)
        log.info("account %d speaks %s", account_id, locale)
        return view

    async def acknowledge_confidentiality(self, account_id: int, version: int, *, ip: str | None) -> AccountView:
        """Record that the account acknowledged the confidentiality text ``version`` (the current one: an older
        page's form is a Conflict), with its audit entry in the same transaction; again is a no-op."""
        if version != confidentiality.VERSION:
            outdated = Msg("the confidentiality text has changed: read the current one and acknowledge it")
            raise Conflict(outdated, {"version": confidentiality.VERSION})
        async with self.db.sessionmaker() as session:
            row = await self._load(session, account_id)
            if row.confidentiality_version != version:
                row.confidentiality_version = version
                row.confidentiality_at = datetime.now(UTC)
                AuditLog.add(
                    session,
                    AuditAction.CONFIDENTIALITY_ACKNOWLEDGED,
                    actor=row.username,
                    target=f"account:{row.id}",
                    ip=ip,
                    details={"version": version, "digest": confidentiality.digest()},
                )
                await session.commit()
                log.info("account %s (id %d) acknowledged confidentiality text %d", row.username, row.id, version)
            return AccountView.of(row)

    async def deactivate(self, account_id: int) -> AccountView:
        """Stop the account from logging in and from being picked as the agent of a call; history stays."""
        async with self.db.sessionmaker() as session:
            row = await self._load(session, account_id)
            row.active = False
            # a reactivation must not bring old logins back
            await _revoke_access(session, account_id, REVOKE_DEACTIVATED)
            await session.commit()
            view = AccountView.of(row)
        self.version += 1
        log.info("account %s (id %d) deactivated", view.username, account_id)
        return view

    async def list_all(self) -> list[AccountView]:
        """Every account, by username (the admin API's list)."""
        async with self.db.sessionmaker() as session:
            return [AccountView.of(row) for row in await session.scalars(select(Account).order_by(Account.username))]

    async def change(
        self,
        account_id: int,
        *,
        role: str | None = None,
        tenants: Sequence[str] | None = None,
        partner_group: str | None = None,
        display_name: str | None = None,
        active: bool | None = None,
        locale: str | None = None,
    ) -> tuple[AccountView, AccountView]:
        """Change what is given (None: keep it); the account (before, after), checked as ``create`` checks it.

        A change of role re-checks the partner group and the tenants against the new role: an account that
        becomes a partner needs its group, one that stops being a partner loses it.
        """
        async with self.db.sessionmaker() as session:
            row = await self._load(session, account_id)
            before = AccountView.of(row)
            new_role = check_role(role if role is not None else row.role)
            if new_role == Role.PARTNER:
                group = check_partner_group(partner_group or row.partner_group, new_role)
            else:
                group = check_partner_group(partner_group, new_role)
            tenant_list = _check_tenants(tenants if tenants is not None else before.tenants, new_role)
            row.role = new_role.value
            row.partner_group = group
            if display_name is not None:
                name = display_name.strip()
                if not name or len(name) > 200:
                    raise InvalidInput(Msg("a display name is 1-200 characters"), {"field": "display_name"})
                row.display_name = name
            if active is not None:
                row.active = active
            if locale is not None:
                row.locale = _check_locale(locale)
            if tenants is not None:
                keep = {t.tenant: t for t in row.tenants}
                row.tenants = [keep.get(t) or AccountTenant(tenant=t) for t in tenant_list]
            if new_role.value != before.role:
                # a session or token never carries more (or other) than the account's current role: a new role
                # starts from a new login and new tokens
                await _revoke_access(session, account_id, REVOKE_ROLE)
            elif before.active and not row.active:
                await _revoke_access(session, account_id, REVOKE_DEACTIVATED)
            await session.commit()
            after = AccountView.of(await self._load(session, account_id))
        self.version += 1
        log.info("account %s (id %d) changed", after.username, account_id)
        return before, after

    async def list_agents(self, tenant: str) -> list[AccountView]:
        """The active agents who work for ``tenant``, by display name."""
        async with self.db.sessionmaker() as session:
            rows = await session.scalars(
                select(Account)
                .join(AccountTenant, AccountTenant.account_id == Account.id)
                .where(AccountTenant.tenant == tenant, Account.role == Role.AGENT.value, Account.active.is_(True))
                .order_by(Account.display_name, Account.id)
            )
            return [AccountView.of(row) for row in rows]

    async def agent_for_call(self, interface: str | None, member_name: str | None) -> AccountView | None:
        """The active agent who answered, from AgentConnect's ``Interface`` and ``MemberName``.

        The interface decides when it matches: exactly, or in canonical form (case, a Local channel's ``/n``),
        or by extension (``Local/101@agents/n`` reaches the phone PJSIP/101). Queue members configured by name
        only differ from the account's interface: then the MemberName decides, if exactly one account has it.
        """
        async with self.db.sessionmaker() as session:
            if interface and interface.strip():
                given = interface.strip()
                row = await session.scalar(select(Account).where(Account.interface == given, Account.active.is_(True)))
                if row is not None:
                    return AccountView.of(row)
                candidates = list(
                    await session.scalars(
                        select(Account).where(Account.interface.is_not(None), Account.active.is_(True))
                    )
                )
                found = _match_interface(given, candidates)
                if found is not None:
                    return AccountView.of(found)
            if member_name and member_name.strip():
                wanted = member_name.strip().casefold()
                named = await session.scalars(
                    select(Account).where(Account.member_name.is_not(None), Account.active.is_(True))
                )
                matches = [r for r in named if (r.member_name or "").strip().casefold() == wanted]
                if len(matches) == 1:
                    return AccountView.of(matches[0])
                if len(matches) > 1:
                    log.warning("queue member name %r belongs to %d accounts: agent unknown", member_name, len(matches))
        return None


def _match_interface(given: str, candidates: list[Account]) -> Account | None:
    """The one candidate whose interface is ``given`` in canonical form, else the one reaching its extension."""
    canon = canonical_interface(given)
    same = [a for a in candidates if a.interface is not None and canonical_interface(a.interface) == canon]
    if len(same) == 1:
        return same[0]
    extension = interface_extension(given)
    if not extension:
        return None
    reach = [a for a in candidates if a.interface is not None and interface_extension(a.interface) == extension]
    return reach[0] if len(reach) == 1 else None


async def create_account(
    database_url: str,
    username: str,
    password: str,
    *,
    role: str = Role.AGENT.value,
    tenants: Sequence[str] = (),
    display_name: str | None = None,
    interface: str | None = None,
    member_name: str | None = None,
    phone_channel: str | None = None,
    partner_group: str | None = None,
    migrate_first: bool = True,
) -> AccountView:
    """Migrate the database (unless told not to) and create one account: ``uhd-telephony create-account``."""
    if migrate_first:
        from uhd_telephony.store.migrate import migrate

        await migrate(database_url)
    from uhd_telephony.audit.log import AuditAction, AuditLog

    db = Database(database_url)
    try:
        view = await AccountService(db).create(
            username,
            password,
            display_name=display_name,
            role=role,
            tenants=tenants,
            interface=interface,
            member_name=member_name,
            phone_channel=phone_channel,
            partner_group=partner_group,
        )
        await AuditLog(db).write(
            AuditAction.ACCOUNT_CREATED,
            actor="cli",
            target=f"account:{view.id} {view.username}",
            details={"role": view.role, "tenants": list(view.tenants), "partner_group": view.partner_group},
        )
        return view
    finally:
        # the engine's pool must be gone before asyncio.run closes the loop
        await db.close()
