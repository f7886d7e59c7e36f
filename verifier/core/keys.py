"""Verification keys per statement, from the key store, checked against the circuits.

A key directory is ``<keys dir>/<circuit key name>-<curve>/`` holding ``proving_key.bin`` (whose
header names the circuit id: the digest of the constraint system it was made for) and
``verification_key.json`` — the layout of ``circuits.protocol.keystore``, which ``zkmargin setup`` writes. The
service refuses to start when a key was made for another circuit than the one the configuration
builds (another market count, curve or circuit version): every proof would fail, or worse, mean
something else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from circuits.common import MarketCircuit
from circuits.protocol.keystore import (
    PROVING_KEY_FILE,
    circuit_id,
    load_keys,
    run_setup,
    statement_circuit,
    statement_key_dir,
)
from zkmargin.backends import get_backend
from zkmargin.curves import Curve, get_curve
from zkmargin.errors import KeyFileError
from zkmargin.groth16 import VerifyingKey

STATEMENTS = ("margin", "transfer", "fill", "settle")
log = logging.getLogger("zkmargin.verifier")


@dataclass(frozen=True)
class StatementKey:
    """One statement's circuit (at the configured market count) and its verification key."""

    statement: str
    circuit: MarketCircuit
    curve: Curve
    circuit_id: str
    vk: VerifyingKey
    key_dir: Path
    insecure: bool  # made with a reproducible test seed: anyone can forge proofs


def _move_aside(directory: Path, old_circuit_id: str) -> Path:
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        aside = directory.with_name(f"{directory.name}.outdated-{old_circuit_id[:12]}{suffix}")
        if not aside.exists():
            directory.rename(aside)
            return aside
    raise KeyFileError(f"cannot move the outdated keys in {directory} aside: too many outdated copies")


def load_statement_keys(keys_dir: Path, markets: int, curve_name: str, *, generate: bool,
                        escrow: bool = False, portfolio: bool = False) -> dict[str, StatementKey]:
    """Every statement's key, generated first if missing and ``generate`` is set. With ``escrow``
    (a guardian set is configured) the transitions are their escrow variants, with their own keys;
    with ``portfolio`` each statement is its portfolio variant where it has one (``portfolio``,
    ``portfolio-transfer``, ``portfolio-fill``; ``circuits.protocol.keystore.PORTFOLIO_VARIANTS``), with its own key.

    Raises KeyFileError (the service does not start) for a missing key without ``generate``, a
    damaged file, or a key whose circuit id differs from the configured circuit's. With
    ``generate`` (development), a key made for another circuit version is replaced instead.
    """
    curve = get_curve(curve_name)
    backend = get_backend(curve)
    keys = {}
    for statement in STATEMENTS:
        circuit = statement_circuit(statement, markets, escrow, portfolio)
        assert isinstance(circuit, MarketCircuit)
        directory = statement_key_dir(keys_dir, statement, markets, curve, escrow, portfolio)
        expected = circuit_id(statement, markets, curve.name, escrow, portfolio)
        pk = None
        if (directory / PROVING_KEY_FILE).exists():
            pk = load_keys(directory, backend)
            if pk.circuit_id != expected and not generate:
                raise KeyFileError(
                    f"the key in {directory} was made for circuit {pk.circuit_id[:16]}..., but the configuration "
                    f"({markets} markets on {curve.name}) builds the {statement} circuit {expected[:16]}...: "
                    "regenerate the keys for this configuration")
            if pk.circuit_id != expected:
                # A new circuit version needs new keys (traders' zkmargin downloads them again). The old
                # ones are moved aside, never deleted. Production runs with ZKMARGIN_GENERATE_KEYS=false.
                aside = _move_aside(directory, pk.circuit_id)
                log.warning("the %s key was made for another circuit version: moved to %s, making new development keys",
                            statement, aside, extra={"event": "keys_outdated", "statement": statement})
                pk = None
        elif not generate:
            raise KeyFileError(
                f"no key for the {statement} statement at {directory}: run `zkmargin setup {circuit.name} "
                f"--markets {markets}{' --escrow' if escrow and statement != 'margin' else ''} --curve {curve.name} "
                f"--out {directory}` (or set ZKMARGIN_GENERATE_KEYS=true)")
        if pk is None:
            log.warning("generating development keys for %s (single-party setup: whoever runs it could forge "
                        "proofs) in %s", circuit.key_name(), directory,
                        extra={"event": "keys_generated", "statement": statement, "key_dir": str(directory)})
            pk = run_setup(circuit, curve, directory, backend)
        insecure = bool(pk.metadata.get("insecure_test_seed"))
        if insecure:
            log.warning("the %s key was made with an insecure test seed: proofs under it can be forged", statement,
                        extra={"event": "insecure_key", "statement": statement})
        keys[statement] = StatementKey(statement, circuit, curve, pk.circuit_id, pk.vk, directory, insecure)
    return keys
