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
