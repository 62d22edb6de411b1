"""One frozen settings object, read from the environment (prefix ``UHD_``); CLI flags override it."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///" + str(Path("uhd-telephony.db"))


def _parse_mapping(value: Any) -> Any:
    """Accept ``key=value,key=value`` (what people type in an env file) as well as a dict."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return {}
        result: dict[str, str] = {}
        for part in value.split(","):
            key, sep, val = part.partition("=")
            if not sep or not key.strip() or not val.strip():
                raise ValueError(f"expected key=value pairs separated by commas, got {part!r}")
            result[key.strip()] = val.strip()
        return result
    return value


def listen_address(value: str) -> tuple[str, int]:
    """(host, port) of ``host:port`` (``[::1]:2525`` for IPv6; port 0: any free one), ValueError otherwise."""
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise ValueError(f"expected host:port such as 0.0.0.0:2525 or [::]:2525, got {value!r}")
    return host, int(port)


class Settings(BaseSettings):
    """Every setting of the service; the README lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="UHD_", frozen=True, extra="ignore")

    # storage and fan-out
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None

    # Asterisk Manager Interface
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "uhd"
    ami_secret: SecretStr = SecretStr("uhdsecret")
    ami_connect_timeout_s: float = Field(default=5.0, gt=0)
    ami_ping_interval_s: float = Field(default=10.0, gt=0)
    ami_ping_timeout_s: float = Field(default=5.0, gt=0)
    ami_action_timeout_s: float = Field(default=10.0, gt=0)
    ami_reconnect_min_s: float = Field(default=0.5, gt=0)
    ami_reconnect_max_s: float = Field(default=30.0, gt=0)

    # call tracking
    short_abandon_s: float = Field(default=5.0, ge=0)
    finalize_grace_s: float = Field(default=2.0, ge=0)
    default_tenant: str = "default"
    # number dialled -> tenant, and queue -> tenant; a channel variable UHD_TENANT wins over both
    tenant_numbers: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    tenant_queues: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Asterisk's queue_log (its log directory mounted read-only): calls that started and ended while the service
    # could not see Asterisk are backfilled from it at start and after every reconnect; unset: off
    queue_log: str | None = None

    # what this process does (app/server.py): "all" (web and tracker), "web" (consoles, API, pages: any number of
    # them behind a load balancer, pops through Redis), "tracker" (the AMI stream, the pops' composition and the
    # scanners, plus /healthz and /metrics). Of the processes with a tracker part, the one holding the PBX's lease
    # (store/lease.py) tracks; the others stand by and take over within about lease_retry_s when it dies.
    role: Literal["all", "web", "tracker"] = "all"
    lease_retry_s: float = Field(default=1.0, gt=0, le=60)
    # reverse proxies in front (comma-separated addresses or networks): a request from one of them is taken to come
    # from the address its X-Forwarded-For names (the last one not itself a trusted proxy); others: their peer
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    # call record store
    store_batch_size: int = Field(default=500, ge=1)
    store_flush_interval_s: float = Field(default=0.2, gt=0)
    store_retry_max_s: float = Field(default=10.0, gt=0)

    # web
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Fernet key (32 url-safe base64 bytes) for the session cookie; unset: a new key per start (logs all out)
    session_key: SecretStr | None = None
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    cookie_secure: bool = False  # set behind HTTPS
    redis_prefix: str = "uhd:"
    # how soon an import or a tenant change elsewhere reaches lookups
    directory_refresh_s: float = Field(default=30.0, gt=0)
    # the tenants' LDAP / Active Directory sources (a YAML file, examples/ldap.example.yaml; unset: none) and how
    # often the service syncs each (a source's own ``interval`` wins; 0: only by command or admin API)
    ldap_config: str | None = None
    ldap_sync_interval_s: float = Field(default=3600.0, ge=0)

    # login rate limit and lockout (security.ratelimit), HSTS behind HTTPS
    login_max_failures: int = Field(default=5, ge=1)  # failures of one username within the window ...
    login_ip_max_failures: int = Field(default=50, ge=1)  # ... or from one address, before a lockout
    login_window_s: int = Field(default=900, ge=1)
    login_lockout_s: int = Field(default=900, ge=1)
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)  # sent only with UHD_COOKIE_SECURE=true
    # password hashing (scrypt, ~50 ms of CPU each) in a pool of this many threads; a login finding this many
    # others already waiting for it is refused at once (429 with Retry-After) instead of piling up
    password_hash_workers: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=64, ge=0)
    password_hash_nice: int = Field(default=10, ge=0, le=19)

    # outgoing mail (caller notifications, work orders) through the outbox
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False  # upgrade with STARTTLS (submission port 587)
    smtp_tls: bool = False  # implicit TLS from the first byte (port 465)
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    mail_from: str = "UHD Helpdesk <helpdesk@localhost>"
    # base of the links in mails: the caller's status page is {public_url}/status/<token>
    public_url: str = "http://127.0.0.1:8080"

    # outbox worker
    outbox_poll_s: float = Field(default=2.0, gt=0)
    outbox_batch_size: int = Field(default=20, ge=1)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_retry_min_s: float = Field(default=5.0, gt=0)
    outbox_retry_max_s: float = Field(default=1800.0, gt=0)
    # a claimed message not marked sent by then is taken to be lost with its sender and is sent again
    outbox_lease_s: float = Field(default=120.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    # routing: the 10-minute rule
    first_level_limit_s: float = Field(default=600.0, gt=0)
    first_level_scan_s: float = Field(default=15.0, gt=0)

    # how often the SLA scanner looks for due escalations (targets and contacts are tenant data)
    sla_scan_s: float = Field(default=15.0, gt=0)

    # how often today's and yesterday's kpi_daily rows (Grafana's history dashboard) are recomputed
    kpi_daily_s: float = Field(default=300.0, gt=0)

    # the callback list's housekeeping: reopen entries stuck in "dialing" (longer than any dial: its Originate
    # timeout of 30 s plus the reply margin), expire entries nobody returned
    callback_scan_s: float = Field(default=60.0, gt=0)
    callback_dial_stale_s: float = Field(default=300.0, ge=60)
    callback_expire_s: float = Field(default=3 * 86400.0, gt=0)

    # the follow-up catch-up: tickets and callback entries of stored calls that lack them (a database outage)
    catchup_scan_s: float = Field(default=60.0, gt=0)
    catchup_retry_s: float = Field(default=2.0, gt=0)  # after a failure, until a scan succeeds
    catchup_window_s: float = Field(default=86400.0, gt=0)  # calls that ended this long ago at most

    # callers reached back (uhd_telephony/reachback): how often the matcher looks, how far back (a downtime shorter
    # than that is caught up from the store)
    reachback_scan_s: float = Field(default=30.0, gt=0)
    reachback_lookback_s: float = Field(default=8 * 86400.0, gt=0)

    # major incidents: where their spoken announcements go (Asterisk plays them from its sounds/uhd-incidents), how
    # often resolved incidents' notices are completed and the pile-ups offered to the consoles
    incident_sounds_dir: str = "incident-sounds"
    incident_scan_s: float = Field(default=15.0, gt=0)

    # requests by mail (mailin): the LMTP/SMTP endpoint the mail server delivers a tenant's helpdesk address to
    # ("host:port"; unset: off). It listens in every process that serves the web (roles all and web): any of them
    # may take a mail, the database's uniqueness makes each one ticket once.
    mail_in_listen: str | None = None
    mail_in_protocol: Literal["lmtp", "smtp"] = "lmtp"  # LMTP: one reply per recipient (Postfix's lmtp transport)
    mail_in_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)  # SIZE; larger: 552
    # an attachment larger than the first, or beyond the second with the mail's earlier ones, is not stored (the
    # ticket says so)
    mail_in_attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    mail_in_attachments_max_bytes: int = Field(default=20 * 1024 * 1024, ge=0)
    # who may deliver (the mail server only): addresses or networks, comma-separated
    mail_in_clients: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = (
        ip_network("127.0.0.0/8"),
        ip_network("::1/128"),
    )

    log_level: str = "INFO"

    @field_validator("tenant_numbers", "tenant_queues", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _parse_mapping(value)

    @field_validator("trusted_proxies", "mail_in_clients", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())
        return value

    @field_validator("queue_log", "ldap_config")
    @classmethod
    def _queue_log(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("mail_in_listen")
    @classmethod
    def _mail_in_listen(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host, port = listen_address(value)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"expected an http(s) base URL such as https://helpdesk.example.org, got {value!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return value

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given (non-None) values replaced: how CLI flags win over the environment."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if not clean:
            return self
        data = self.model_dump()
        data.update(clean)
        return type(self).model_validate(data)
