"""Fill openings sealed to the trader's X25519 key, bound to the fill commitment."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from circuits.inputs import fill_from_json
from circuits.protocol.errors import (
    FillCommitmentMismatchError,
    FillDecryptionError,
    FillDeliveryError,
    FillFormatError,
)
from circuits.protocol.fill_delivery import (
    CIPHERTEXT_BYTES,
    PADDED_OPENING_BYTES,
    TraderKeyPair,
    decode_opening,
    encode_opening,
    generate_key_pair,
    load_private_key,
    load_public_key,
    open_fill,
    private_key_to_hex,
    public_key_to_hex,
    seal,
    seal_fill,
)
from circuits.state import BoundError, Fill
from zkmargin.errors import MalformedInputError, ZkMarginError

FILL = Fill(account_id=7, fill_id=41, market=1, size_delta=-25, price=101_500, fee=12, salt=987654321)


@pytest.fixture(scope="module")
def trader():
    return generate_key_pair()


def commitment(fill: Fill, curve) -> int:
    return fill.commitment(curve)


def test_round_trip(trader, curve):
    box = seal_fill(FILL, trader.public_key, curve)
    assert open_fill(box, trader.private_key, commitment(FILL, curve), curve) == FILL


def test_round_trip_with_hex_keys_and_curve_names(trader, curve):
    box = seal_fill(FILL, trader.public_hex, curve.name)
    assert open_fill(box, trader.private_hex, commitment(FILL, curve), curve.name) == FILL


def test_extreme_fill_round_trips(trader, curve):
    """Every field at its bound still fits the fixed-size box."""
    big = Fill(account_id=2**64 - 1, fill_id=2**64 - 1, market=63, size_delta=-(2**40), price=2**48 - 1,
               fee=2**64 - 1, salt=curve.r - 1)
    box = seal_fill(big, trader.public_key, curve)
    assert open_fill(box, trader.private_key, commitment(big, curve), curve) == big


def test_ciphertext_length_does_not_reveal_the_fill(trader, curve):
    small = Fill(0, 0, 0, 1, 1, 0, 0)
    big = Fill(2**64 - 1, 2**64 - 1, 63, -(2**40), 2**48 - 1, 2**64 - 1, curve.r - 1)
    lengths = {len(seal_fill(f, trader.public_key, curve)) for f in (small, FILL, big)}
    assert lengths == {CIPHERTEXT_BYTES} == {1 + 32 + PADDED_OPENING_BYTES + 16}


def test_each_seal_is_fresh(trader, curve):
    """A new ephemeral key per seal: equal fills do not give linkable ciphertexts."""
    assert seal_fill(FILL, trader.public_key, curve) != seal_fill(FILL, trader.public_key, curve)


def test_wrong_key_fails(trader, curve):
    box = seal_fill(FILL, trader.public_key, curve)
    with pytest.raises(FillDecryptionError, match="does not decrypt"):
        open_fill(box, generate_key_pair().private_key, commitment(FILL, curve), curve)


@pytest.mark.parametrize("where", [1, 16, 32, 33, 200, CIPHERTEXT_BYTES - 17, CIPHERTEXT_BYTES - 1],
                         ids=["ephemeral-first", "ephemeral-mid", "ephemeral-last", "body-first", "body-mid",
                              "body-last", "tag-last"])
def test_tampered_ciphertext_fails(trader, curve, where):
    box = bytearray(seal_fill(FILL, trader.public_key, curve))
    box[where] ^= 0x01
    with pytest.raises(FillDecryptionError):
        open_fill(bytes(box), trader.private_key, commitment(FILL, curve), curve)


def test_unknown_version_is_malformed(trader, curve):
    box = bytearray(seal_fill(FILL, trader.public_key, curve))
    box[0] = 2
    with pytest.raises(FillFormatError, match="unknown sealed fill version 2"):
        open_fill(bytes(box), trader.private_key, commitment(FILL, curve), curve)


@pytest.mark.parametrize("box", [b"", b"\x01" * (CIPHERTEXT_BYTES - 1), b"\x01" * (CIPHERTEXT_BYTES + 1), "text"],
                         ids=["empty", "short", "long", "str"])
def test_malformed_ciphertext(trader, curve, box):
    with pytest.raises(FillFormatError):
        open_fill(box, trader.private_key, commitment(FILL, curve), curve)


def test_ciphertext_replayed_under_another_fill_commitment_fails(trader, curve):
    other = dataclasses.replace(FILL, fill_id=42)
    box = seal_fill(FILL, trader.public_key, curve)
    with pytest.raises(FillDecryptionError, match="another fill commitment"):
        open_fill(box, trader.private_key, commitment(other, curve), curve)


def test_ciphertext_bound_to_its_curve(trader):
    box = seal(encode_opening(FILL), trader.public_key, 12345, "bls12381")
    assert decode_opening(encode_opening(FILL)) == FILL
    with pytest.raises(FillDecryptionError):
        open_fill(box, trader.private_key, 12345, "bn128")


def test_opening_that_does_not_match_its_commitment_fails(trader, curve):
    """A faulty venue seals fill A's opening under fill B's commitment: authentic, but refused."""
    other = dataclasses.replace(FILL, size_delta=+25)
    box = seal(encode_opening(FILL), trader.public_key, commitment(other, curve), curve)
    with pytest.raises(FillCommitmentMismatchError, match="not to the expected"):
        open_fill(box, trader.private_key, commitment(other, curve), curve)


def test_out_of_range_fills_are_refused_on_both_sides(trader, curve):
    bad = dataclasses.replace(FILL, price=0)
    with pytest.raises(BoundError, match="fill price"):
        seal_fill(bad, trader.public_key, curve)
    with pytest.raises(BoundError, match="fill market"):
        seal_fill(FILL, trader.public_key, curve, markets=1)
    box = seal(encode_opening(bad), trader.public_key, commitment(bad, curve), curve)
    with pytest.raises(FillFormatError, match="out of range.*fill price"):
        open_fill(box, trader.private_key, commitment(bad, curve), curve)
    good = seal_fill(FILL, trader.public_key, curve)
    with pytest.raises(FillFormatError, match="fill market"):
        open_fill(good, trader.private_key, commitment(FILL, curve), curve, markets=1)


@pytest.mark.parametrize("value", [-1, "1", True, 1.0])
def test_expected_commitment_must_be_a_field_element(trader, curve, value):
    box = seal_fill(FILL, trader.public_key, curve)
    with pytest.raises(FillFormatError, match="fill commitment must be an integer"):
        open_fill(box, trader.private_key, value, curve)
    with pytest.raises(FillFormatError):
        open_fill(box, trader.private_key, curve.r, curve)


def test_low_order_trader_key_is_refused():
    with pytest.raises(FillFormatError, match="key agreement failed"):
        seal_fill(FILL, bytes(32), "bn128")


def test_errors_are_zkmargin_errors():
    assert issubclass(FillDecryptionError, FillDeliveryError) and issubclass(FillDeliveryError, ZkMarginError)
    assert issubclass(FillFormatError, MalformedInputError)


# --- the opening ----------------------------------------------------------------------------

def _padded(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw + bytes(PADDED_OPENING_BYTES - 2 - len(raw))


def test_opening_is_the_provers_fill_json():
    padded = encode_opening(FILL)
    length = int.from_bytes(padded[:2], "big")
    data = json.loads(padded[2:2 + length])
    assert list(data) == ["account_id", "fill_id", "market", "size_delta", "price", "fee", "salt"]
    assert data["salt"] == str(FILL.salt)
    assert fill_from_json(data) == FILL


@pytest.mark.parametrize("text, message", [
    ('{"account_id":1}', "exactly the fields"),
    ('[]', "exactly the fields"),
    ('{', "not valid JSON"),
    ('{"account_id":1,"fill_id":2,"market":0,"size_delta":-1,"price":5.0,"fee":0,"salt":"3"}', "not an integer"),
    ('{"account_id":1,"fill_id":2,"market":0,"size_delta":-1,"price":true,"fee":0,"salt":"3"}', "'price' must be"),
    ('{"account_id":1,"fill_id":2,"market":0,"size_delta":-1,"price":5,"fee":0,"salt":"03"}', "'salt' must be"),
    ('{"account_id":1,"fill_id":2,"market":0,"size_delta":-1,"price":5,"fee":0,"salt":"3","x":1}',
     "exactly the fields"),
])
def test_decoded_opening_is_strict(text, message):
    with pytest.raises(FillFormatError, match=message):
        decode_opening(_padded(text))


def test_padding_is_strict():
    padded = bytearray(encode_opening(FILL))
    padded[-1] = 1
    with pytest.raises(FillFormatError, match="padding"):
        decode_opening(bytes(padded))
    with pytest.raises(FillFormatError, match="padding"):
        decode_opening(b"\xff\xff" + bytes(PADDED_OPENING_BYTES - 2))
    with pytest.raises(FillFormatError, match="512 bytes"):
        decode_opening(bytes(10))


# --- keys -----------------------------------------------------------------------------------

def test_key_pair_hex_round_trip(trader):
    again = TraderKeyPair.from_private_hex(trader.private_hex)
    assert again.public_hex == trader.public_hex
    assert public_key_to_hex(load_public_key(trader.public_hex)) == trader.public_hex
    assert private_key_to_hex(load_private_key(bytes.fromhex(trader.private_hex))) == trader.private_hex
    assert isinstance(load_private_key(trader.private_key), X25519PrivateKey)
    assert len(bytes.fromhex(trader.public_hex)) == 32


@pytest.mark.parametrize("key", ["AB" * 32, "ab" * 31, "0x" + "ab" * 31, b"\x01" * 31, 5])
def test_malformed_keys_are_refused(key):
    with pytest.raises(FillFormatError):
        load_public_key(key)
    with pytest.raises(FillFormatError):
        load_private_key(key)
