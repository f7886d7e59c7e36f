"""Groth16 files in snarkjs's JSON formats: ``proof.json``, ``verification_key.json``, ``public.json``.

Layout (snarkjs 0.7.x, everything a decimal string)::

    proof.json    {"pi_a": [x, y, "1"], "pi_b": [[x0, x1], [y0, y1], ["1", "0"]],
                   "pi_c": [x, y, "1"], "protocol": "groth16", "curve": "bn128"}
    verification_key.json
                  {"protocol", "curve", "nPublic" (a JSON number), "vk_alpha_1", "vk_beta_2",
                   "vk_gamma_2", "vk_delta_2", "vk_alphabeta_12", "IC" (nPublic + 1 G1 points)}
    public.json   ["33", "11"]   (circuit outputs first, then public inputs)

A G2 coordinate ``[c0, c1]`` means ``c0 + c1*u``. The point at infinity is written the way
ffjavascript writes it: ``["0", "1", "0"]`` in G1 and ``[["0", "0"], ["1", "0"], ["0", "0"]]`` in G2.

Reading is strict where snarkjs is lenient, so that a file we accept means one thing only:

- numbers must be canonical decimal strings (ASCII digits, no sign, no leading zeros); snarkjs
  also takes ``"0x.."`` strings and JSON numbers, which JavaScript rounds above 2^53;
- public values must be below the scalar field order r (rejected, never reduced), coordinates
  below the base field modulus p;
- points must be affine (third coordinate ``"1"``) or the exact infinity encoding above, on the
  curve and in the prime-order subgroup (snarkjs does not check the subgroup);
- JSON with duplicate keys, ``NaN``/``Infinity`` or non-UTF-8 bytes is refused.

Every malformed input raises :class:`~zkmargin.errors.MalformedInputError` with a one-line
message naming the file and the field, e.g. ``proof.json: pi_b[1][0] is not below the base field
modulus p``. Whether a Groth16 proof may contain the point at infinity is the verifier's
business: these functions only make it representable.

Writing reproduces snarkjs's bytes exactly (``JSON.stringify(obj, null, 1)``, no final newline),
including ``vk_alphabeta_12``, the pairing e(alpha, beta) in ffjavascript's representation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from zkmargin.backends.base import Backend, G1Affine, G2Affine
from zkmargin.curves import BLS12_381, BN254, Curve, get_curve
from zkmargin.formats.files import write_atomically
from zkmargin.errors import MalformedInputError, UnknownCurveError
from zkmargin.field import require_field_elements
from zkmargin.groth16.keys import Proof, VerifyingKey

__all__ = [
    "PROTOCOL",
    "proof_to_json",
    "proof_from_json",
    "vk_to_json",
    "vk_from_json",
    "public_to_json",
    "public_from_json",
    "vk_alphabeta_12",
    "load_json",
    "parse_json",
    "dumps_json",
    "dump_json",
    "read_proof",
    "read_vk",
    "read_public",
    "read_groth16_files",
    "write_proof",
    "write_vk",
    "write_public",
]

PROTOCOL = "groth16"

JsonInput = Mapping[str, Any] | Sequence[Any] | str | bytes | bytearray

_G1_INFINITY = ["0", "1", "0"]
_G2_INFINITY = [["0", "0"], ["1", "0"], ["0", "0"]]
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")
# snarkjs files nest 4 levels deep. The limit matters: py_ecc raises Python's recursion limit to
# 100000 on import, and the json module's C parser then overflows the C stack (a segfault, not a
# RecursionError) on a few ten thousand nested brackets.
MAX_JSON_DEPTH = 32
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


# --------------------------------------------------------------------------------------
# JSON text
# --------------------------------------------------------------------------------------


def reject_duplicate_keys(error: Callable[[str], Exception]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json.loads`` object hook refusing a key given twice (two readers could see two
    different documents); ``error(key)`` is the exception to raise."""
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise error(key)
            obj[key] = value
        return obj

    return hook


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes | bytearray, source: str = "JSON input") -> Any:
    """Parse JSON text strictly; every failure is a one-line MalformedInputError naming ``source``."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInputError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise MalformedInputError(f"{source}: empty file, expected JSON")
    _check_depth(text, source)
    try:
        return json.loads(
            text, object_pairs_hook=reject_duplicate_keys(
                lambda key: MalformedInputError(f"{source}: duplicate key {key!r}")), parse_constant=_reject_constant
        )
    except MalformedInputError:
        raise
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated JSON" if ends_early else "invalid JSON"
        raise MalformedInputError(
            f"{source}: {what} at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise MalformedInputError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # huge integer literals, NaN/Infinity
        raise MalformedInputError(f"{source}: invalid JSON: {_first_line(str(exc))}") from None


def _check_depth(text: str, source: str) -> None:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        t = token.group()
        if t in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise MalformedInputError(
                    f"{source}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)"
                )
        elif t in "]}":
            depth -= 1


def load_json(path: str | os.PathLike[str], expected: type | None = None) -> Any:
    """Read and parse a JSON file; ``expected`` (``dict`` or ``list``) checks the top-level type."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise MalformedInputError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise MalformedInputError(f"{source}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise MalformedInputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    data = parse_json(raw, source)
    if expected is not None:
        _expect_type(data, expected, source, "top level")
    return data


