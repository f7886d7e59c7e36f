"""Where keys live, how their folders are named, and which circuit a key was made for.

A key folder is ``<keys dir>/<circuit key name>-<curve>/`` (for example ``margin-markets2-bls12381``)
holding ``proving_key.bin`` (whose header names the circuit id) and ``verification_key.json``
(snarkjs's format). The default keys dir is ``$ZKMARGIN_HOME/keys``: ``zkmargin setup`` writes
there, the service reads and (in development) makes its keys there, and the benchmarks cache
theirs there. A circuit id is the digest of the constraint system a circuit builds on a curve:
two programs agree on a statement exactly when they agree on its circuit id.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from circuits import get_circuit
from circuits.base import Circuit
from circuits.protocol.home import zkmargin_home
from zkmargin.backends import Backend, get_backend
from zkmargin.curves import Curve
from zkmargin.errors import KeyFileError
from zkmargin.formats.provingkey import load_proving_key, save_proving_key
from zkmargin.formats.snarkjs import dump_json, vk_to_json
from zkmargin.groth16 import ProvingKey, setup
from zkmargin.groth16.setup import Progress

PROVING_KEY_FILE = "proving_key.bin"
VERIFICATION_KEY_FILE = "verification_key.json"
KEYS_FOLDER = "keys"


def keys_dir_in(directory: Path) -> Path:
    """``<directory>/keys``: where a home (or the trader's folder) keeps one key folder per circuit and curve."""
    return directory / KEYS_FOLDER


def default_keys_dir() -> Path:
    """``$ZKMARGIN_HOME/keys``: the folder holding one key folder per circuit and curve."""
    return keys_dir_in(zkmargin_home())


def key_folder_name(circuit: Circuit, curve: Curve | str) -> str:
    """``<circuit key name>-<curve name>``: size parameters and curve each get their own keys."""
    curve_name = curve if isinstance(curve, str) else curve.name
    return f"{circuit.key_name()}-{curve_name}"


def key_dir(keys_dir: Path, circuit: Circuit, curve: Curve | str) -> Path:
    """The key folder of ``circuit`` on ``curve`` inside ``keys_dir``."""
    return keys_dir / key_folder_name(circuit, curve)


def default_key_dir(circuit: Circuit, curve: Curve | str) -> Path:
    """The key folder of ``circuit`` on ``curve`` inside the default keys dir."""
    return key_dir(default_keys_dir(), circuit, curve)


# In portfolio mode a statement is its portfolio variant (docs/protocol.md §10.6): the margin
# attestation covers every scenario, withdrawals and fills the same rule at the initial factor.
PORTFOLIO_VARIANTS = {"margin": "portfolio", "transfer": "portfolio-transfer", "fill": "portfolio-fill"}


def statement_circuit(statement: str, markets: int, escrow: bool = False, portfolio: bool = False) -> Circuit:
    """A margin statement at ``markets`` markets; with ``escrow``, a transition's escrow variant
    (``margin`` moves no state and has none); with ``portfolio``, its portfolio variant (S = 16)
    where it has one (``settle`` has none: it settles at prices, not scenarios)."""
    name = PORTFOLIO_VARIANTS.get(statement, statement) if portfolio else statement
    return get_circuit(name, markets=markets, escrow=escrow if statement != "margin" else None)


def statement_key_dir(keys_dir: Path, statement: str, markets: int, curve: Curve | str, escrow: bool = False,
                      portfolio: bool = False) -> Path:
    """The key folder of a margin statement at ``markets`` markets (its escrow variant: ``-escrow``;
    its portfolio variant: ``portfolio-…``)."""
    return key_dir(keys_dir, statement_circuit(statement, markets, escrow, portfolio), curve)


@lru_cache(maxsize=32)
def circuit_id(statement: str, markets: int, curve_name: str, escrow: bool = False, portfolio: bool = False) -> str:
    """The digest of the statement's constraint system at ``markets`` markets (cached per process)."""
    return statement_circuit(statement, markets, escrow, portfolio).shape(curve_name).digest()


def write_keys(pk: ProvingKey, out: Path, backend: Backend) -> None:
    """Both files of a key folder: the proving key and its verification key."""
    out.mkdir(parents=True, exist_ok=True)
    save_proving_key(pk, out / PROVING_KEY_FILE, backend)
    dump_json(vk_to_json(pk.vk, backend), out / VERIFICATION_KEY_FILE)


def run_setup(circuit: Circuit, curve: Curve, out: Path, backend: Backend | None = None,
              progress: Progress | None = None) -> ProvingKey:
    """A single-party (development) setup of ``circuit``, written to the key folder ``out``."""
    backend = backend or get_backend(curve)
    pk = setup(circuit.shape(curve), backend, progress=progress)
    write_keys(pk, out, backend)
    return pk


def load_keys(key_folder: Path, backend: Backend) -> ProvingKey:
    """The proving key of a key folder (its header names the circuit id it was made for)."""
    return load_proving_key(key_folder / PROVING_KEY_FILE, backend)


def cached_keys(circuit: Circuit, curve: Curve, backend: Backend, progress: Progress | None = None) -> ProvingKey:
    """Keys from the default directory, made on first use and remade when the circuit changed.

    Cached keys are a derived artifact: a key whose circuit fingerprint no longer matches (the
    circuit's code changed since) is replaced, as is a damaged file.
    """
    folder = default_key_dir(circuit, curve)
    shape = circuit.shape(curve)
    if (folder / PROVING_KEY_FILE).exists():
        try:
            pk: ProvingKey | None = load_keys(folder, backend)
        except KeyFileError:
            pk = None
        if pk is not None and pk.circuit_id == shape.digest():
            return pk
    pk = setup(shape, backend, progress=progress)
    write_keys(pk, folder, backend)
    return pk
