"""The escrow gadget and the in-circuit cipher: same values as the native escrow, and every cheat pinned.

Each test circuit is a statement in miniature: private plaintext, the ephemeral scalar as a
private witness, the escrow digest bound to a public input (and, in "public key" mode, the
liquidation key as two public inputs).
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.circuits.helpers import assert_only_fails_at
from tests.gadgets.cheating import OverridingSystem
from zkmargin.constraints import ConstraintSystem
from zkmargin.edwards import add, base_mul, embedded_curve, mul
from zkmargin.escrow import seal
from zkmargin.gadgets.edwards import (
    WINDOW_BITS,
    CurvePoint,
    ephemeral_scalar_width,
    point_value,
)
from zkmargin.gadgets.escrow import escrow_gadget
from zkmargin.gadgets.poseidon_cipher import poseidon_encrypt_gadget
from zkmargin.poseidon.cipher import poseidon_encrypt

BINDING = "escrow digest is the public input"
MODES = ["constant key", "public key"]


def key_pair(curve, seed=7):
    ec = embedded_curve(curve)
    sk = random.Random(seed).randrange(1, ec.order)
    return sk, base_mul(ec, sk)


def plaintext(curve, count, seed=3):
    rng = random.Random(seed)
    return [rng.randrange(curve.r) for _ in range(count)]


def ephemeral(curve, seed=11):
    return random.Random(seed).randrange(1, 1 << ephemeral_scalar_width(embedded_curve(curve)))


def statement(curve, mode, values, pk, k, digest, overrides=None, *, has_witness=True):
    """Synthesize the miniature statement; ``overrides`` makes a cheating witness."""
    if overrides is None and not has_witness:
        cs = ConstraintSystem(curve, has_witness=False)
    else:
        cs = OverridingSystem(curve, overrides)
    public_digest = cs.public("escrow digest", digest)
    key = pk
    if mode == "public key":
        key = CurvePoint(cs.public("liquidation key.x", pk[0]), cs.public("liquidation key.y", pk[1]))
    xs = [cs.private(f"value {i}", v, existential=True) for i, v in enumerate(values)]
    out = escrow_gadget(cs, xs, key, k)
    cs.enforce_equal(out.digest, public_digest, BINDING)
    return cs, out


def cheating_statement(curve, mode, values, pk, k, overrides, digest=None):
    """A cheat whose public digest is whatever the cheating witness computes (a second pass)."""
    if digest is None:
        first, out = statement(curve, mode, values, pk, k, 0, overrides)
        digest = first.value(out.digest)
    cs, out = statement(curve, mode, values, pk, k, digest, overrides)
    cs.assert_every_override_used()
    return cs, out


def last_window(ec):
    return -(-ephemeral_scalar_width(ec) // WINDOW_BITS) - 1


# --- the cipher alone ----------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 4, 6, 7])
def test_cipher_gadget_computes_the_native_ciphertext(curve, count):
    values = plaintext(curve, count, seed=count)
    key = (31337, 271828)
    cs = ConstraintSystem(curve, has_witness=True)
    xs = [cs.private(f"m{i}", v, existential=True) for i, v in enumerate(values)]
    k = (cs.private("k0", key[0], existential=True), cs.private("k1", key[1], existential=True))
    out = poseidon_encrypt_gadget(cs, xs, k, 99)
    assert [cs.value(c) for c in out] == poseidon_encrypt(values, key, 99, curve)
    assert cs.is_satisfied() and cs.audit().ok
    assert cs.num_constraints == 264 * (-(-count // 3) + 1)


def test_cipher_gadget_refuses_a_nonce_out_of_range(curve):
    cs = ConstraintSystem(curve, has_witness=False)
    with pytest.raises(ValueError, match="nonce"):
        poseidon_encrypt_gadget(cs, [0], (0, 0), 1 << 128)


# --- the escrow: same values as native -----------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("count", [1, 6])
def test_escrow_gadget_matches_the_native_escrow(curve, mode, count):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values, k = plaintext(curve, count, seed=count), ephemeral(curve, seed=count)
    escrow = seal(values, pk, curve, ephemeral_scalar=k)
    cs, out = statement(curve, mode, values, pk, k, escrow.digest())
    assert point_value(cs, out.ephemeral_key) == escrow.ephemeral_key
    assert point_value(cs, out.shared_point) == mul(ec, k, pk)
    assert [cs.value(c) for c in out.ciphertext] == [*escrow.ciphertext, escrow.tag]
    assert cs.value(out.digest) == escrow.digest()
    assert cs.is_satisfied()
    report = cs.audit()
    assert report.ok, report.undetermined[:3]


@pytest.mark.parametrize("mode", MODES)
def test_setup_and_proving_build_the_same_circuit(curve, mode):
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 4), ephemeral(curve)
    proving, _ = statement(curve, mode, values, pk, k, seal(values, pk, curve, ephemeral_scalar=k).digest())
    setup, _ = statement(curve, mode, [None] * 4, pk, None, None, has_witness=False)
    assert [c.label for c in setup.constraints] == [c.label for c in proving.constraints]


# --- cheats stopped at the digest binding --------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_ciphertext_of_another_plaintext_is_refused(curve, mode):
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 6), ephemeral(curve)
    other = [*values[:5], (values[5] + 1) % curve.r]
    published = seal(other, pk, curve, ephemeral_scalar=k)
    cs, _ = statement(curve, mode, values, pk, k, published.digest())
    assert_only_fails_at(cs, BINDING)


@pytest.mark.parametrize("mode", MODES)
def test_the_right_plaintext_under_another_key_is_refused(curve, mode):
    _, pk = key_pair(curve)
    _, someone_elses = key_pair(curve, seed=8)
    values, k = plaintext(curve, 6), ephemeral(curve)
    published = seal(values, someone_elses, curve, ephemeral_scalar=k)  # the prover can open it alone
    cs, _ = statement(curve, mode, values, pk, k, published.digest())
    assert_only_fails_at(cs, BINDING)


@pytest.mark.parametrize("mode", MODES)
def test_a_tampered_tag_is_refused(curve, mode):
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 6), ephemeral(curve)
    honest = seal(values, pk, curve, ephemeral_scalar=k)
    published = replace(honest, tag=(honest.tag + 1) % curve.r)
    cs, _ = statement(curve, mode, values, pk, k, published.digest())
    assert_only_fails_at(cs, BINDING)


# --- cheats in the witness, stopped where they enter -------------------------------------
def ephemeral_key_cheats(ec, honest):
    """A wrong ephemeral point, one off the subgroup (plus a point of order 2), one off the curve."""
    return {
        "another point": base_mul(ec, 5),
        "off the subgroup": add(ec, honest, (0, ec.p - 1)),
        "off the curve": (honest[0], (honest[1] + 1) % ec.p),
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cheat", ["another point", "off the subgroup", "off the curve"])
def test_a_wrong_ephemeral_point_is_stopped_by_the_fixed_base_multiplication(curve, mode, cheat):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 6), ephemeral(curve)
    forged = ephemeral_key_cheats(ec, base_mul(ec, k))[cheat]
    last = f"escrow/ephemeral key R = k*B/add window {last_window(ec)}"
    published = replace(seal(values, pk, curve, ephemeral_scalar=k), ephemeral_key=forged)
    cs, out = cheating_statement(
        curve, mode, values, pk, k, {f"{last}/x": forged[0], f"{last}/y": forged[1]}, published.digest()
    )
    assert point_value(cs, out.ephemeral_key) == forged
    assert_only_fails_at(cs, f"{last}/x", f"{last}/y")


@pytest.mark.parametrize("mode", MODES)
def test_encrypting_under_a_key_other_than_k_times_pk_is_stopped(curve, mode):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 6), ephemeral(curve)
    chosen = base_mul(ec, 4242)  # a shared point the prover picked: it can open the escrow alone
    if mode == "public key":
        last = "escrow/shared point S = k*PK/bit 0/select"
    else:
        last = f"escrow/shared point S = k*PK/add window {last_window(ec)}"
    cs, out = cheating_statement(curve, mode, values, pk, k, {f"{last}/x": chosen[0], f"{last}/y": chosen[1]})
    assert point_value(cs, out.shared_point) == chosen
    assert_only_fails_at(cs, f"{last}/x", f"{last}/y")


@pytest.mark.parametrize("mode", MODES)
def test_a_forged_keystream_is_stopped_by_the_permutation(curve, mode):
    # the prover changes the S-box output of the cipher's last full round of block 0, so the
    # ciphertext is not the permutation's: only that S-box's constraint breaks
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 6), ephemeral(curve)
    name = "escrow/cipher/block 0/poseidon t=4/full round 63/x^5 [1]"
    cs, _ = cheating_statement(curve, mode, values, pk, k, {name: 424242})
    assert_only_fails_at(cs, "escrow/cipher/block 0/poseidon t=4/full round 63/x^5 [1]")


@pytest.mark.parametrize("mode", MODES)
def test_a_zero_ephemeral_scalar_is_refused(curve, mode):
    # k = 0 makes R and S the identity: the key (0, 1) would be public
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values = plaintext(curve, 4)
    zero_bits = {f"escrow/ephemeral scalar/bit {i}": 0 for i in range(ephemeral_scalar_width(ec))}
    cs, out = cheating_statement(curve, mode, values, pk, ephemeral(curve), zero_bits)
    assert point_value(cs, out.shared_point) == (0, 1)
    assert_only_fails_at(cs, "escrow/ephemeral key is not the identity/x is nonzero")


@pytest.mark.parametrize("mode", MODES)
def test_a_non_canonical_scalar_decomposition_is_stopped_at_booleanity(curve, mode):
    # k + l names the same points as k but needs m bits; spreading it with a "bit" worth 1 + l
    # keeps the sum, and only the booleanity of that bit breaks
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 4), ephemeral(curve) | 1
    cs, _ = cheating_statement(curve, mode, values, pk, k, {"escrow/ephemeral scalar/bit 0": 1 + ec.order})
    assert_only_fails_at(cs, "escrow/ephemeral scalar/bit 0 is boolean")


def test_a_public_key_off_the_curve_is_refused(curve):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    values, k = plaintext(curve, 4), ephemeral(curve)
    off = (pk[0], (pk[1] + 1) % ec.p)
    cs, _ = cheating_statement(curve, "public key", values, off, k, {})
    labels = assert_only_fails_at(cs, "escrow/public key on the curve/on the curve", "escrow/shared point S = k*PK/")
    assert labels[0] == "escrow/public key on the curve/on the curve"


def test_a_constant_key_must_be_a_subgroup_point(curve):
    ec = embedded_curve(curve)
    cs = ConstraintSystem(curve, has_witness=False)
    with pytest.raises(ValueError, match="subgroup"):
        escrow_gadget(cs, [0], (0, ec.p - 1), None)
    with pytest.raises(ValueError, match="identity"):
        escrow_gadget(cs, [0], (0, 1), None)
