"""The district's own certificate authority, its server certificate and its release key, made
with ``cryptography`` (pyca) by ``district setup`` (district/install.py).

- The CA (ECDSA P-256, 10 years) signs only the server certificate. Terminals trust it alone
  (it travels inside every provisioned kiosk.toml); officials' browsers import it once.
- The server certificate (ECDSA P-256, 825 days: the longest Apple's platforms accept from
  a CA a user installed) names every host name and IP address terminals and browsers use.
  Renewing it keeps the CA, so terminals go on verifying with no technician step.
- The release key (Ed25519) will sign software releases for the terminals; made now so that
  its public half can travel with the first provisioning.

Private keys are written 0600, whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3652
SERVER_DAYS = 825
RENEW_WITHIN_DAYS = 30  # `district setup` renews a certificate this close to its end
# Let a freshly made certificate be valid on a machine whose clock is a little behind.
BACKDATE = dt.timedelta(hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(district_name: str, *, now: dt.datetime | None = None
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hài Lòng"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Hài Lòng CA {district_name}"[:64]),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_server_cert(ca_key, ca_cert: x509.Certificate, names: list[str], *,
                     now: dt.datetime | None = None, days: int = SERVER_DAYS
                     ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate for ``names`` (host names and IP addresses; the first is its CN)."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def make_release_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


# ---------------------------------------------------------------------------------------
# Files


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Written whole or not at all (a power cut leaves the old file), with ``mode``."""
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    partial.replace(path)


# ---------------------------------------------------------------------------------------
# What a certificate covers, and for how long


@dataclass(frozen=True)
class CertState:
    names: frozenset[str]
    not_after: dt.datetime
    issued_by_ca: bool

    def days_left(self, now: dt.datetime | None = None) -> int:
        return (self.not_after - (now or _now())).days


def cert_state(cert: x509.Certificate, ca_cert: x509.Certificate) -> CertState:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
        names |= set(sans.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = set()
    try:
        cert.verify_directly_issued_by(ca_cert)
        issued = True
    except Exception:  # InvalidSignature, another issuer's name, another key type: not ours
        issued = False
    return CertState(frozenset(names), cert.not_valid_after_utc, issued)


def days_left(pem_path: Path, now: dt.datetime | None = None) -> int:
    """Whole days until the certificate in ``pem_path`` ends (negative: it has ended)."""
    return (load_cert(pem_path).not_valid_after_utc - (now or _now())).days
