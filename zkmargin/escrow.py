"""Verifiable escrow, out of circuit: field elements sealed to a public key of the embedded curve.

To seal ``values`` (canonical elements of F_r) to a public key ``PK`` of the Edwards curve
embedded in F_r (:func:`zkmargin.edwards.embedded_curve`):

1. draw an ephemeral scalar ``k`` uniformly from [1, 2^(m-1)), m the bit length of the group
   order l (so ``k < l`` and its m - 1 bits are canonical in circuit);
2. ``R = k·B`` (B the curve's base point) and the shared point ``S = k·PK``;
3. encrypt ``values`` with :mod:`zkmargin.poseidon.cipher` under the key ``(S.x, S.y)``.

An :class:`Escrow` is ``(R, nonce, length, ciphertext, tag)``. Whoever holds the secret key
``sk`` of ``PK = sk·B`` computes ``S = sk·R``; a threshold of key holders combine their shares
of ``sk·R`` into the same point, and :func:`open_with_shared_point` does the rest.

The **digest** a statement publishes as one public input is the domain-separated sponge
(:mod:`zkmargin.poseidon.sponge`, domain ``zkmargin/escrow``) of
``[R.x, R.y, nonce + length·2^128, *ciphertext, tag]``: every field of the escrow, with nonce
and length in the cipher's own injective packing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zkmargin.curves import Curve, get_curve
from zkmargin.edwards import (
    IDENTITY,
    EdwardsCurve,
    Point,
    base_mul,
    embedded_curve,
    mul,
    point_to_json,
    require_subgroup_point,
)
from zkmargin.errors import MalformedInputError
from zkmargin.poseidon.cipher import (
    NONCE_BITS,
    check_nonce,
    decrypt_with,
    encrypt_with,
    padded_length,
)
from zkmargin.poseidon.permutation import check_elements, get_permutation
from zkmargin.poseidon.sponge import poseidon_sponge

ESCROW_DOMAIN = "zkmargin/escrow"
MAX_ESCROW_LENGTH = 1024  # far above any statement's state; bounds what a JSON file can ask for
_JSON_FIELDS = {"curve", "ephemeral_key", "nonce", "length", "ciphertext", "tag"}


@dataclass(frozen=True)
class Escrow:
    curve: Curve  # the proof system's curve; the points live on its embedded Edwards curve
    ephemeral_key: Point  # R = k·B
    nonce: int
    length: int  # number of sealed values
    ciphertext: tuple[int, ...]  # 3·ceil(length/3) elements
    tag: int

    @property
    def edwards(self) -> EdwardsCurve:
        return embedded_curve(self.curve)

    def digest_inputs(self) -> list[int]:
        """What the digest absorbs: ``[R.x, R.y, nonce + length·2^128, *ciphertext, tag]``."""
        packed = self.nonce + (self.length << NONCE_BITS)
        return [self.ephemeral_key[0], self.ephemeral_key[1], packed, *self.ciphertext, self.tag]

    def digest(self) -> int:
        """The one public input that binds a statement to this escrow."""
        return poseidon_sponge(self.digest_inputs(), ESCROW_DOMAIN, self.curve)

    def to_json(self) -> dict[str, Any]:
        """Decimal strings for field elements, as circomlibjs and snarkjs write them."""
        return {
            "curve": self.curve.name,
            "ephemeral_key": point_to_json(self.ephemeral_key),
            "nonce": str(self.nonce),
            "length": self.length,
            "ciphertext": [str(c) for c in self.ciphertext],
            "tag": str(self.tag),
        }

    @staticmethod
    def from_json(data: object, curve: Curve | str | None = None) -> Escrow:
        """Parse and validate; ``curve``, if given, is the only curve accepted."""
        return _escrow_from_json(data, curve)


def new_ephemeral_scalar(ec: EdwardsCurve) -> int:
    """Uniform in [1, 2^(m-1)): nonzero, below l, and m - 1 bits wide (see the module docstring)."""
    return 1 + secrets.randbelow((1 << (ec.scalar_bits - 1)) - 1)


def seal(
    values: Sequence[int],
    public_key: object,
    curve: Curve | str | None = None,
    *,
    nonce: int = 0,
    ephemeral_scalar: int | None = None,
) -> Escrow:
    """Encrypt ``values`` to ``public_key`` (a point of the embedded curve's subgroup).

    A fresh ephemeral scalar makes a fresh key for every escrow, so the nonce may stay 0;
    ``ephemeral_scalar`` is for tests and for a prover that must reuse its witness.
    """
    curve = get_curve(curve)
    ec = embedded_curve(curve)
    pk = require_key_point(ec, public_key, "public key")
    k = new_ephemeral_scalar(ec) if ephemeral_scalar is None else ephemeral_scalar
    if not 1 <= k < 1 << (ec.scalar_bits - 1):
        raise MalformedInputError(f"an ephemeral scalar is in [1, 2^{ec.scalar_bits - 1})")
    _check_length(len(values))
    check_nonce(nonce)
    perm = get_permutation(curve, 4)
    check_elements(values, perm.r, "value")
    *ciphertext, tag = encrypt_with(perm, perm.r, values, mul(ec, k, pk), nonce)
    return Escrow(curve, base_mul(ec, k), nonce, len(values), tuple(ciphertext), tag)


def shared_point(escrow: Escrow, secret_key: int) -> Point:
    """S = sk·R, what the holder of the whole secret key computes."""
    return mul(escrow.edwards, secret_key, escrow.ephemeral_key)


def open_with_secret_key(escrow: Escrow, secret_key: int) -> list[int]:
    return open_with_shared_point(escrow, shared_point(escrow, secret_key))


def open_with_shared_point(escrow: Escrow, shared: object) -> list[int]:
    """The sealed values, given S = sk·R (however it was computed, e.g. from threshold shares).

    Raises :class:`MalformedInputError` if S is not a subgroup point or the tag does not match
    (a wrong S, or an escrow changed after sealing).
    """
    point = require_subgroup_point(escrow.edwards, shared, "shared point")
    perm = get_permutation(escrow.curve, 4)
    ciphertext = [*escrow.ciphertext, escrow.tag]
    return decrypt_with(perm, perm.r, ciphertext, point, escrow.nonce, escrow.length)


# --- validation --------------------------------------------------------------------------
def require_key_point(ec: EdwardsCurve, point: object, what: str) -> Point:
    parsed = require_subgroup_point(ec, point, what)
    if parsed == IDENTITY:
        raise MalformedInputError(f"{what}: the identity is not a key")
    return parsed


def _check_length(length: int) -> None:
    if not 1 <= length <= MAX_ESCROW_LENGTH:
        raise MalformedInputError(f"an escrow holds 1..{MAX_ESCROW_LENGTH} values, got {length}")


def _escrow_from_json(data: object, curve: Curve | str | None) -> Escrow:
    if not isinstance(data, Mapping) or set(data) != _JSON_FIELDS:
        raise MalformedInputError(f"an escrow is an object with exactly the fields {sorted(_JSON_FIELDS)}")
    found = get_curve(_text(data["curve"], "curve"))
    if curve is not None and found != get_curve(curve):
        raise MalformedInputError(f"escrow is on {found.name}, expected {get_curve(curve).name}")
    ec = embedded_curve(found)
    key = data["ephemeral_key"]
    if not isinstance(key, list) or len(key) != 2:
        raise MalformedInputError("escrow ephemeral_key: expected [x, y] as decimal strings")
    ephemeral = require_key_point(ec, [_element(v, found.r, "ephemeral_key") for v in key], "escrow ephemeral_key")
    length = data["length"]
    if not isinstance(length, int) or isinstance(length, bool):
        raise MalformedInputError("escrow length: expected an integer")
    _check_length(length)
    nonce = _element(data["nonce"], found.r, "nonce")
    check_nonce(nonce)
    ciphertext = data["ciphertext"]
    if not isinstance(ciphertext, list) or len(ciphertext) != padded_length(length):
        raise MalformedInputError(f"escrow ciphertext: expected {padded_length(length)} elements for length {length}")
    elements = tuple(_element(c, found.r, "ciphertext") for c in ciphertext)
    return Escrow(found, ephemeral, nonce, length, elements, _element(data["tag"], found.r, "tag"))


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedInputError(f"escrow {what}: expected a string")
    return value


def _element(value: object, r: int, what: str) -> int:
    """A canonical decimal string of an element below r (no sign, spaces or leading zeros)."""
    text = _text(value, what)
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise MalformedInputError(f"escrow {what}: {text[:80]!r} is not a canonical decimal string")
    # a canonical string longer than r's is above r: no need to parse it
    if len(text) > len(str(r)) or int(text) >= r:
        raise MalformedInputError(f"escrow {what}: not below the scalar field modulus")
    return int(text)
