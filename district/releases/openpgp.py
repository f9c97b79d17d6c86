"""The district's release key (Ed25519, made by ``district setup``) in OpenPGP's form, for
apt: the public key terminals install as the repository's keyring (``signed-by=``) and the
detached signature of the repository's ``Release`` file (``Release.gpg``), which apt checks
with ``gpgv`` (Bookworm) or ``sqv`` (Trixie).

Only what apt needs of RFC 4880 (v4 packets, EdDSA over SHA-256, as ``gpg`` writes for an
``ed25519`` key): a public-key packet, a user id and its self-certification, and a binary
document signature. Written here rather than by ``gpg`` so that the key stays the one
``district setup`` made (one key to back up, no GnuPG home on the server) and the same key
file always gives the same fingerprint: the key's creation time is fixed (``KEY_CREATED``).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

KEY_CREATED = 1577836800          # 2020-01-01: part of the fingerprint, so fixed
ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1
ALGO_EDDSA, HASH_SHA256 = 22, 8
TAG_SIGNATURE, TAG_PUBLIC_KEY, TAG_USER_ID = 2, 6, 13
SIG_BINARY, SIG_TEXT, SIG_POSITIVE_CERT = 0x00, 0x01, 0x13
USER_ID = "Hai Long district release key"


def _packet(tag: int, body: bytes) -> bytes:
    """A new-format packet (RFC 4880, 4.2.2)."""
    n = len(body)
    if n < 192:
        length = bytes([n])
    elif n < 8384:
        n -= 192
        length = bytes([(n >> 8) + 192, n & 0xFF])
    else:
        length = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + length + body


def _mpi(value: bytes) -> bytes:
    value = value.lstrip(b"\x00") or b"\x00"
    bits = (len(value) - 1) * 8 + value[0].bit_length()
    return struct.pack(">H", bits) + value


def _raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def _public_body(key: ed25519.Ed25519PrivateKey) -> bytes:
    return (bytes([4]) + struct.pack(">I", KEY_CREATED) + bytes([ALGO_EDDSA, len(ED25519_OID)])
            + ED25519_OID + _mpi(b"\x40" + _raw_public(key)))


def fingerprint(key: ed25519.Ed25519PrivateKey) -> str:
    body = _public_body(key)
    return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()


def _subpacket(kind: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, kind]) + data


def _signature(key: ed25519.Ed25519PrivateKey, sig_type: int, hashed_prefix: bytes,
               extra_hashed: bytes = b"", created: int | None = None) -> bytes:
    """A v4 signature packet over ``hashed_prefix`` (what the signature type covers)."""
    fpr = bytes.fromhex(fingerprint(key))
    hashed = (_subpacket(2, struct.pack(">I", int(time.time()) if created is None else created))
              + _subpacket(33, b"\x04" + fpr) + extra_hashed)
    head = bytes([4, sig_type, ALGO_EDDSA, HASH_SHA256]) + struct.pack(">H", len(hashed)) + hashed
    trailer = b"\x04\xff" + struct.pack(">I", len(head))
    digest = hashlib.sha256(hashed_prefix + head + trailer).digest()
    sig = key.sign(digest)  # EdDSA in OpenPGP signs the digest (RFC 4880bis, 5.2.4)
    unhashed = _subpacket(16, fpr[-8:])
    return _packet(TAG_SIGNATURE, head + struct.pack(">H", len(unhashed)) + unhashed
                   + digest[:2] + _mpi(sig[:32]) + _mpi(sig[32:]))


def public_key(key: ed25519.Ed25519PrivateKey) -> bytes:
    """The binary OpenPGP public key (a keyring apt reads with ``signed-by=``)."""
    body = _public_body(key)
    uid = USER_ID.encode()
    prefix = (b"\x99" + struct.pack(">H", len(body)) + body
              + b"\xb4" + struct.pack(">I", len(uid)) + uid)
    flags = _subpacket(27, b"\x03")  # certify, sign
    cert = _signature(key, SIG_POSITIVE_CERT, prefix, flags, created=KEY_CREATED)
    return _packet(TAG_PUBLIC_KEY, body) + _packet(TAG_USER_ID, uid) + cert


def sign_detached(key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
    """A binary detached signature of ``data`` (``Release.gpg``)."""
    return _signature(key, SIG_BINARY, data)


def clearsign(key: ed25519.Ed25519PrivateKey, text: str) -> str:
    """``text`` with its cleartext signature (``InRelease``; RFC 4880, 7): the signed form
    is its lines without trailing blanks, joined by CR LF, without the last line break."""
    lines = text.rstrip("\n").split("\n")
    canonical = "\r\n".join(line.rstrip(" \t") for line in lines).encode()
    sig = _signature(key, SIG_TEXT, canonical)
    escaped = [("- " + line) if line.startswith("-") else line for line in lines]
    return "\n".join(["-----BEGIN PGP SIGNED MESSAGE-----", "Hash: SHA256", "", *escaped,
                      armor(sig, "SIGNATURE").rstrip("\n"), ""])


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data: bytes, kind: str = "PUBLIC KEY BLOCK") -> str:
    """ASCII armour (RFC 4880, 6.2): the form kiosk.toml carries."""
    text = base64.b64encode(data).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    crc = base64.b64encode(struct.pack(">I", _crc24(data))[1:]).decode()
    return "\n".join([f"-----BEGIN PGP {kind}-----", "", *lines, "=" + crc,
                      f"-----END PGP {kind}-----", ""])
