"""Read a tenant's users from its LDAP / Active Directory server (ldap3, synchronous: run it in a thread).

The servers of a source are tried in order until one answers; a refused bind stops there (the next domain
controller has the same accounts, and each wrong password counts towards the service account's lockout). The
search is paged (RFC 2696) and the paging critical, so a server that cannot page fails instead of handing back
a silently truncated list that would deactivate everyone beyond it. Every failure is a DirectorySourceError
whose message says what to fix; the bind password is in none of them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    # ldap3 2.9.1 (its last release) imports names pyasn1 0.6 deprecated: harmless, but an error under -W error
    warnings.filterwarnings("ignore", r"\w+ is deprecated\. Please use", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap_errors

from uhd_telephony.directory.ldap_config import LdapSource
from uhd_telephony.errors import DirectorySourceError

log = logging.getLogger(__name__)

_SCOPES = {"subtree": ldap3.SUBTREE, "one": ldap3.LEVEL}
_TUPLE_REPR = re.compile(r"""\(\s*(["'])(.*)\1,?\s*\)""")
_SIZE_LIMIT_EXCEEDED = 4  # RFC 4511 resultCode sizeLimitExceeded (timeLimitExceeded is 3)
# failures of one server (the next one may answer) rather than of the account or the search
_UNREACHABLE = (
    ldap_errors.LDAPSocketOpenError,
    ldap_errors.LDAPSocketReceiveError,
    ldap_errors.LDAPSocketSendError,
    ldap_errors.LDAPSessionTerminatedByServerError,
    ldap_errors.LDAPResponseTimeoutError,
    ldap_errors.LDAPStartTLSError,
    ssl.SSLError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class LdapEntry:
    """One entry as the server sent it: its DN and its attributes' raw values, names in lower case."""

    dn: str
    attributes: dict[str, list[bytes]]

    def values(self, name: str) -> list[bytes]:
        return self.attributes.get(name.lower(), [])


class _VerifyingTls(ldap3.Tls):
    """TLS whose certificate and host name OpenSSL checks (``ssl.create_default_context``).

    ldap3 turns the context's host name check off and calls the deprecated ``ssl.match_hostname`` instead; here
    the context does it, on the name or address of the URL, against the CA file or the system's CAs.
    """

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cafile=self.ca_certs_file)
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def _server(url: str, source: LdapSource) -> ldap3.Server:
    tls = _VerifyingTls(validate=ssl.CERT_REQUIRED, ca_certs_file=source.ca_file)
    return ldap3.Server(
        url,
        use_ssl=url.lower().startswith("ldaps:"),
        tls=tls,
        get_info=ldap3.NONE,  # the schema is not needed: values are read raw
        connect_timeout=source.timeout_s,
    )


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line, without ldap3's class name soup."""
    if isinstance(exc, ldap_errors.LDAPOperationResult):
        text = exc.description or "error"
        if exc.message:
            text += f" ({exc.message})"
        return text
    text = " ".join(str(exc).split())
    for _ in range(3):  # ldap3 puts a socket error's text into the repr of a tuple, at times twice
        wrapped = _TUPLE_REPR.fullmatch(text)
        if wrapped is None:
            break
        text = wrapped.group(2)
    return text or type(exc).__name__


def _close(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket: ldap3 leaves the one of a failed connect or handshake open."""
    with contextlib.suppress(ldap_errors.LDAPException, OSError):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _start_tls(conn: ldap3.Connection) -> None:
    """StartTLS, or LDAPStartTLSError: a server that refuses it is no server to send a password to."""
    try:
        started = conn.start_tls()
    except ldap_errors.LDAPOperationResult as exc:
        raise ldap_errors.LDAPStartTLSError(f"StartTLS refused: {_reason(exc)}") from None
    if not started:
        raise ldap_errors.LDAPStartTLSError("StartTLS did not start")


def _open(url: str, source: LdapSource, password: str | None) -> ldap3.Connection:
    """A bound connection to ``url``; DirectorySourceError for a refused bind, ldap3's errors otherwise."""
    conn = ldap3.Connection(
        _server(url, source),
        user=source.bind_dn,
        password=password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        read_only=True,
        raise_exceptions=True,
        receive_timeout=max(1, math.ceil(source.timeout_s)),  # whole seconds: ldap3 packs it as SO_RCVTIMEO's
        auto_referrals=False,  # AD's referrals to DomainDnsZones & co. lead to servers this account cannot use
        check_names=False,
    )
    try:
        conn.open()
        if source.start_tls:
            _start_tls(conn)
        if source.bind_dn is not None and url.lower().startswith("ldap:") and not source.start_tls:
            log.warning("LDAP bind to %s without TLS: the password crosses the network in clear text", url)
        conn.bind()
    except ldap_errors.LDAPOperationResult as exc:
        _close(conn)
        raise DirectorySourceError(
            f"the LDAP server {url} refused the bind as {source.bind_dn or 'anonymous'}: {_reason(exc)}",
            {"url": url},
        ) from None
    except BaseException:
        _close(conn)
        raise
    return conn


def connect(source: LdapSource, password: str | None) -> tuple[str, ldap3.Connection]:
    """The first of the source's servers that answers, bound; DirectorySourceError when none does."""
    failures: list[str] = []
    for url in source.url:
        try:
            return url, _open(url, source, password)
        except ldap_errors.LDAPSSLConfigurationError as exc:
            raise DirectorySourceError(f"TLS for {url}: {_reason(exc)}", {"url": url}) from None
        except _UNREACHABLE as exc:
            failures.append(f"{url}: {_reason(exc)}")
            log.info("LDAP server %s not usable: %s", url, _reason(exc))
    raise DirectorySourceError("cannot reach the LDAP server: " + "; ".join(failures), {"servers": failures})


def _entries(conn: ldap3.Connection, source: LdapSource) -> Iterator[LdapEntry]:
    results = conn.extend.standard.paged_search(
        source.base_dn,
        source.filter,
        search_scope=_SCOPES[source.scope],
        dereference_aliases=ldap3.DEREF_NEVER,
        attributes=source.attribute_names(),
        paged_size=source.page_size,
        paged_criticality=True,  # a server that cannot page fails rather than truncating
        generator=True,
    )
    for item in results:
        if item.get("type") != "searchResEntry":  # continuation references (AD's other partitions)
            continue
        raw = item.get("raw_attributes") or {}
        yield LdapEntry(str(item.get("dn", "")), {str(k).lower(): list(v) for k, v in raw.items() if v})
    # ldap3 raises for neither: the pages simply end, and what came so far looks like the whole directory
    done = conn.result or {}
    if done.get("result") == _SIZE_LIMIT_EXCEEDED:
        raise ldap_errors.LDAPSizeLimitExceededResult(result=_SIZE_LIMIT_EXCEEDED, description="sizeLimitExceeded")
    if done.get("result") not in (None, 0):
        raise ldap_errors.LDAPOperationResult(
            result=done.get("result"), description=done.get("description"), message=done.get("message")
        )


def fetch(source: LdapSource, password: str | None) -> list[LdapEntry]:
    """Every entry the source's search finds, all pages; DirectorySourceError naming the cause when it fails."""
    url, conn = connect(source, password)
    found: list[LdapEntry] = []
    try:
        for entry in _entries(conn, source):
            found.append(entry)
            if len(found) > source.max_entries:
                raise DirectorySourceError(
                    f"the LDAP search on {url} finds more than {source.max_entries} entries: narrow the filter "
                    f"or raise max_entries",
                    {"url": url},
                )
    except ldap_errors.LDAPNoSuchObjectResult:
        raise DirectorySourceError(f"the base DN {source.base_dn!r} does not exist on {url}", {"url": url}) from None
    except ldap_errors.LDAPInvalidFilterError as exc:
        raise DirectorySourceError(f"the filter {source.filter!r} is not valid: {_reason(exc)}", {"url": url}) from None
    except ldap_errors.LDAPSizeLimitExceededResult:
        raise DirectorySourceError(
            f"the LDAP server {url} stopped at its size limit: allow the service account more entries",
            {"url": url},
        ) from None
    except ldap_errors.LDAPOperationResult as exc:
        raise DirectorySourceError(f"the LDAP search on {url} failed: {_reason(exc)}", {"url": url}) from None
    except _UNREACHABLE as exc:
        raise DirectorySourceError(
            f"the LDAP server {url} broke off the search: {_reason(exc)}", {"url": url}
        ) from None
    except ldap_errors.LDAPException as exc:
        raise DirectorySourceError(f"the LDAP search on {url} failed: {_reason(exc)}", {"url": url}) from None
    finally:
        _close(conn)
    return found
