"""snarkjs JSON files: exact round trips of the reference vectors, and our own objects."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.formats.snarkjs_vectors import CURVE_NAMES, backend_for, mult_dir
from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.formats.snarkjs import (
    dump_json,
    dumps_json,
    load_json,
    proof_from_json,
    proof_to_json,
    public_from_json,
    public_to_json,
    read_groth16_files,
    read_proof,
    read_public,
    read_vk,
    vk_alphabeta_12,
    vk_from_json,
    vk_to_json,
    write_proof,
)
from zkmargin.groth16.keys import Proof, VerifyingKey

PROOF_FILES = ("proof.json", "proof2.json", "proof_tampered_neg_a.json")
PUBLIC_FILES = ("public.json", "public_tampered.json")


def _text(path) -> str:
    # snarkjs writes no final newline; some vector files were re-saved with one
    return path.read_text(encoding="utf-8").removesuffix("\n")


@pytest.fixture(scope="module", params=CURVE_NAMES)
def vk_case(request):
    """(curve name, backend, parsed vk, file path): the vk is parsed once per module and curve."""
    backend = backend_for(request.param)
    path = mult_dir(request.param) / "verification_key.json"
    return request.param, backend, read_vk(path, backend), path


@pytest.mark.parametrize("curve_name", CURVE_NAMES)
@pytest.mark.parametrize("filename", PROOF_FILES)
def test_proof_vectors_round_trip_byte_for_byte(curve_name, filename):
    backend = backend_for(curve_name)
    path = mult_dir(curve_name) / filename
    proof = read_proof(path, backend)
    assert proof.curve is get_curve(curve_name)
    assert dumps_json(proof_to_json(proof, backend)) == _text(path)


def test_vk_vector_round_trips_byte_for_byte(vk_case):
    """Includes vk_alphabeta_12, recomputed from alpha and beta with py_ecc."""
    _, backend, vk, path = vk_case
    assert vk.num_public == 2
    assert dumps_json(vk_to_json(vk, backend)) == _text(path)


def test_vk_alphabeta_12_equals_snarkjs(vk_case):
    curve_name, backend, vk, path = vk_case
    expected = load_json(path)["vk_alphabeta_12"]
    alpha = backend.g1_to_affine(vk.alpha_g1)
    beta = backend.g2_to_affine(vk.beta_g2)
    assert vk_alphabeta_12(curve_name, alpha, beta) == expected


@pytest.mark.parametrize("curve_name", CURVE_NAMES)
@pytest.mark.parametrize("filename", PUBLIC_FILES)
def test_public_vectors_round_trip_byte_for_byte(curve_name, filename):
    path = mult_dir(curve_name) / filename
    values = read_public(path, curve_name)
    assert values[1] == 11 and values[0] in (33, 34)
    assert dumps_json(public_to_json(values, curve_name)) == _text(path)


@pytest.mark.parametrize("curve_name", CURVE_NAMES)
def test_public_value_plus_r_is_rejected_not_reduced(curve_name):
    with pytest.raises(MalformedInputError, match=r"\[0\] is not below the scalar field order r"):
        read_public(mult_dir(curve_name) / "public_noncanonical.json", curve_name)


def test_objects_round_trip(curve):
    backend = backend_for(curve)
    g1, g2 = backend.g1_generator(), backend.g2_generator()
    proof = Proof(curve, backend.g1_mul(g1, 5), backend.g2_mul(g2, 7), backend.g1_mul(g1, curve.r - 11))
    again = proof_from_json(proof_to_json(proof, backend), backend)
    assert again.curve is curve
    assert backend.g1_eq(again.a_g1, proof.a_g1)
    assert backend.g2_eq(again.b_g2, proof.b_g2)
    assert backend.g1_eq(again.c_g1, proof.c_g1)


def test_point_at_infinity_is_representable(curve):
    """A, B, C at infinity make no valid proof, but saying so is the verifier's job."""
    backend = backend_for(curve)
    proof = Proof(curve, backend.g1_identity(), backend.g2_identity(), backend.g1_identity())
    data = proof_to_json(proof, backend)
    assert data["pi_a"] == ["0", "1", "0"]
    assert data["pi_b"] == [["0", "0"], ["1", "0"], ["0", "0"]]
    again = proof_from_json(json.loads(dumps_json(data)), backend)
    assert backend.g1_is_identity(again.a_g1)
    assert backend.g2_is_identity(again.b_g2)
    assert backend.g1_is_identity(again.c_g1)


def test_vk_with_identity_points_round_trips(curve):
    backend = backend_for(curve)
    vk = VerifyingKey(
        curve,
        alpha_g1=backend.g1_identity(),
        beta_g2=backend.g2_generator(),
        gamma_g2=backend.g2_generator(),
        delta_g2=backend.g2_identity(),
        gamma_abc_g1=[backend.g1_identity()],
    )
    data = vk_to_json(vk, backend)
    assert data["nPublic"] == 0
    # e(0, beta) = 1 in ffjavascript's representation
    one = [["1", "0"], ["0", "0"], ["0", "0"]]
    assert data["vk_alphabeta_12"] == [one, [["0", "0"]] * 3]
    again = vk_from_json(dumps_json(data), backend)
    assert again.num_public == 0
    assert backend.g1_is_identity(again.alpha_g1) and backend.g2_is_identity(again.delta_g2)


