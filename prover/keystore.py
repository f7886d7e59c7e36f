"""Where keys live: a directory holding ``proving_key.bin`` and ``verification_key.json``."""

from __future__ import annotations

import os
from pathlib import Path

from circuits.base import Circuit
from zkmargin.backends import Backend, get_backend
from zkmargin.curves import Curve
from zkmargin.formats.provingkey import load_proving_key, save_proving_key
from zkmargin.formats.snarkjs import dump_json, vk_to_json
from zkmargin.errors import KeyFileError
from zkmargin.groth16 import ProvingKey, setup
from zkmargin.groth16.setup import Progress

PROVING_KEY_FILE = "proving_key.bin"
VERIFICATION_KEY_FILE = "verification_key.json"


def zkmargin_home() -> Path:
    return Path(os.environ.get("ZKMARGIN_HOME", Path.home() / ".zkmargin"))


def default_key_dir(circuit: Circuit, curve: Curve) -> Path:
    return zkmargin_home() / "keys" / f"{circuit.key_name()}-{curve.name}"


def write_keys(pk: ProvingKey, out: Path, backend: Backend) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_proving_key(pk, out / PROVING_KEY_FILE, backend)
    dump_json(vk_to_json(pk.vk, backend), out / VERIFICATION_KEY_FILE)


def run_setup(circuit: Circuit, curve: Curve, out: Path, backend: Backend | None = None,
              progress: Progress | None = None) -> ProvingKey:
    backend = backend or get_backend(curve)
    pk = setup(circuit.shape(curve), backend, progress=progress)
    write_keys(pk, out, backend)
    return pk


def load_keys(key_dir: Path, backend: Backend) -> ProvingKey:
    return load_proving_key(key_dir / PROVING_KEY_FILE, backend)


def cached_keys(circuit: Circuit, curve: Curve, backend: Backend, progress: Progress | None = None) -> ProvingKey:
    """Keys from the default directory, made on first use and remade when the circuit changed.

    Cached keys are a derived artifact: a key whose circuit fingerprint no longer matches (the
    circuit's code changed since) is replaced, as is a damaged file.
    """
    key_dir = default_key_dir(circuit, curve)
    shape = circuit.shape(curve)
    if (key_dir / PROVING_KEY_FILE).exists():
        try:
            pk = load_keys(key_dir, backend)
        except KeyFileError:
            pk = None
        if pk is not None and pk.circuit_id == shape.digest():
            return pk
    pk = setup(shape, backend, progress=progress)
    write_keys(pk, key_dir, backend)
    return pk
