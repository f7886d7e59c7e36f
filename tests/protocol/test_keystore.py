"""Cached keys follow the circuit: a stale or damaged cache entry is remade, not trusted or fatal."""

from circuits import get_circuit
from circuits.protocol.keystore import (
    PROVING_KEY_FILE,
    cached_keys,
    default_key_dir,
    write_keys,
)
from zkmargin.backends import get_backend
from zkmargin.curves import BLS12_381
from zkmargin.groth16 import setup


def test_stale_cached_key_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("ZKMARGIN_HOME", str(tmp_path))
    backend = get_backend(BLS12_381)
    chain = get_circuit("chain", log2=4)
    # a key for another circuit sitting in chain's cache folder (as after a circuit change)
    stale = setup(get_circuit("mult").shape(BLS12_381), backend, insecure_test_seed=1)
    write_keys(stale, default_key_dir(chain, BLS12_381), backend)
    pk = cached_keys(chain, BLS12_381, backend)
    assert pk.circuit_id == chain.shape(BLS12_381).digest() != stale.circuit_id
    assert cached_keys(chain, BLS12_381, backend).circuit_id == pk.circuit_id  # now a cache hit


def test_damaged_cached_key_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("ZKMARGIN_HOME", str(tmp_path))
    backend = get_backend(BLS12_381)
    chain = get_circuit("chain", log2=3)
    path = default_key_dir(chain, BLS12_381) / PROVING_KEY_FILE
    cached_keys(chain, BLS12_381, backend)
    path.write_bytes(path.read_bytes()[:-10])
    assert cached_keys(chain, BLS12_381, backend).circuit_id == chain.shape(BLS12_381).digest()