@pytest.mark.parametrize("curve_name", CURVE_NAMES)
def test_json_text_and_bytes_are_accepted(curve_name):
    backend = backend_for(curve_name)
    text = (mult_dir(curve_name) / "proof.json").read_text()
    a = proof_from_json(text, backend)
    b = proof_from_json(text.encode(), backend)
    assert backend.g1_eq(a.a_g1, b.a_g1)


@pytest.mark.parametrize(("alias", "canonical"), [("bn254", "bn128"), ("BLS12-381", "bls12381")])
def test_curve_aliases_in_files(alias, canonical):
    data = load_json(mult_dir(canonical) / "proof.json")
    data["curve"] = alias
    proof = proof_from_json(data, backend_for(canonical))
    assert proof.curve is get_curve(canonical)
    assert proof_to_json(proof, backend_for(canonical))["curve"] == canonical


def test_curve_field_is_optional_when_the_caller_names_the_curve():
    """rapidsnark writes proof.json without a "curve" field."""
    data = load_json(mult_dir("bn128") / "proof.json")
    del data["curve"]
    assert proof_from_json(data, curve="bn254").curve is get_curve("bn128")
    assert proof_from_json(data, backend_for("bn128")).curve is get_curve("bn128")
    with pytest.raises(MalformedInputError, match="no 'curve' field"):
        proof_from_json(data)


def test_unknown_extra_fields_are_ignored():
    original = load_json(mult_dir("bn128") / "proof.json")
    data = {**original, "comment": "made by a newer tool"}
    backend = backend_for("bn128")
    proof = proof_from_json(data, backend)
    assert proof == proof_from_json(original, backend)
    assert proof_to_json(proof, backend) == original


@pytest.mark.parametrize("curve_name", CURVE_NAMES)
def test_read_groth16_files(curve_name):
    folder = mult_dir(curve_name)
    backend = backend_for(curve_name)
    vk, public, proof = read_groth16_files(
        folder / "verification_key.json", folder / "public.json", folder / "proof.json", backend
    )
    assert public == [33, 11] and vk.curve is proof.curve is get_curve(curve_name)


def test_read_groth16_files_rejects_mixed_curves():
    bn, bls = mult_dir("bn128"), mult_dir("bls12381")
    with pytest.raises(MalformedInputError, match="curve is bls12381 but bn128 was expected"):
        read_groth16_files(
            bn / "verification_key.json", bn / "public.json", bls / "proof.json", backend_for("bn128")
        )


def test_read_groth16_files_rejects_wrong_public_count(tmp_path):
    bn = mult_dir("bn128")
    (tmp_path / "public.json").write_text('["33"]')
    with pytest.raises(MalformedInputError, match=r"1 public values but .* nPublic = 2"):
        read_groth16_files(
            bn / "verification_key.json", tmp_path / "public.json", bn / "proof.json", backend_for("bn128")
        )


def test_public_to_json_checks_values():
    assert public_to_json([0, 33]) == ["0", "33"]
    r = get_curve("bn128").r
    assert public_to_json([r - 1], "bn128") == [str(r - 1)]
    for bad in ([-1], [True], ["33"], [1.0]):
        with pytest.raises(MalformedInputError):
            public_to_json(bad)
    with pytest.raises(MalformedInputError, match="not in"):
        public_to_json([r], "bn128")


def test_public_from_json_accepts_boundaries():
    r = get_curve("bls12381").r
    assert public_from_json(["0", str(r - 1)], "bls12381") == [0, r - 1]
    assert public_from_json("[]", "bls12381") == []


def test_dump_json_writes_atomically_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "public.json"
    dump_json(["33", "11"], target)
    assert target.read_text() == '[\n "33",\n "11"\n]'
    os.chmod(target, 0o640)
    dump_json(["34"], target)
    assert target.read_text() == '[\n "34"\n]'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(TypeError):
        dump_json([object()], target)
    with pytest.raises(ValueError):
        dump_json([float("nan")], target)
    assert target.read_text() == '[\n "34"\n]'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["public.json"]


def test_write_proof_matches_snarkjs_file(tmp_path):
    backend = backend_for("bls12381")
    source = mult_dir("bls12381") / "proof.json"
    write_proof(read_proof(source, backend), tmp_path / "proof.json", backend)
    assert (tmp_path / "proof.json").read_text() == _text(source)


def test_dumps_json_matches_javascript_stringify_details():
    assert dumps_json({"a": [], "b": {}, "c": [1, ["x"]], "d": "é"}) == (
        '{\n "a": [],\n "b": {},\n "c": [\n  1,\n  [\n   "x"\n  ]\n ],\n "d": "é"\n}'
    )
