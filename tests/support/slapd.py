"""A real OpenLDAP server for the LDAP sync's tests: Debian's slapd with a throwaway config, database and CA.

``start_slapd(folder)`` writes a slapd.conf (mdb backend; the schemas core, cosine, inetorgperson, nis and
Debian's msuser, which defines Active Directory's user attributes: objectGUID, userAccountControl,
sAMAccountName, ipPhone, department; the ppolicy overlay for ``pwdAccountLockedTime``), a CA and a server
certificate for ``localhost``/127.0.0.1, and starts slapd on two free ports, ldap:// and ldaps://.

Its service accounts are limited as Active Directory limits them: at most ``PAGE_LIMIT`` entries a page and in a
search without paging, any number in a paged search (``READER``); ``LIMITED`` has no paging beyond the same limit.
Each test writes its people under an OU of its own (``new_ou``), so tests share one server and never each other's
entries.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.helpers import free_port
from uhd_telephony.directory.ldap_client import ldap3  # imported there without pyasn1's deprecation warnings

SLAPD = "/usr/sbin/slapd"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis", "msuser")
SUFFIX = "dc=uhd-test,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-Geheimnis-1"
READER = f"cn=uhd-reader,ou=services,{SUFFIX}"
READER_PW = "Lese-Konto-2026!"
LIMITED = f"cn=uhd-limited,ou=services,{SUFFIX}"
PAGE_LIMIT = 50  # as Active Directory's MaxPageSize (1000), smaller
# what Active Directory writes into objectCategory for a person
AD_PERSON = f"CN=Person,CN=Schema,CN=Configuration,{SUFFIX}"


def available() -> bool:
    return os.access(SLAPD, os.X_OK) and Path("/etc/ldap/schema/msuser.schema").is_file()


def _config(folder: Path, ca: Path, cert: Path, key: Path) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {folder}/db
overlay ppolicy
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{READER}" read
    by dn.exact="{LIMITED}" read
    by * none
limits dn.exact="{READER}" size.soft={PAGE_LIMIT} size.hard={PAGE_LIMIT} size.prtotal=unlimited
limits dn.exact="{LIMITED}" size.soft={PAGE_LIMIT} size.hard={PAGE_LIMIT} size.prtotal=hard
"""


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for localhost and 127.0.0.1 (EC keys: made in milliseconds)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "uhd-telephony test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@dataclass
class Slapd:
    """A running slapd: its URLs, its CA, and writes as its root (ldap3, synchronous: the server is local)."""

    folder: Path
    port: int
    tls_port: int
    process: subprocess.Popen[bytes]
    _root: ldap3.Connection | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://localhost:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def root(self) -> ldap3.Connection:
        if self._root is None or self._root.closed:
            self._root = ldap3.Connection(
                ldap3.Server(self.url, get_info=ldap3.NONE), ROOT_DN, ROOT_PW, auto_bind=True, raise_exceptions=True
            )
        return self._root

    def add(self, dn: str, object_class: list[str], attributes: Mapping[str, Any]) -> None:
        self.root().add(dn, object_class, dict(attributes))

    def modify(self, dn: str, **values: Any) -> None:
        """Replace attributes (None: delete the attribute)."""
        changes = {
            name: [(ldap3.MODIFY_DELETE, [])] if value is None else [(ldap3.MODIFY_REPLACE, _list(value))]
            for name, value in values.items()
        }
        self.root().modify(dn, changes)

    def delete(self, dn: str) -> None:
        self.root().delete(dn)

    def new_ou(self) -> str:
        """An OU of the caller's own: the base DN of its sources."""
        ou = f"ou=t-{uuid.uuid4().hex[:10]},{SUFFIX}"
        self.add(ou, ["organizationalUnit"], {})
        return ou

    def stop(self) -> None:
        if self._root is not None:
            self._root.unbind()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def person(ou: str, uid: str, name: str, **attributes: Any) -> tuple[str, list[str], dict[str, Any]]:
    """An OpenLDAP person (inetOrgPerson) under ``ou``; attributes as ldap3 takes them."""
    return f"uid={uid},{ou}", ["inetOrgPerson"], {"cn": name, "sn": name.split()[-1], "uid": uid, **attributes}


def ad_user(
    ou: str, sam: str, name: str, *, guid: uuid.UUID, **attributes: Any
) -> tuple[str, list[str], dict[str, Any]]:
    """A user as Active Directory keeps one (msuser's ``user``), with its binary objectGUID."""
    return (
        f"cn={name},{ou}",
        ["user", "extensibleObject"],  # extensibleObject: AD's user takes ipPhone, department, sAMAccountName
        {
            "cn": name,
            "sn": name.split()[-1],
            "sAMAccountName": sam,
            "objectGUID": guid.bytes_le,
            "objectCategory": AD_PERSON,
            "instanceType": "4",
            "nTSecurityDescriptor": b"\x01\x00\x04\x80",
            "userAccountControl": "512",  # NORMAL_ACCOUNT
            **attributes,
        },
    )


def start_slapd(folder: Path) -> Slapd:
    """slapd on two free loopback ports with the service accounts and the suffix in place."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir()
    ca, cert, key = _certificates(folder)
    conf = folder / "slapd.conf"
    conf.write_text(_config(folder, ca, cert, key), encoding="utf-8")
    port, tls_port = free_port(), free_port()
    log = (folder / "slapd.log").open("wb")
    process = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 10
    while not (_listening(port) and _listening(tls_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"slapd did not start: {(folder / 'slapd.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)
    server = Slapd(folder, port, tls_port, process)
    server.add(SUFFIX, ["dcObject", "organization"], {"dc": "uhd-test", "o": "uhd-telephony tests"})
    server.add(f"ou=services,{SUFFIX}", ["organizationalUnit"], {})
    for dn in (READER, LIMITED):
        name = dn.split(",", 1)[0].removeprefix("cn=")
        server.add(dn, ["organizationalRole", "simpleSecurityObject"], {"cn": name, "userPassword": READER_PW})
    return server


@contextlib.contextmanager
def running_slapd(folder: Path) -> Iterator[Slapd]:
    server = start_slapd(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
