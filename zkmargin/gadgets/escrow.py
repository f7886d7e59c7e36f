"""The escrow gadget: a statement's values provably sealed to the liquidation key.

In circuit, for private plaintext ``values``, a secret ephemeral scalar k and the public key PK:

1. k as m - 1 secret bits (canonical: 2^(m-1) < l), ``R = k·B`` by fixed-base
   multiplication, and R is not the identity (k != 0);
2. ``S = k·PK``: fixed-base when PK is a circuit constant, variable-base when it is a public
   input (then PK is also asserted on the curve; its subgroup is the verifier's check);
3. the Poseidon ciphertext of ``values`` under ``(S.x, S.y)``;
4. the escrow digest of :mod:`zkmargin.escrow` over ``R``, nonce and length, ciphertext and tag.

The statement binds the returned digest to a public input; the verifier computes that input
from the escrow it stores, so the stored escrow is exactly the one proven.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zkmargin.constraints import LC, ConstraintSystem, LCLike, Value
from zkmargin.edwards import Point, embedded_curve
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import ESCROW_DOMAIN, MAX_ESCROW_LENGTH, require_key_point
from zkmargin.gadgets.edwards import (
    CurvePoint,
    assert_not_identity,
    assert_on_curve,
    ephemeral_scalar_bits,
    fixed_base_mul,
    variable_base_mul,
)
from zkmargin.gadgets.poseidon import poseidon_sponge_gadget
from zkmargin.gadgets.poseidon_cipher import poseidon_encrypt_gadget
from zkmargin.poseidon.cipher import NONCE_BITS


@dataclass(frozen=True)
class EscrowCircuitValues:
    digest: LC  # bind this to the statement's public input
    ephemeral_key: CurvePoint  # R
    shared_point: CurvePoint  # S
    ciphertext: list[LC]  # tag last


def escrow_gadget(
    cs: ConstraintSystem,
    values: Sequence[LCLike],
    public_key: Point | CurvePoint,
    ephemeral_scalar: Value,
    *,
    nonce: int = 0,
    label: str = "escrow",
) -> EscrowCircuitValues:
    """Seal ``values`` to ``public_key`` (a constant point, or a public input's coordinates).

    ``ephemeral_scalar`` is the prover's k (an int or a callable; unused during setup); the
    nonce is a circuit constant, 0 by default (a fresh k already makes a fresh key).
    """
    if not 1 <= len(values) <= MAX_ESCROW_LENGTH:
        raise MalformedInputError(f"an escrow holds 1..{MAX_ESCROW_LENGTH} values, got {len(values)}")
    ec = embedded_curve(cs.curve)
    with cs.namespace(label):
        bits = ephemeral_scalar_bits(cs, ec, ephemeral_scalar, "ephemeral scalar")
        ephemeral_key = fixed_base_mul(cs, ec, ec.base, bits, "ephemeral key R = k*B")
        assert_not_identity(cs, ephemeral_key, "ephemeral key is not the identity")
        if isinstance(public_key, CurvePoint):
            assert_on_curve(cs, ec, public_key, "public key on the curve")
            shared = variable_base_mul(cs, ec, public_key, bits, "shared point S = k*PK")
        else:
            constant_key = require_key_point(ec, public_key, "liquidation public key")
            shared = fixed_base_mul(cs, ec, constant_key, bits, "shared point S = k*PK")
        ciphertext = poseidon_encrypt_gadget(cs, values, (shared.x, shared.y), nonce, "cipher")
        packed = nonce + (len(values) << NONCE_BITS)
        digest = poseidon_sponge_gadget(
            cs, [ephemeral_key.x, ephemeral_key.y, packed, *ciphertext], ESCROW_DOMAIN
        )
    return EscrowCircuitValues(digest, ephemeral_key, shared, ciphertext)
