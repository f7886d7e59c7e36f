"""Sealing a DKG sub-share for its recipient: X25519 + HKDF-SHA256 + AES-256-GCM.

Each guardian has a long-lived X25519 transport key pair whose public half is on the roster
every guardian agreed on before the generation. A sealed sub-share from dealer i to guardian j:

- a fresh ephemeral X25519 key e; key material ``X25519(e, P_j) || X25519(k_i, P_j)``: the
  first gives forward secrecy against a later leak of i's key, the second authenticates the
  dealer (only i or j can compute it), so nobody else can plant a bad sub-share and provoke
  a complaint that makes an honest dealer's sub-share public;
- ``HKDF-SHA256`` of it, with ``info`` framing the DKG parameters, i, j, the ephemeral key and
  both static keys, gives the AES-256-GCM key; the nonce is random; the associated data is the
  same ``info``, so a ciphertext cannot be moved to another session, dealer or recipient;
- the plaintext is the sub-share as a 32-byte big-endian integer.

A sealed sub-share that does not open is treated like a missing one: the recipient complains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zkmargin.errors import MalformedInputError
from zkmargin.threshold.dkg import DkgParameters, SubShare
from zkmargin.threshold.encoding import (
    JsonDocument,
    as_object,
    check_format,
    check_keys,
    framed,
    read_count,
    read_hex,
    require_index,
    require_scalar,
)

SEALED_FORMAT = "zkmargin-dkg-sealed-sub-share"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_PLAINTEXT_BYTES = 32
_DOMAIN = b"zkmargin/threshold/dkg-transport/v1"


@dataclass(frozen=True)
class SealedSubShare:
    dealer: int
    recipient: int
    ephemeral_key: bytes  # X25519 public key, 32 bytes
    nonce: bytes
    ciphertext: bytes  # AES-256-GCM ciphertext and tag


def new_transport_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal_sub_share(
    params: DkgParameters, sub_share: SubShare, dealer_key: X25519PrivateKey, recipient_public: bytes
) -> SealedSubShare:
    """Encrypt ``sub_share`` to its recipient, authenticated as coming from the dealer."""
    require_index(sub_share.dealer, params.guardians, "dealer")
    require_index(sub_share.recipient, params.guardians, "recipient")
    require_scalar(params.curve, sub_share.value, "sub-share")
    recipient = _public_key(recipient_public, "recipient transport key")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = public_bytes(ephemeral)
    dealer_public = public_bytes(dealer_key)
    info = _info(params, sub_share.dealer, sub_share.recipient, ephemeral_public, dealer_public, recipient_public)
    secret = _exchange(ephemeral, recipient) + _exchange(dealer_key, recipient)
    nonce = os.urandom(NONCE_BYTES)
    plaintext = sub_share.value.to_bytes(_PLAINTEXT_BYTES, "big")
    ciphertext = AESGCM(_derive_key(secret, info)).encrypt(nonce, plaintext, info)
    return SealedSubShare(sub_share.dealer, sub_share.recipient, ephemeral_public, nonce, ciphertext)


def open_sub_share(
    params: DkgParameters, sealed: SealedSubShare, recipient_key: X25519PrivateKey, dealer_public: bytes
) -> SubShare:
    """Decrypt a sealed sub-share; MalformedInputError if it was not sealed by that dealer for us."""
    require_index(sealed.dealer, params.guardians, "dealer")
    require_index(sealed.recipient, params.guardians, "recipient")
    ephemeral = _public_key(sealed.ephemeral_key, "ephemeral transport key")
    dealer = _public_key(dealer_public, "dealer transport key")
    recipient_public = public_bytes(recipient_key)
    info = _info(params, sealed.dealer, sealed.recipient, sealed.ephemeral_key, dealer_public, recipient_public)
    secret = _exchange(recipient_key, ephemeral) + _exchange(recipient_key, dealer)
    try:
        plaintext = AESGCM(_derive_key(secret, info)).decrypt(sealed.nonce, sealed.ciphertext, info)
    except (InvalidTag, ValueError):
        raise MalformedInputError(
            f"sealed sub-share from dealer {sealed.dealer} to guardian {sealed.recipient} does not open"
        ) from None
    if len(plaintext) != _PLAINTEXT_BYTES:
        raise MalformedInputError(f"sealed sub-share from dealer {sealed.dealer}: wrong plaintext length")
    value = int.from_bytes(plaintext, "big")
    require_scalar(params.curve, value, f"sub-share from dealer {sealed.dealer}")
    return SubShare(sealed.dealer, sealed.recipient, value)


def _info(
    params: DkgParameters, dealer: int, recipient: int, ephemeral: bytes, dealer_public: bytes, recipient_public: bytes
) -> bytes:
    return framed(
        _DOMAIN, params.context(dealer), str(recipient).encode(), ephemeral, dealer_public, recipient_public
    )


def _derive_key(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def _exchange(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
    try:
        return private.exchange(public)
    except ValueError:  # a small-order public key gives the all-zero secret
        raise MalformedInputError("transport key: a small-order X25519 key is not allowed") from None


def _public_key(raw: object, what: str) -> X25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != KEY_BYTES:
        raise MalformedInputError(f"{what}: expected {KEY_BYTES} bytes")
    return X25519PublicKey.from_public_bytes(raw)


# --- JSON ------------------------------------------------------------------------------


def sealed_to_json(params: DkgParameters, sealed: SealedSubShare) -> dict[str, Any]:
    return {
        "format": SEALED_FORMAT,
        "version": VERSION,
        "session": params.session,
        "dealer": sealed.dealer,
        "recipient": sealed.recipient,
        "ephemeral_key": sealed.ephemeral_key.hex(),
        "nonce": sealed.nonce.hex(),
        "ciphertext": sealed.ciphertext.hex(),
    }


def sealed_from_json(params: DkgParameters, data: JsonDocument, source: str = "sealed sub-share") -> SealedSubShare:
    obj = as_object(data, source)
    check_format(obj, SEALED_FORMAT, VERSION, source)
    fields = ("format", "version", "session", "dealer", "recipient", "ephemeral_key", "nonce", "ciphertext")
    check_keys(obj, fields, source)
    if obj["session"] != params.session:
        raise MalformedInputError(f"{source}: belongs to another session")
    return SealedSubShare(
        dealer=read_count(obj["dealer"], 1, params.guardians, source, "dealer"),
        recipient=read_count(obj["recipient"], 1, params.guardians, source, "recipient"),
        ephemeral_key=read_hex(obj["ephemeral_key"], source, "ephemeral_key", length=KEY_BYTES),
        nonce=read_hex(obj["nonce"], source, "nonce", length=NONCE_BYTES),
        ciphertext=read_hex(obj["ciphertext"], source, "ciphertext", length=_PLAINTEXT_BYTES + 16),
    )