def dumps_json(obj: Any) -> str:
    """The text snarkjs writes: ``JSON.stringify(obj, null, 1)`` (one-space indent, no final newline)."""
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False)


def dump_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as snarkjs-style JSON, atomically (see :func:`write_atomically`)."""
    write_atomically(path, dumps_json(obj).encode("utf-8"))


# --------------------------------------------------------------------------------------
# field elements and points
# --------------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expect_type(value: Any, expected: type, source: str, field: str) -> None:
    if not isinstance(value, expected):
        names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
        wanted = names.get(expected, expected.__name__)
        raise MalformedInputError(f"{source}: {field} must be {wanted}, not {_type_name(value)}")


def _decimal(value: Any, modulus: int, modulus_name: str, source: str, field: str) -> int:
    """A canonical decimal string below ``modulus``, as an int."""
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise MalformedInputError(
                f"{source}: {field} must be a decimal string, not a JSON number ({_show(value)})"
            )
        raise MalformedInputError(f"{source}: {field} must be a decimal string, not {_type_name(value)}")
    if not _DECIMAL.match(value):
        if value.startswith("-") and _DECIMAL.match(value[1:]):
            raise MalformedInputError(f"{source}: {field} is negative ({_show(value)})")
        if value[:1] == "0" and value.isascii() and value.isdigit():
            raise MalformedInputError(f"{source}: {field} has leading zeros ({_show(value)})")
        raise MalformedInputError(f"{source}: {field} is not a decimal string ({_show(value)})")
    # a quick length test first: int() of a huge digit string is slow and may raise
    if len(value) > len(str(modulus)) or int(value) >= modulus:
        raise MalformedInputError(f"{source}: {field} is not below the {modulus_name}")
    return int(value)


def _fp(value: Any, curve: Curve, source: str, field: str) -> int:
    return _decimal(value, curve.p, "base field modulus p", source, field)


def _fp2(value: Any, curve: Curve, source: str, field: str) -> tuple[int, int]:
    _expect_length(value, 2, source, field, "[c0, c1]")
    return _fp(value[0], curve, source, f"{field}[0]"), _fp(value[1], curve, source, f"{field}[1]")


def _expect_length(value: Any, n: int, source: str, field: str, shape: str) -> None:
    _expect_type(value, list, source, field)
    if len(value) != n:
        raise MalformedInputError(
            f"{source}: {field} must have {n} elements {shape}, not {len(value)}"
        )


def _g1_from(value: Any, backend: Backend, source: str, field: str) -> Any:
    curve = backend.curve
    _expect_length(value, 3, source, field, "[x, y, z]")
    x = _fp(value[0], curve, source, f"{field}[0]")
    y = _fp(value[1], curve, source, f"{field}[1]")
    z = _fp(value[2], curve, source, f"{field}[2]")
    if z == 0 and (x, y) == (0, 1):
        return backend.g1_identity()
    if z != 1:
        raise MalformedInputError(
            f'{source}: {field}[2] must be "1" (affine point) or the point at infinity must be '
            f'written ["0", "1", "0"]'
        )
    return backend.g1_from_affine((x, y), what=f"{source}: {field}")


def _g2_from(value: Any, backend: Backend, source: str, field: str) -> Any:
    curve = backend.curve
    _expect_length(value, 3, source, field, "[x, y, z]")
    x = _fp2(value[0], curve, source, f"{field}[0]")
    y = _fp2(value[1], curve, source, f"{field}[1]")
    z = _fp2(value[2], curve, source, f"{field}[2]")
    if z == (0, 0) and (x, y) == ((0, 0), (1, 0)):
        return backend.g2_identity()
    if z != (1, 0):
        raise MalformedInputError(
            f'{source}: {field}[2] must be ["1", "0"] (affine point) or the point at infinity must '
            f'be written [["0", "0"], ["1", "0"], ["0", "0"]]'
        )
    return backend.g2_from_affine((x, y), what=f"{source}: {field}")


def _g1_to(point: Any, backend: Backend) -> list[str]:
    xy = backend.g1_to_affine(point)
    if xy is None:
        return list(_G1_INFINITY)
    return [str(xy[0]), str(xy[1]), "1"]


def _g2_to(point: Any, backend: Backend) -> list[list[str]]:
    xy = backend.g2_to_affine(point)
    if xy is None:
        return [list(c) for c in _G2_INFINITY]
    (x0, x1), (y0, y1) = xy
    return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]


# --------------------------------------------------------------------------------------
# curve, backend and top-level fields
# --------------------------------------------------------------------------------------


def _as_object(data: JsonInput, source: str) -> Mapping[str, Any]:
    if isinstance(data, str | bytes | bytearray):
        data = parse_json(data, source)
    if not isinstance(data, Mapping):
        raise MalformedInputError(f"{source}: top level must be an object, not {_type_name(data)}")
    return data


def _field(obj: Mapping[str, Any], key: str, source: str) -> Any:
    if key not in obj:
        raise MalformedInputError(f"{source}: missing field {key!r}")
    return obj[key]


def _check_protocol(obj: Mapping[str, Any], source: str) -> None:
    protocol = _field(obj, "protocol", source)
    if protocol != PROTOCOL:
        raise MalformedInputError(f"{source}: protocol must be {PROTOCOL!r}, not {_show(protocol)}")


def _resolve(
    obj: Mapping[str, Any], backend: Backend | None, curve: str | Curve | None, source: str
) -> Backend:
    """The backend for the file's curve, checking the file against what the caller expects."""
    expected: Curve | None = get_curve(curve) if curve is not None else None
    if backend is not None:
        if expected is not None and backend.curve is not expected:
            raise ValueError(f"backend {backend!r} does not match curve {expected.name}")
        expected = backend.curve
    if "curve" in obj:
        name = obj["curve"]
        if not isinstance(name, str):
            raise MalformedInputError(f"{source}: curve must be a string, not {_type_name(name)}")
        try:
            found = get_curve(name)
        except UnknownCurveError:
            raise MalformedInputError(
                f"{source}: unknown curve {_show(name)} (expected bn128 or bls12381)"
            ) from None
        if expected is not None and found is not expected:
            raise MalformedInputError(
                f"{source}: curve is {found.name} but {expected.name} was expected"
            )
        expected = found
    if expected is None:
        raise MalformedInputError(f"{source}: no 'curve' field; say which curve the file is for")
    if backend is None:
        from zkmargin.backends import get_backend

        backend = get_backend(expected)
    return backend


