import pytest

from circuits import get_circuit
from zkmargin.backends import get_backend
from zkmargin.errors import KeyFileError
from zkmargin.formats.provingkey import (
    load_proving_key,
    proving_key_from_bytes,
    proving_key_to_bytes,
    save_proving_key,
)
from zkmargin.groth16 import prove, setup, verify


@pytest.fixture(scope="module", params=["bls12381", "bn128"])
def key(request):
    backend = get_backend(request.param)
    circuit = get_circuit("chain", log2=4)
    return circuit, setup(circuit.shape(request.param), backend, insecure_test_seed=5), backend


def test_round_trip_proves_and_verifies(tmp_path, key):
    circuit, pk, backend = key
    path = tmp_path / "keys" / "proving_key.bin"
    save_proving_key(pk, path, backend)
    loaded = load_proving_key(path, backend)
    assert loaded.circuit_id == pk.circuit_id and loaded.domain_size == pk.domain_size
    assert [backend.g1_to_affine(p) for p in loaded.h_query_g1] == [backend.g1_to_affine(p) for p in pk.h_query_g1]
    cs = circuit.synthesize(pk.curve, {"x": 2})
    assert verify(pk.vk, cs.public_values(), prove(loaded, cs, backend), backend)


def test_file_moves_between_backends(key):
    _, pk, backend = key
    reference = get_backend(pk.curve, "py_ecc")
    loaded = proving_key_from_bytes(proving_key_to_bytes(pk, backend), reference)
    assert [reference.g2_to_affine(p) for p in loaded.b_query_g2] == [backend.g2_to_affine(p) for p in pk.b_query_g2]


def test_damaged_or_truncated_file_is_refused(tmp_path, key):
    _, pk, backend = key
    data = proving_key_to_bytes(pk, backend)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    with pytest.raises(KeyFileError, match="integrity"):
        proving_key_from_bytes(bytes(flipped), backend)
    with pytest.raises(KeyFileError):
        proving_key_from_bytes(data[:-100], backend)
    with pytest.raises(KeyFileError, match="not a zkmargin proving key"):
        proving_key_from_bytes(b"garbage", backend)
    with pytest.raises(KeyFileError, match="run `zkmargin setup`"):
        load_proving_key(tmp_path / "missing.bin", backend)


def _with_trailer(body: bytes) -> bytes:
    import hashlib

    return body + hashlib.sha256(body).digest()


def _replace_point(data: bytes, old: bytes, new: bytes) -> bytes:
    body = data[:-32]
    assert body.count(old) == 1
    return _with_trailer(body.replace(old, new))


def _off_subgroup_g1(curve) -> tuple[int, int]:
    """A point on BLS12-381's G1 curve outside the prime-order subgroup (p = 3 mod 4: sqrt by a power)."""
    p = curve.p
    for x in range(1, 100):
        rhs = (x**3 + 4) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs:
            return x, y
    raise AssertionError("no point found")


def test_a_checked_load_refuses_points_off_the_curve_or_the_subgroup(key):
    _, pk, backend = key
    data = proving_key_to_bytes(pk, backend)
    n = pk.curve.base_bytes
    target = backend.g1_to_bytes(pk.h_query_g1[0])
    x, y = backend.g1_to_affine(pk.h_query_g1[0])
    off_curve = _replace_point(data, target, x.to_bytes(n, "little") + ((y + 1) % pk.curve.p).to_bytes(n, "little"))
    with pytest.raises(KeyFileError, match=r"h_query_g1\[0\] is not on the"):
        proving_key_from_bytes(off_curve, backend, checked=True)
    assert proving_key_from_bytes(data, backend, checked=True).circuit_id == pk.circuit_id
    if pk.curve.name == "bls12381":
        sx, sy = _off_subgroup_g1(pk.curve)
        foreign = _replace_point(data, target, sx.to_bytes(n, "little") + sy.to_bytes(n, "little"))
        with pytest.raises(KeyFileError, match="not in the prime-order subgroup"):
            proving_key_from_bytes(foreign, backend, checked=True)
