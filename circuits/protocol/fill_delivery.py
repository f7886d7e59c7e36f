"""Venue fills delivered to the trader without the operator learning them.

The venue posts a fill's commitment (``circuits.state.Fill.commitment``) to the verifier and,
beside it, the fill's opening encrypted to the trader's X25519 public key. The verifier stores
and serves the ciphertext only; the trader decrypts it, checks that it opens the commitment the
ledger recorded, and proves the ``fill`` statement with it.

Sealed box (version 1)
----------------------
::

    ciphertext = 0x01 | ephemeral X25519 public key (32) | ChaCha20-Poly1305(padded opening) (512 + 16)

- A fresh ephemeral key per fill; ``shared = X25519(ephemeral, trader)``.
- ``key (32) | nonce (12) = HKDF-SHA256(shared, salt = none, info = DOMAIN | ephemeral public |
  trader public)``: binding both public keys means a ciphertext cannot be re-targeted to
  another recipient key, and because each key encrypts exactly one message a derived nonce is
  safe.
- Associated data = ``DOMAIN | 0x01 | len(curve name) | curve name | fill commitment (32 bytes,
  big-endian)``: a ciphertext only decrypts under the commitment (and curve) it was sealed for,
  so it cannot be moved to another fill.
- The plaintext is the opening as JSON, ``{"account_id", "fill_id", "market", "size_delta",
  "price", "fee", "salt"}`` (integers; the salt, a field element, as a decimal string; the format
  ``circuits.inputs.fill_from_json`` reads), length-prefixed (u16) and zero-padded to 512 bytes.
  Every ciphertext has the same length (561 bytes), so its size does not reveal how many digits
  the size, price or fee have.

The sender is not authenticated (anyone may seal to a public key): what makes an opening
trustworthy is that it opens the commitment the venue posted over an authenticated channel,
which ``open_fill`` checks.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from circuits.protocol.errors import (
    FillCommitmentMismatchError,
    FillDecryptionError,
    FillFormatError,
)
from circuits.inputs import FILL_FIELDS
from circuits.state import MAX_MARKETS, Fill
from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.field import require_field_element

DOMAIN = b"zkmargin/fill-delivery/v1\x00"
VERSION = 1
KEY_BYTES = 32
PADDED_OPENING_BYTES = 512
TAG_BYTES = 16
CIPHERTEXT_BYTES = 1 + KEY_BYTES + PADDED_OPENING_BYTES + TAG_BYTES
_COMMITMENT_BYTES = 32  # both curves have r < 2^256
_LENGTH = struct.Struct(">H")


# --- keys -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TraderKeyPair:
    """The trader's delivery key pair; the private half stays on the trader's machine."""

    private_key: X25519PrivateKey

    @property
    def public_key(self) -> X25519PublicKey:
        return self.private_key.public_key()

    @property
    def private_hex(self) -> str:
        return private_key_to_hex(self.private_key)

    @property
    def public_hex(self) -> str:
        return public_key_to_hex(self.public_key)

    @classmethod
    def generate(cls) -> TraderKeyPair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_hex(cls, text: str) -> TraderKeyPair:
        return cls(load_private_key(text))


def generate_key_pair() -> TraderKeyPair:
    """A new delivery key pair from the OS CSPRNG."""
    return TraderKeyPair.generate()


def _key_bytes(what: str, key: bytes | str) -> bytes:
    """Raw 32 bytes from bytes or canonical lower-case hex (no spaces, no prefix)."""
    if isinstance(key, str):
        if not re.fullmatch(f"[0-9a-f]{{{2 * KEY_BYTES}}}", key):
            raise FillFormatError(
                f"{what} must be {2 * KEY_BYTES} lower-case hex characters, got {len(key)} characters")
        return bytes.fromhex(key)
    if isinstance(key, (bytes, bytearray)):
        if len(key) != KEY_BYTES:
            raise FillFormatError(f"{what} must be {KEY_BYTES} bytes, got {len(key)}")
        return bytes(key)
    raise FillFormatError(f"{what} must be bytes or hex, got {type(key).__name__}")


def load_public_key(key: X25519PublicKey | bytes | str) -> X25519PublicKey:
    """A trader public key from a key object, 32 raw bytes or their hex."""
    if isinstance(key, X25519PublicKey):
        return key
    return X25519PublicKey.from_public_bytes(_key_bytes("trader public key", key))


def load_private_key(key: X25519PrivateKey | bytes | str) -> X25519PrivateKey:
    """A trader private key from a key object, 32 raw bytes or their hex."""
    if isinstance(key, X25519PrivateKey):
        return key
    return X25519PrivateKey.from_private_bytes(_key_bytes("trader private key", key))


def public_key_to_hex(key: X25519PublicKey) -> str:
    return key.public_bytes_raw().hex()


def private_key_to_hex(key: X25519PrivateKey) -> str:
    return key.private_bytes_raw().hex()


# --- the opening ----------------------------------------------------------------------------

def encode_opening(fill: Fill) -> bytes:
    """The fill's opening as compact JSON (the prover's FILL format), padded to a fixed size."""
    data = {name: getattr(fill, name) for name in FILL_FIELDS}
    data["salt"] = str(fill.salt)
    text = json.dumps(data, separators=(",", ":")).encode("ascii")
    if len(text) > PADDED_OPENING_BYTES - _LENGTH.size:
        raise FillFormatError(f"a fill opening of {len(text)} bytes does not fit the {PADDED_OPENING_BYTES}-byte box")
    return _LENGTH.pack(len(text)) + text + bytes(PADDED_OPENING_BYTES - _LENGTH.size - len(text))


def _opening_integer(name: str, value: Any) -> int:
    """An int, or (the salt is a field element) a canonical decimal string; never a float or bool."""
    if isinstance(value, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)", value) and value != "-0":
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FillFormatError(f"fill opening field {name!r} must be an integer, got {value!r}")
    return value


def decode_opening(padded: bytes) -> Fill:
    """Inverse of ``encode_opening``, strict: exact padding, exactly the seven fields."""
    if len(padded) != PADDED_OPENING_BYTES:
        raise FillFormatError(f"a padded fill opening is {PADDED_OPENING_BYTES} bytes, got {len(padded)}")
    (length,) = _LENGTH.unpack_from(padded)
    end = _LENGTH.size + length
    if end > len(padded) or any(padded[end:]):
        raise FillFormatError("the fill opening's padding is malformed")

    def refuse(text: str) -> Any:
        raise FillFormatError(f"fill opening: {text} is not an integer")

    try:
        data = json.loads(padded[_LENGTH.size:end].decode("utf-8"), parse_float=refuse, parse_constant=refuse)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FillFormatError(f"the fill opening is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != set(FILL_FIELDS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise FillFormatError(f"the fill opening must have exactly the fields {', '.join(FILL_FIELDS)}; got {found}")
    return Fill(**{name: _opening_integer(name, data[name]) for name in FILL_FIELDS})


# --- the sealed box -------------------------------------------------------------------------

def _associated_data(commitment: int, curve: Curve) -> bytes:
    """What the ciphertext is bound to: this fill commitment on this curve."""
    try:
        require_field_element(commitment, curve.r, "a fill commitment")
    except MalformedInputError:
        # the sealed box's own refusal (its callers expect FillFormatError), in its own words
        raise FillFormatError(
            f"a fill commitment must be an integer in [0, r) of {curve.name}, got {commitment!r}") from None
    name = curve.name.encode("ascii")
    return DOMAIN + bytes([VERSION, len(name)]) + name + commitment.to_bytes(_COMMITMENT_BYTES, "big")


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> tuple[bytes, bytes]:
    """Key and nonce for one message; the info binds both public keys and the domain."""
    okm = HKDF(algorithm=hashes.SHA256(), length=32 + 12, salt=None,
               info=DOMAIN + ephemeral_public + recipient_public).derive(shared)
    return okm[:32], okm[32:]


def _exchange(private_key: X25519PrivateKey, public_key: X25519PublicKey, error: type[ZkMarginError]) -> bytes:
    """X25519, refusing low-order public keys (OpenSSL reports an all-zero shared secret)."""
    try:
        return private_key.exchange(public_key)
    except ValueError as exc:
        raise error(f"X25519 key agreement failed (a low-order public key?): {exc}") from None


def seal(padded_opening: bytes, trader_public_key: X25519PublicKey | bytes | str, commitment: int,
         curve: Curve | str | None = None) -> bytes:
    """Encrypt an already encoded opening under ``commitment``; ``seal_fill`` is the usual entry."""
    if len(padded_opening) != PADDED_OPENING_BYTES:
        raise FillFormatError(f"a padded fill opening is {PADDED_OPENING_BYTES} bytes, got {len(padded_opening)}")
    c = get_curve(curve)
    recipient = load_public_key(trader_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared_secret = _exchange(ephemeral, recipient, FillFormatError)
    key, nonce = _derive(shared_secret, ephemeral_public, recipient.public_bytes_raw())
    body = ChaCha20Poly1305(key).encrypt(nonce, padded_opening, _associated_data(commitment, c))
    return bytes([VERSION]) + ephemeral_public + body


def seal_fill(fill: Fill, trader_public_key: X25519PublicKey | bytes | str, curve: Curve | str | None = None,
              *, markets: int = MAX_MARKETS) -> bytes:
    """The venue's side: the fill's opening sealed to the trader, bound to ``fill.commitment(curve)``.

    The fill is range-checked first (``markets`` bounds its market index), so a venue cannot
    deliver an opening no proof could use.
    """
    c = get_curve(curve)
    fill.validate(markets, c)
    return seal(encode_opening(fill), trader_public_key, fill.commitment(c), c)


def _split(ciphertext: bytes) -> tuple[bytes, bytes]:
    """Version check and (ephemeral public key, AEAD body); every valid box has one length."""
    if not isinstance(ciphertext, (bytes, bytearray)):
        raise FillFormatError(f"a sealed fill must be bytes, got {type(ciphertext).__name__}")
    if len(ciphertext) != CIPHERTEXT_BYTES:
        raise FillFormatError(f"a sealed fill is {CIPHERTEXT_BYTES} bytes, got {len(ciphertext)}")
    if ciphertext[0] != VERSION:
        raise FillFormatError(f"unknown sealed fill version {ciphertext[0]} (this library reads {VERSION})")
    return bytes(ciphertext[1:1 + KEY_BYTES]), bytes(ciphertext[1 + KEY_BYTES:])


def open_fill(ciphertext: bytes, trader_private_key: X25519PrivateKey | bytes | str, expected_commitment: int,
              curve: Curve | str | None = None, *, markets: int = MAX_MARKETS) -> Fill:
    """The trader's side: decrypt, range-check, and check the opening opens ``expected_commitment``.

    FillDecryptionError: wrong key, altered bytes, or a ciphertext sealed for another commitment
    (these are indistinguishable by design). FillCommitmentMismatchError: the box is authentic
    for this commitment but its content opens a different one (a faulty venue).
    """
    c = get_curve(curve)
    associated_data = _associated_data(expected_commitment, c)
    ephemeral_public, body = _split(ciphertext)
    private_key = load_private_key(trader_private_key)
    try:
        ephemeral = X25519PublicKey.from_public_bytes(ephemeral_public)
    except ValueError as exc:
        raise FillFormatError(f"the sealed fill's ephemeral key is malformed: {exc}") from None
    shared = _exchange(private_key, ephemeral, FillDecryptionError)
    key, nonce = _derive(shared, ephemeral_public, private_key.public_key().public_bytes_raw())
    try:
        padded = ChaCha20Poly1305(key).decrypt(nonce, body, associated_data)
    except InvalidTag:
        raise FillDecryptionError(
            "the sealed fill does not decrypt: wrong trader key, altered ciphertext, "
            "or a ciphertext sealed for another fill commitment") from None
    fill = decode_opening(padded)
    try:
        fill.validate(markets, c)
    except ZkMarginError as exc:
        raise FillFormatError(f"the decrypted fill opening is out of range: {exc}") from None
    actual = fill.commitment(c)
    if actual != expected_commitment:
        raise FillCommitmentMismatchError(
            f"the decrypted opening (fill {fill.fill_id}) commits to {actual}, "
            f"not to the expected {expected_commitment}")
    return fill