def _backend_for(curve: Curve, backend: Backend | None) -> Backend:
    if backend is None:
        from zkmargin.backends import get_backend

        return get_backend(curve)
    if backend.curve is not curve:
        raise ValueError(f"backend {backend!r} does not match curve {curve.name}")
    return backend


# --------------------------------------------------------------------------------------
# proof.json
# --------------------------------------------------------------------------------------


def proof_to_json(proof: Proof, backend: Backend | None = None) -> dict[str, Any]:
    """``proof.json`` content for ``proof``, keys in snarkjs's order."""
    backend = _backend_for(proof.curve, backend)
    return {
        "pi_a": _g1_to(proof.a_g1, backend),
        "pi_b": _g2_to(proof.b_g2, backend),
        "pi_c": _g1_to(proof.c_g1, backend),
        "protocol": PROTOCOL,
        "curve": proof.curve.name,
    }


def proof_from_json(
    data: JsonInput,
    backend: Backend | None = None,
    curve: str | Curve | None = None,
    *,
    source: str = "proof.json",
) -> Proof:
    """Parse and validate a ``proof.json`` (object or JSON text).

    The curve comes from the file's ``curve`` field; ``backend``/``curve``, when given, say which
    curve is expected (a different one is an error) and are required if the file has no ``curve``
    field (rapidsnark writes none).
    """
    obj = _as_object(data, source)
    _check_protocol(obj, source)
    backend = _resolve(obj, backend, curve, source)
    return Proof(
        curve=backend.curve,
        a_g1=_g1_from(_field(obj, "pi_a", source), backend, source, "pi_a"),
        b_g2=_g2_from(_field(obj, "pi_b", source), backend, source, "pi_b"),
        c_g1=_g1_from(_field(obj, "pi_c", source), backend, source, "pi_c"),
    )


