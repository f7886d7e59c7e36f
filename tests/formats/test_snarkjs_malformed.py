"""Every malformed snarkjs file gives one clear MalformedInputError naming the field."""

from __future__ import annotations

import copy
import json

import pytest

from tests.formats.snarkjs_vectors import backend_for, mult_dir
from zkmargin.backends.base import fp2_mul
from zkmargin.curves import BLS12_381, BN254, Curve
from zkmargin.errors import MalformedInputError
from zkmargin.formats.snarkjs import (
    load_json,
    parse_json,
    proof_from_json,
    public_from_json,
    vk_from_json,
    vk_to_json,
)

P_BN, P_BLS = BN254.p, BLS12_381.p
R_BN, R_BLS = BN254.r, BLS12_381.r


# --- points that are on the curve but not in the prime-order subgroup -----------------


def _fp_sqrt(a: int, p: int) -> int | None:
    s = pow(a, (p + 1) // 4, p)  # p = 3 (mod 4) on both curves
    return s if s * s % p == a % p else None


def _fp2_pow(a, e: int, p: int):
    result, base = (1, 0), a
    while e:
        if e & 1:
            result = fp2_mul(result, base, p)
        base = fp2_mul(base, base, p)
        e >>= 1
    return result


def _fp2_sqrt(a, p: int):
    """Square root in F_p[u]/(u^2 + 1), p = 3 (mod 4) (Adj and Rodriguez-Henriquez, alg. 9)."""
    a1 = _fp2_pow(a, (p - 3) // 4, p)
    alpha = fp2_mul(fp2_mul(a1, a1, p), a, p)
    x0 = fp2_mul(a1, a, p)
    if alpha == (p - 1, 0):
        x = fp2_mul((0, 1), x0, p)
    else:
        x = fp2_mul(_fp2_pow(((1 + alpha[0]) % p, alpha[1]), (p - 1) // 2, p), x0, p)
    return x if fp2_mul(x, x, p) == (a[0] % p, a[1] % p) else None


def g1_point_outside_subgroup(curve: Curve) -> tuple[int, int]:
    """An on-curve G1 point whose order is not r (there is none on BN254: cofactor 1)."""
    x = 5
    while True:
        y = _fp_sqrt((x**3 + curve.g1_b) % curve.p, curve.p)
        if y is not None:
            return x, y
        x += 1


def g2_point_outside_subgroup(curve: Curve):
    """An on-twist point found by trying x = (k, 1); the cofactor makes it almost surely not in G2."""
    p = curve.p
    for k in range(1, 1000):
        x = (k, 1)
        rhs = fp2_mul(fp2_mul(x, x, p), x, p)
        rhs = ((rhs[0] + curve.g2_b[0]) % p, (rhs[1] + curve.g2_b[1]) % p)
        y = _fp2_sqrt(rhs, p)
        if y is not None:
            return x, y
    raise AssertionError("no point found")


# --- the corpus ------------------------------------------------------------------------


def _set(obj, path, value):
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


_DELETE = object()


def _bump(text: str, by: int) -> str:
    return str(int(text) + by)


def proof_cases(curve_name: str) -> list[tuple[str, object, str]]:
    """(id, malformed proof.json content, expected fragment of the message)."""
    good = load_json(mult_dir(curve_name) / "proof.json")
    curve = BN254 if curve_name == "bn128" else BLS12_381
    p = curve.p
    x, y = good["pi_a"][0], good["pi_a"][1]
    off_g2 = _g2_json(g2_point_outside_subgroup(curve))
    cases = [
        ("top-level-array", [good], "top level must be an object"),
        ("top-level-string", "\"proof\"", "top level must be an object"),
        ("missing-pi_a", _set(good, ["pi_a"], _DELETE), "missing field 'pi_a'"),
        ("missing-pi_b", _set(good, ["pi_b"], _DELETE), "missing field 'pi_b'"),
        ("missing-pi_c", _set(good, ["pi_c"], _DELETE), "missing field 'pi_c'"),
        ("missing-protocol", _set(good, ["protocol"], _DELETE), "missing field 'protocol'"),
        ("protocol-plonk", _set(good, ["protocol"], "plonk"), "protocol must be 'groth16'"),
        ("protocol-case", _set(good, ["protocol"], "Groth16"), "protocol must be 'groth16'"),
        ("unknown-curve", _set(good, ["curve"], "secp256k1"), "unknown curve"),
        ("curve-number", _set(good, ["curve"], 128), "curve must be a string"),
        ("pi_a-object", _set(good, ["pi_a"], {"x": x, "y": y}), "pi_a must be an array"),
        ("pi_a-two-coords", _set(good, ["pi_a"], [x, y]), "pi_a must have 3 elements"),
        ("pi_a-four-coords", _set(good, ["pi_a"], [x, y, "1", "1"]), "pi_a must have 3 elements"),
        ("pi_a-extra-nesting", _set(good, ["pi_a"], [[x], y, "1"]), "pi_a[0] must be a decimal string"),
        ("pi_a-double-wrapped", _set(good, ["pi_a"], [good["pi_a"]]), "pi_a must have 3 elements"),
        ("pi_b-flat", _set(good, ["pi_b"], [c for pair in good["pi_b"] for c in pair]), "pi_b must have 3"),
        ("pi_b-coord-three", _set(good, ["pi_b", 0], good["pi_b"][0] + ["0"]), "pi_b[0] must have 2"),
        ("pi_b-coord-string", _set(good, ["pi_b", 1], good["pi_b"][1][0]), "pi_b[1] must be an array"),
        ("hex", _set(good, ["pi_a", 0], hex(int(x))), "pi_a[0] is not a decimal string"),
        ("number", _set(good, ["pi_a", 2], 1), "pi_a[2] must be a decimal string, not a JSON number"),
        ("float", _set(good, ["pi_a", 2], 1.0), "pi_a[2] must be a decimal string, not a JSON number"),
        ("bool", _set(good, ["pi_a", 2], True), "pi_a[2] must be a decimal string, not a boolean"),
        ("null", _set(good, ["pi_c", 1], None), "pi_c[1] must be a decimal string, not null"),
        ("negative", _set(good, ["pi_a", 1], "-" + y), "pi_a[1] is negative"),
        ("plus-sign", _set(good, ["pi_a", 1], "+" + y), "pi_a[1] is not a decimal string"),
        ("spaces", _set(good, ["pi_a", 1], " " + y), "pi_a[1] is not a decimal string"),
        ("underscore", _set(good, ["pi_a", 1], y[:3] + "_" + y[3:]), "pi_a[1] is not a decimal string"),
        ("exponent", _set(good, ["pi_a", 2], "1e0"), "pi_a[2] is not a decimal string"),
        ("empty-string", _set(good, ["pi_a", 2], ""), "pi_a[2] is not a decimal string"),
        ("arabic-digits", _set(good, ["pi_a", 2], "\u0661"), "pi_a[2] is not a decimal string"),
        ("leading-zero", _set(good, ["pi_a", 0], "0" + x), "pi_a[0] has leading zeros"),
        ("huge", _set(good, ["pi_a", 0], "9" * 5000), "pi_a[0] is not below the base field modulus"),
        ("x-equals-p", _set(good, ["pi_a", 0], str(p)), "pi_a[0] is not below the base field modulus"),
        ("x-plus-p", _set(good, ["pi_a", 0], _bump(x, p)), "pi_a[0] is not below the base field modulus"),
        ("y-plus-p", _set(good, ["pi_c", 1], _bump(good["pi_c"][1], p)), "pi_c[1] is not below"),
        ("b-plus-p", _set(good, ["pi_b", 1, 0], _bump(good["pi_b"][1][0], p)), "pi_b[1][0] is not below"),
        ("b-imag-plus-p", _set(good, ["pi_b", 0, 1], _bump(good["pi_b"][0][1], p)), "pi_b[0][1] is not"),
        ("z-plus-p", _set(good, ["pi_a", 2], str(p + 1)), "pi_a[2] is not below"),
        ("a-off-curve", _set(good, ["pi_a", 1], _bump(y, 1)), "pi_a is not on the"),
        ("c-off-curve", _set(good, ["pi_c", 0], _bump(good["pi_c"][0], 1)), "pi_c is not on the"),
        ("b-off-curve", _set(good, ["pi_b", 1, 1], _bump(good["pi_b"][1][1], 1)), "pi_b is not on the"),
        ("b-swapped", _set(good, ["pi_b", 0], good["pi_b"][0][::-1]), "pi_b is not on the"),
        ("z-two", _set(good, ["pi_a", 2], "2"), 'pi_a[2] must be "1"'),
        ("z-zero-not-infinity", _set(good, ["pi_a", 2], "0"), 'pi_a[2] must be "1"'),
        ("g1-infinity-000", _set(good, ["pi_c"], ["0", "0", "0"]), 'pi_c[2] must be "1"'),
        ("g1-infinity-as-00", _set(good, ["pi_a"], ["0", "0", "1"]), "pi_a is not on the"),
        ("g2-z-imag", _set(good, ["pi_b", 2], ["1", "1"]), 'pi_b[2] must be ["1", "0"]'),
        ("g2-infinity-zeros", _set(good, ["pi_b"], [["0", "0"], ["0", "0"], ["0", "0"]]), "pi_b[2] must be"),
        ("g2-infinity-as-00", _set(good, ["pi_b"], [["0", "0"], ["0", "0"], ["1", "0"]]), "pi_b is not on"),
        ("g2-outside-subgroup", _set(good, ["pi_b"], off_g2), "pi_b is not in the prime-order subgroup"),
    ]
    if curve is BLS12_381:
        gx, gy = g1_point_outside_subgroup(curve)
        cases += [
            ("g1-order-3", _set(good, ["pi_a"], ["0", "2", "1"]), "pi_a is not in the prime-order subgroup"),
            ("g1-outside-subgroup", _set(good, ["pi_c"], [str(gx), str(gy), "1"]), "pi_c is not in the"),
        ]
    return cases


def _g2_json(xy):
    (x0, x1), (y0, y1) = xy
    return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]


def _ids(cases):
    return [case[0] for case in cases]


BN_PROOF_CASES = proof_cases("bn128")
BLS_PROOF_CASES = proof_cases("bls12381")


def _check(call, fragment: str, source: str) -> None:
    with pytest.raises(MalformedInputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{source}:"), message
    assert fragment in message, message


@pytest.mark.parametrize(("name", "data", "fragment"), BN_PROOF_CASES, ids=_ids(BN_PROOF_CASES))
def test_malformed_bn128_proof(name, data, fragment):
    _check(lambda: proof_from_json(data, backend_for("bn128")), fragment, "proof.json")


@pytest.mark.parametrize(("name", "data", "fragment"), BLS_PROOF_CASES, ids=_ids(BLS_PROOF_CASES))
def test_malformed_bls12381_proof(name, data, fragment):
    _check(lambda: proof_from_json(data, backend_for("bls12381")), fragment, "proof.json")


def test_subgroup_helpers_really_leave_the_subgroup():
    backend = backend_for("bls12381")
    point = backend._g1_from_affine_unchecked(g1_point_outside_subgroup(BLS12_381))
    assert not backend.g1_in_subgroup(point)
    assert BLS12_381.g1_b == 4  # (0, 2): 2^2 = 0^3 + 4, a point of order 3


def test_proof_curve_mismatch():
    data = load_json(mult_dir("bls12381") / "proof.json")
    _check(lambda: proof_from_json(data, backend_for("bn128")), "curve is bls12381 but bn128", "proof.json")
    _check(lambda: proof_from_json(data, curve="bn254"), "curve is bls12381 but bn128", "proof.json")


def test_bls_coordinates_in_a_bn_file_are_too_large():
    data = load_json(mult_dir("bls12381") / "proof.json")
    data["curve"] = "bn128"
    fragment = "pi_a[0] is not below the base field modulus"
    _check(lambda: proof_from_json(data, backend_for("bn128")), fragment, "proof.json")


# --- verification keys ----------------------------------------------------------------


def vk_cases(curve_name: str):
    good = load_json(mult_dir(curve_name) / "verification_key.json")
    curve = BN254 if curve_name == "bn128" else BLS12_381
    ic1 = good["IC"][1]
    off_g2 = _g2_json(g2_point_outside_subgroup(curve))
    cases = [
        ("top-level-array", [good], "top level must be an object"),
        ("protocol-plonk", _set(good, ["protocol"], "plonk"), "protocol must be 'groth16'"),
        ("missing-alpha", _set(good, ["vk_alpha_1"], _DELETE), "missing field 'vk_alpha_1'"),
        ("missing-delta", _set(good, ["vk_delta_2"], _DELETE), "missing field 'vk_delta_2'"),
        ("missing-IC", _set(good, ["IC"], _DELETE), "missing field 'IC'"),
        ("missing-nPublic", _set(good, ["nPublic"], _DELETE), "missing field 'nPublic'"),
        ("nPublic-string", _set(good, ["nPublic"], "2"), "nPublic must be a non-negative integer"),
        ("nPublic-negative", _set(good, ["nPublic"], -1), "nPublic must be a non-negative integer"),
        ("nPublic-bool", _set(good, ["nPublic"], True), "nPublic must be a non-negative integer"),
        ("nPublic-float", _set(good, ["nPublic"], 2.0), "nPublic must be a non-negative integer"),
        ("nPublic-mismatch", _set(good, ["nPublic"], 3), "IC has 3 points but nPublic = 3 needs 4"),
        ("IC-object", _set(good, ["IC"], {"0": good["IC"][0]}), "IC must be an array"),
        ("IC-empty", _set(_set(good, ["IC"], []), ["nPublic"], 0), "IC has 0 points"),
        ("IC-point-short", _set(good, ["IC", 1], ic1[:2]), "IC[1] must have 3 elements"),
        ("IC-off-curve", _set(good, ["IC", 2, 1], _bump(good["IC"][2][1], 1)), "IC[2] is not on the"),
        ("IC-plus-p", _set(good, ["IC", 0, 0], _bump(good["IC"][0][0], curve.p)), "IC[0][0] is not below"),
        ("alpha-hex", _set(good, ["vk_alpha_1", 0], hex(int(good["vk_alpha_1"][0]))), "vk_alpha_1[0] is not"),
        ("beta-off-curve", _set(good, ["vk_beta_2", 0, 0], "1"), "vk_beta_2 is not on the"),
        ("gamma-z", _set(good, ["vk_gamma_2", 2], ["1", "0", "0"]), "vk_gamma_2[2] must have 2 elements"),
        ("delta-subgroup", _set(good, ["vk_delta_2"], off_g2), "vk_delta_2 is not in the prime-order subgroup"),
    ]
    if curve is BLS12_381:
        order_3 = ["0", "2", "1"]
        cases.append(("alpha-order-3", _set(good, ["vk_alpha_1"], order_3), "vk_alpha_1 is not in the"))
    return cases


VK_CASES = [(c, *case) for c in ("bn128", "bls12381") for case in vk_cases(c)]


@pytest.mark.parametrize(
    ("curve_name", "name", "data", "fragment"), VK_CASES, ids=[f"{c[0]}-{c[1]}" for c in VK_CASES]
)
def test_malformed_vk(curve_name, name, data, fragment):
    _check(lambda: vk_from_json(data, backend_for(curve_name)), fragment, "verification_key.json")


def test_vk_alphabeta_12_is_not_read():
    """Without vk_alphabeta_12 the key reads the same, and writing it back recomputes the field."""
    original = load_json(mult_dir("bn128") / "verification_key.json")
    data = copy.deepcopy(original)
    del data["vk_alphabeta_12"]
    backend = backend_for("bn128")
    vk = vk_from_json(data, backend)
    assert vk == vk_from_json(original, backend)
    assert vk_to_json(vk, backend) == original


# --- public inputs ----------------------------------------------------------------------


def public_cases(curve: Curve):
    r = curve.r
    return [
        ("object", {"0": "33"}, "top level must be an array"),
        ("string", '"33"', "top level must be an array"),
        ("equals-r", ["33", str(r)], "[1] is not below the scalar field order r"),
        ("plus-r", [str(33 + r), "11"], "[0] is not below the scalar field order r"),
        ("p-not-r", [str(curve.p - 1)], "[0] is not below the scalar field order r"),
        ("huge", ["1" + "0" * 5000], "[0] is not below the scalar field order r"),
        ("negative", ["-1"], "[0] is negative"),
        ("minus-r", [str(33 - r)], "[0] is negative"),
        ("hex", ["0x21"], "[0] is not a decimal string"),
        ("hex-upper", ["0X21"], "[0] is not a decimal string"),
        ("leading-zero", ["033"], "[0] has leading zeros"),
        ("json-number", [33], "[0] must be a decimal string, not a JSON number"),
        ("bool", [False], "[0] must be a decimal string, not a boolean"),
        ("nested", [["33"], "11"], "[0] must be a decimal string, not an array"),
        ("empty", [""], "[0] is not a decimal string"),
        ("space", ["33 "], "[0] is not a decimal string"),
    ]


PUBLIC_CASES = [(c, *case) for c in (BN254, BLS12_381) for case in public_cases(c)]


@pytest.mark.parametrize(
    ("curve", "name", "data", "fragment"), PUBLIC_CASES, ids=[f"{c[0].name}-{c[1]}" for c in PUBLIC_CASES]
)
def test_malformed_public(curve, name, data, fragment):
    _check(lambda: public_from_json(data, curve), fragment, "public.json")


# --- files and JSON text -------------------------------------------------------------------


def test_missing_file(tmp_path):
    _check(lambda: load_json(tmp_path / "nope.json"), "file not found", str(tmp_path / "nope.json"))


def test_directory_instead_of_file(tmp_path):
    _check(lambda: load_json(tmp_path), "is a directory", str(tmp_path))


@pytest.mark.parametrize("cut", [1, 10, 0.5, -1])
def test_truncated_file(tmp_path, cut):
    text = (mult_dir("bn128") / "verification_key.json").read_text()
    n = int(len(text) * cut) if isinstance(cut, float) else cut % len(text)
    path = tmp_path / "verification_key.json"
    path.write_text(text[:n])
    _check(lambda: load_json(path), "truncated JSON at line", str(path))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b'{"pi_a": [1, 2,], }', "invalid JSON at line 1"),
        (b"{'pi_a': 1}", "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[NaN]", "NaN is not valid JSON"),
        (b"[Infinity]", "Infinity is not valid JSON"),
        (b'{"protocol": "groth16", "protocol": "plonk"}', "duplicate key 'protocol'"),
        (b"[" + b"1" * 5000 + b"]", "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'["33"] trailing', "invalid JSON"),
    ],
    ids=["empty", "blank", "trailing-comma", "single-quotes", "not-utf8", "nan", "infinity",
         "duplicate-key", "huge-int-literal", "deep-nesting", "trailing-garbage"],
)
def test_bad_json_text(tmp_path, raw, fragment):
    path = tmp_path / "x.json"
    path.write_bytes(raw)
    _check(lambda: load_json(path), fragment, str(path))
    _check(lambda: parse_json(raw, "x.json"), fragment, "x.json")


def test_wrong_top_level_type(tmp_path):
    path = tmp_path / "proof.json"
    path.write_text('["33"]')
    _check(lambda: load_json(path, dict), "top level must be an object, not an array", str(path))
    path.write_text("{}")
    _check(lambda: load_json(path, list), "top level must be an array, not an object", str(path))


def test_text_inputs_are_parsed_strictly():
    _check(lambda: proof_from_json('{"pi_a": ['), "truncated JSON", "proof.json")
    _check(lambda: public_from_json(b"[33]", "bn128"), "not a JSON number", "public.json")
    _check(lambda: vk_from_json("[]"), "top level must be an object", "verification_key.json")


def test_utf8_bom_is_tolerated():
    assert public_from_json("\ufeff" + json.dumps(["1"]), "bn128") == [1]


def test_nesting_limit_is_checked_before_parsing():
    """py_ecc raises the recursion limit, so the C json parser would crash, not raise, on depth."""
    assert parse_json("[" * 32 + "]" * 32) is not None
    _check(lambda: parse_json("[" * 33 + "]" * 33, "x.json"), "nested too deeply", "x.json")
    _check(lambda: parse_json('["' + "[" * 100 + '"', "x.json"), "x.json: ", "x.json")
    assert parse_json('["' + "[" * 100 + '"]') == ["[" * 100]
