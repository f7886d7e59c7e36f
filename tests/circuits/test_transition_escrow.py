"""The escrow variants of transfer, fill and settle: the new state's opening, sealed to the guardians.

Every cheat starts from an honest escrowed transition and changes one thing; each is pinned to the
constraint that stops it. A published escrow of another state, of the right state under another
key, or with a tampered ciphertext or tag has another digest: only the binding of the public
``escrow_digest`` breaks. A guardian key off the curve breaks only the on-curve assertion.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import circuits.common as common
from circuits import get_circuit
from circuits.common import ESCROW_BINDING
from circuits.state import AccountState, BoundError, Fill
from tests.circuits.helpers import CURVES, EPOCH, assert_only_fails_at, state
from zkmargin.curves import get_curve
from zkmargin.edwards import base_mul, embedded_curve
from zkmargin.escrow import open_with_secret_key, seal
from zkmargin.groth16 import prove, setup, verify

SECRET = 987654321  # the guardians' combined secret, in these tests held whole
STATEMENTS = ("transfer", "fill", "settle")
OFF_CURVE = "escrow/public key on the curve"


def guardian_key(curve):
    return base_mul(embedded_curve(curve), SECRET)


def old_state(markets=1):
    return state(collateral=10**6, sizes=(10,) + (0,) * (markets - 1), costs=(1000,) + (0,) * (markets - 1))


def escrowed(name, curve, markets=1, key=None):
    """An honest escrowed transition of ``name``: (circuit, old state, new state, proving inputs)."""
    circuit = get_circuit(name, markets=markets, escrow=True)
    old, key = old_state(markets), key or guardian_key(curve)
    prices, rates = [100] * markets, [100_000] * markets
    if name == "transfer":
        new, inputs = circuit.transition(old, -30, EPOCH, prices, rates, curve, escrow_key=key)
    elif name == "fill":
        fill = Fill(old.account_id, 9, 0, 5, 101, 2, 4242)
        new, inputs = circuit.transition(old, fill, EPOCH, prices, rates, [50_000] * markets, curve, escrow_key=key)
    else:
        new, _pnl, inputs = circuit.transition(old, EPOCH, [110] * markets, curve, escrow_key=key)
    return circuit, old, new, inputs


def with_public(inputs, **changes):
    return {**inputs, "public": {**inputs["public"], **changes}}


def resealed(values: list[int], curve, inputs, key=None):
    """An escrow of ``values`` the prover could publish instead: same ephemeral scalar."""
    return seal(values, key or guardian_key(curve), curve, ephemeral_scalar=inputs["escrow_scalar"])


# --- honest ----------------------------------------------------------------------------------
@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_the_escrow_opens_to_the_new_state_whose_commitment_is_public(curve, name):
    circuit, _old, new, inputs = escrowed(name, curve)
    cs = circuit.synthesize(curve, inputs)
    assert cs.is_satisfied()
    escrow = inputs["escrow"]
    assert inputs["public"]["escrow_digest"] == escrow.digest()
    assert (inputs["public"]["escrow_key_x"], inputs["public"]["escrow_key_y"]) == guardian_key(curve)
    opened = AccountState.from_commitment_inputs(open_with_secret_key(escrow, SECRET), curve)
    assert opened == new
    assert opened.commitment(curve) == inputs["public"]["new_commitment"]


@pytest.mark.parametrize("markets", [1, 4])
@pytest.mark.parametrize("name", STATEMENTS)
def test_the_escrow_variants_audit_clean(name, markets):
    circuit = get_circuit(name, markets=markets, escrow=True)
    report = circuit.synthesize("bls12381").audit()
    assert report.ok, (report.unconstrained[:3], report.undetermined[:3])
    names = circuit.synthesize("bls12381").public_names
    assert names[-3:] == ["escrow key x", "escrow key y", "escrow digest"]


@pytest.mark.parametrize("name", STATEMENTS)
def test_the_escrow_variant_has_its_own_key_name_and_refuses_a_missing_key(name):
    plain, escrowed_circuit = get_circuit(name, markets=2), get_circuit(name, markets=2, escrow=True)
    assert escrowed_circuit.key_name() == f"{plain.key_name()}-escrow"
    assert escrowed_circuit.public_count() == plain.public_count() + 3
    assert plain.shape("bls12381").digest() != escrowed_circuit.shape("bls12381").digest()
    with pytest.raises(BoundError, match="needs the guardians' key"):
        _transition(escrowed_circuit, name)
    with pytest.raises(BoundError, match="takes no escrow key"):
        _transition(plain, name, escrow_key=guardian_key("bls12381"))


def _transition(circuit, name, **kw):
    old = old_state(circuit.markets)
    prices, rates = [100] * circuit.markets, [100_000] * circuit.markets
    if name == "transfer":
        return circuit.transition(old, 5, EPOCH, prices, rates, "bls12381", **kw)
    if name == "fill":
        fill = Fill(old.account_id, 9, 0, 5, 101, 2, 4242)
        return circuit.transition(old, fill, EPOCH, prices, rates, [50_000] * circuit.markets, "bls12381", **kw)
    return circuit.transition(old, EPOCH, [110] * circuit.markets, "bls12381", **kw)


# --- cheats stopped at the digest binding ----------------------------------------------------
@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_an_escrow_of_the_old_state_is_refused(curve, name):
    circuit, old, _new, inputs = escrowed(name, curve)
    published = resealed(old.commitment_inputs(), curve, inputs)  # opens to a state the ledger left
    cheat = with_public(inputs, escrow_digest=published.digest())
    assert_only_fails_at(circuit.synthesize(curve, cheat), ESCROW_BINDING)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_an_escrow_of_a_state_with_more_collateral_is_refused(curve, name):
    circuit, _old, new, inputs = escrowed(name, curve)
    richer = replace(new, collateral=new.collateral + 10**6)  # what a liquidation would then find
    published = resealed(richer.commitment_inputs(), curve, inputs)
    cheat = with_public(inputs, escrow_digest=published.digest())
    assert_only_fails_at(circuit.synthesize(curve, cheat), ESCROW_BINDING)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_the_right_state_under_another_key_is_refused(curve, name):
    circuit, _old, new, inputs = escrowed(name, curve)
    mine = base_mul(embedded_curve(curve), 4242)  # the trader alone could open it
    published = resealed(new.commitment_inputs(), curve, inputs, key=mine)
    cheat = with_public(inputs, escrow_digest=published.digest())
    assert_only_fails_at(circuit.synthesize(curve, cheat), ESCROW_BINDING)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
@pytest.mark.parametrize("part", ["tag", "ciphertext", "ephemeral key"])
def test_a_tampered_escrow_is_refused(curve, name, part):
    circuit, _old, _new, inputs = escrowed(name, curve)
    honest = inputs["escrow"]
    r = get_curve(curve).r
    if part == "tag":
        tampered = replace(honest, tag=(honest.tag + 1) % r)
    elif part == "ciphertext":
        tampered = replace(honest, ciphertext=((honest.ciphertext[0] + 1) % r, *honest.ciphertext[1:]))
    else:
        tampered = replace(honest, ephemeral_key=base_mul(embedded_curve(curve), 5))
    cheat = with_public(inputs, escrow_digest=tampered.digest())
    assert_only_fails_at(circuit.synthesize(curve, cheat), ESCROW_BINDING)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_a_witness_with_another_ephemeral_scalar_does_not_match_the_published_escrow(curve, name):
    circuit, _old, _new, inputs = escrowed(name, curve)
    cheat = {**inputs, "escrow_scalar": inputs["escrow_scalar"] + 1}
    assert_only_fails_at(circuit.synthesize(curve, cheat), ESCROW_BINDING)


# --- the key ---------------------------------------------------------------------------------
@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name", STATEMENTS)
def test_a_guardian_key_off_the_curve_is_stopped_by_the_on_curve_assertion(curve, name, monkeypatch):
    circuit, _old, _new, inputs = escrowed(name, curve)
    ec = embedded_curve(curve)
    x, y = guardian_key(curve)
    cheat = with_public(inputs, escrow_key_y=(y + 1) % ec.p)
    sealed = []
    gadget = common.escrow_gadget

    def recording(*args, **kwargs):
        sealed.append(gadget(*args, **kwargs))
        return sealed[-1]

    monkeypatch.setattr(common, "escrow_gadget", recording)
    first = circuit.synthesize(curve, cheat)  # the digest the cheating witness computes
    cheat = with_public(cheat, escrow_digest=first.value(sealed[-1].digest))
    cs = circuit.synthesize(curve, cheat)
    assert_only_fails_at(cs, OFF_CURVE)


# --- Groth16 ---------------------------------------------------------------------------------
def test_an_escrowed_transfer_proof_is_bound_to_the_key_and_the_digest():
    curve = "bls12381"
    circuit, _old, new, inputs = escrowed("transfer", curve)
    pk = setup(circuit.shape(curve), insecure_test_seed=303)
    cs = circuit.synthesize(curve, inputs)
    public = cs.public_values()
    proof = prove(pk, cs)
    assert verify(pk.vk, public, proof)
    other_key = base_mul(embedded_curve(curve), 4242)
    other = resealed(new.commitment_inputs(), curve, inputs, key=other_key)
    for what, index, value in [("another digest", -1, other.digest()), ("another key x", -3, other_key[0]),
                               ("another key y", -2, other_key[1])]:
        forged = list(public)
        forged[index] = value
        assert not verify(pk.vk, forged, proof), what