# --------------------------------------------------------------------------------------
# verification_key.json
# --------------------------------------------------------------------------------------

# ffjavascript's pairing (snarkjs) is py_ecc's raised to a fixed exponent, found and checked
# against the snarkjs 0.7.6 vector files:
# - BN254: lambda = 2z(6z^2 + 3z + 1), z = 4965661367192848881. py_ecc exponentiates by the plain
#   (p^12 - 1)/r; wasmcurves uses the hard part of Fuentes-Castaneda, Knapp and
#   Rodriguez-Henriquez, which computes lambda * (p^4 - p^2 + 1)/r.
# - BLS12-381: -3. wasmcurves ports zkcrypto's final exponentiation, whose hard part computes
#   3 * (p^4 - p^2 + 1)/r, and conjugates the Miller loop for the negative curve parameter x,
#   which py_ecc (looping on |x|) does not: hence the inverse (= conjugate in G_T).
_BN_Z = 4965661367192848881
_GT_EXPONENT = {
    BN254.name: 2 * _BN_Z * (6 * _BN_Z * _BN_Z + 3 * _BN_Z + 1),
    BLS12_381.name: -3,
}
# py_ecc's FQ12 is F_p[w] / (w^12 - 2*xi0*w^6 + xi0^2 + 1), so w^6 = xi = xi0 + u, i.e. u = w^6 - xi0.
_XI0 = {BN254.name: 9, BLS12_381.name: 1}


@lru_cache(maxsize=64)
def _alphabeta_cached(
    curve_name: str, alpha: G1Affine | None, beta: G2Affine | None
) -> tuple[tuple[tuple[str, str], ...], ...]:
    from py_ecc import optimized_bls12_381, optimized_bn128

    curve = get_curve(curve_name)
    ec = optimized_bn128 if curve is BN254 else optimized_bls12_381
    p, r = curve.p, curve.r
    if alpha is None or beta is None:
        value = ec.FQ12.one()
    else:
        a = (ec.FQ(alpha[0]), ec.FQ(alpha[1]), ec.FQ.one())
        b = (ec.FQ2(list(beta[0])), ec.FQ2(list(beta[1])), ec.FQ2.one())
        value = ec.pairing(b, a) ** (_GT_EXPONENT[curve_name] % r)
    f = [int(c) % p for c in value.coeffs]
    xi0 = _XI0[curve_name]
    # ffjavascript: F_p12 = F_p6[W]/(W^2 - v), F_p6 = F_p2[v]/(v^3 - xi), xi = xi0 + u; taking
    # W = w and v = w^2, the coefficient c_ij = a + b*u of v^j W^i sits at w^k, k = 2j + i, and
    # a + b*u = (a - xi0*b) + b*w^6, so py_ecc holds (a - xi0*b) at w^k and b at w^(k+6).
    return tuple(
        tuple((str((f[2 * j + i] + xi0 * f[2 * j + i + 6]) % p), str(f[2 * j + i + 6])) for j in range(3))
        for i in range(2)
    )


def vk_alphabeta_12(
    curve: str | Curve, alpha: G1Affine | None, beta: G2Affine | None
) -> list[list[list[str]]]:
    """e(alpha, beta) as snarkjs writes it: ``[[[c0, c1] x 3] x 2]`` decimal strings.

    Purely informational (verifiers pair alpha and beta themselves); computed with py_ecc and
    cached, so writing the same key again is free.
    """
    a = None if alpha is None else (int(alpha[0]), int(alpha[1]))
    b = None if beta is None else ((int(beta[0][0]), int(beta[0][1])), (int(beta[1][0]), int(beta[1][1])))
    nested = _alphabeta_cached(get_curve(curve).name, a, b)
    return [[list(c) for c in half] for half in nested]


def vk_to_json(vk: VerifyingKey, backend: Backend | None = None) -> dict[str, Any]:
    """``verification_key.json`` content for ``vk``, keys in snarkjs's order."""
    backend = _backend_for(vk.curve, backend)
    return {
        "protocol": PROTOCOL,
        "curve": vk.curve.name,
        "nPublic": vk.num_public,
        "vk_alpha_1": _g1_to(vk.alpha_g1, backend),
        "vk_beta_2": _g2_to(vk.beta_g2, backend),
        "vk_gamma_2": _g2_to(vk.gamma_g2, backend),
        "vk_delta_2": _g2_to(vk.delta_g2, backend),
        "vk_alphabeta_12": vk_alphabeta_12(
            vk.curve, backend.g1_to_affine(vk.alpha_g1), backend.g2_to_affine(vk.beta_g2)
        ),
        "IC": [_g1_to(point, backend) for point in vk.gamma_abc_g1],
    }


def vk_from_json(
    data: JsonInput,
    backend: Backend | None = None,
    curve: str | Curve | None = None,
    *,
    source: str = "verification_key.json",
) -> VerifyingKey:
    """Parse and validate a ``verification_key.json``; ``vk_alphabeta_12`` is not read."""
    obj = _as_object(data, source)
    _check_protocol(obj, source)
    backend = _resolve(obj, backend, curve, source)
    n_public = _field(obj, "nPublic", source)
    if not isinstance(n_public, int) or isinstance(n_public, bool) or n_public < 0:
        raise MalformedInputError(
            f"{source}: nPublic must be a non-negative integer, not {_show(n_public)}"
        )
    ic = _field(obj, "IC", source)
    _expect_type(ic, list, source, "IC")
    if len(ic) != n_public + 1:
        raise MalformedInputError(
            f"{source}: IC has {len(ic)} points but nPublic = {n_public} needs {n_public + 1}"
        )
    return VerifyingKey(
        curve=backend.curve,
        alpha_g1=_g1_from(_field(obj, "vk_alpha_1", source), backend, source, "vk_alpha_1"),
        beta_g2=_g2_from(_field(obj, "vk_beta_2", source), backend, source, "vk_beta_2"),
        gamma_g2=_g2_from(_field(obj, "vk_gamma_2", source), backend, source, "vk_gamma_2"),
        delta_g2=_g2_from(_field(obj, "vk_delta_2", source), backend, source, "vk_delta_2"),
        gamma_abc_g1=[_g1_from(point, backend, source, f"IC[{i}]") for i, point in enumerate(ic)],
    )


# --------------------------------------------------------------------------------------
# public.json
# --------------------------------------------------------------------------------------


def public_to_json(values: Sequence[int], curve: str | Curve | None = None) -> list[str]:
    """``public.json`` content: decimal strings. With ``curve``, values must also be below r."""
    r = get_curve(curve).r if curve is not None else None
    return [str(x) for x in require_field_elements(values, r, "public value ")]


def public_from_json(
    data: JsonInput, curve: str | Curve, *, source: str = "public.json"
) -> list[int]:
    """Parse ``public.json``: canonical decimal strings below r, never reduced.

    JSON numbers are refused: snarkjs never writes them and JavaScript rounds them above 2^53, so
    snarkjs would read another statement than we do.
    """
    r = get_curve(curve).r
    if isinstance(data, str | bytes | bytearray):
        data = parse_json(data, source)
    if not isinstance(data, list):
        raise MalformedInputError(f"{source}: top level must be an array, not {_type_name(data)}")
    return [
        _decimal(value, r, "scalar field order r", source, f"[{i}]") for i, value in enumerate(data)
    ]


# --------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------


def read_proof(
    path: str | os.PathLike[str], backend: Backend | None = None, curve: str | Curve | None = None
) -> Proof:
    return proof_from_json(load_json(path), backend, curve, source=str(path))


def read_vk(
    path: str | os.PathLike[str], backend: Backend | None = None, curve: str | Curve | None = None
) -> VerifyingKey:
    return vk_from_json(load_json(path), backend, curve, source=str(path))


def read_public(path: str | os.PathLike[str], curve: str | Curve) -> list[int]:
    return public_from_json(load_json(path), curve, source=str(path))


def read_groth16_files(
    vk_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    proof_path: str | os.PathLike[str],
    backend: Backend | None = None,
) -> tuple[VerifyingKey, list[int], Proof]:
    """The triple ``snarkjs groth16 verify`` takes, checked for one curve and matching sizes."""
    vk = read_vk(vk_path, backend)
    backend = _backend_for(vk.curve, backend)
    public = read_public(public_path, vk.curve)
    if len(public) != vk.num_public:
        raise MalformedInputError(
            f"{public_path}: {len(public)} public values but {vk_path} has nPublic = {vk.num_public}"
        )
    proof = read_proof(proof_path, backend)
    return vk, public, proof


def write_proof(proof: Proof, path: str | os.PathLike[str], backend: Backend | None = None) -> None:
    dump_json(proof_to_json(proof, backend), path)


def write_vk(vk: VerifyingKey, path: str | os.PathLike[str], backend: Backend | None = None) -> None:
    dump_json(vk_to_json(vk, backend), path)


def write_public(
    values: Sequence[int], path: str | os.PathLike[str], curve: str | Curve | None = None
) -> None:
    dump_json(public_to_json(values, curve), path)
