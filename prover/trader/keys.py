"""The trader's proving keys: downloaded from the service once, checked, cached.

Proving keys are public. The service publishes the key each statement's verification key was
made with; a trader's zkmargin checks three things before proving with one:

1. the circuit this zkmargin builds has the circuit id the service announces (otherwise the two
   run different versions, and no proof could verify: say so instead of proving);
2. the key file was made for that circuit id (its header) and is intact (its SHA-256 trailer);
   on download, every point of it is on the curve and in the prime-order subgroup (a point
   outside could leak witness data through the proof);
3. the key's verification key equals the one the service verifies with.

A cached key that fails 2 or 3 (the operator ran a new setup) is downloaded again. The prover
also verifies each proof before sending it (``TraderAccount``), so an inconsistent key is
caught at the first proof, not by the service.
"""

from __future__ import annotations

from pathlib import Path

from circuits.base import Circuit
from circuits.protocol.api import ServiceConfig
from circuits.protocol.keystore import PROVING_KEY_FILE, circuit_id, key_dir, statement_circuit
from prover.trader.client import ServiceClient
from zkmargin.backends import Backend
from zkmargin.errors import KeyFileError
from zkmargin.formats.provingkey import load_proving_key
from zkmargin.formats.snarkjs import vk_to_json
from zkmargin.groth16 import ProvingKey


class KeysMismatchError(KeyFileError):
    """This zkmargin and the service do not agree on a statement's circuit or key."""


class TraderKeys:
    """Proving keys for one service's configuration, cached under ``directory``."""

    def __init__(self, directory: Path, client: ServiceClient, curve: str, markets: int, backend: Backend):
        self.directory = directory
        self.client = client
        self.curve = curve
        self.markets = markets
        self.backend = backend
        self._service_config: ServiceConfig | None = None
        self._loaded: dict[str, ProvingKey] = {}
        self.escrow = False  # the service has guardians: its transitions are the escrow variants
        self.portfolio = False  # portfolio mode: margin, transfer and fill are their portfolio variants

    def _announced_circuit_id(self, statement: str) -> str:
        if self._service_config is None:
            self._service_config = self.client.config()
        announced = self._service_config.statements.get(statement)
        if announced is None:
            raise KeysMismatchError(f"the service announces no {statement} statement")
        return announced.circuit_id

    def circuit(self, statement: str) -> Circuit:
        """The circuit behind the service's ``statement`` key (``GET /keys/{statement}``)."""
        return statement_circuit(statement, self.markets, self.escrow, self.portfolio)

    def circuit_id(self, statement: str) -> str:
        return circuit_id(statement, self.markets, self.curve, self.escrow, self.portfolio)  # cached per process

    def path(self, statement: str) -> Path:
        return key_dir(self.directory, self.circuit(statement), self.curve) / PROVING_KEY_FILE

    def _acceptable(self, pk: ProvingKey, statement: str, circuit_id: str) -> bool:
        return (pk.circuit_id == circuit_id
                and vk_to_json(pk.vk, self.backend) == self.client.verification_key(statement).model_dump())

    def _load(self, path: Path, *, checked: bool = False) -> ProvingKey | None:
        try:
            return load_proving_key(path, self.backend, checked=checked)
        except KeyFileError:
            return None  # damaged: fetch a fresh copy

    def proving_key(self, statement: str, on_download=None) -> ProvingKey:
        """The checked proving key for ``statement`` (downloaded first if need be)."""
        if statement in self._loaded:
            return self._loaded[statement]
        announced = self._announced_circuit_id(statement)
        ours = self.circuit_id(statement)
        if announced != ours:
            raise KeysMismatchError(
                f"the service's {statement} circuit ({announced[:16]}...) is not the one this zkmargin builds "
                f"({ours[:16]}...): install the zkmargin version the service runs")
        path = self.path(statement)
        pk = self._load(path) if path.exists() else None
        if pk is None or not self._acceptable(pk, statement, announced):
            if on_download:
                on_download(statement)
            self.client.download_proving_key(statement, path)
            try:
                pk = load_proving_key(path, self.backend, checked=True)
            except KeyFileError as exc:
                path.unlink(missing_ok=True)
                raise KeysMismatchError(f"the service's {statement} proving key is malformed ({exc}): "
                                        "tell the operator") from None
            if not self._acceptable(pk, statement, announced):
                raise KeysMismatchError(
                    f"the service's {statement} proving key does not match its own verification key or circuit: "
                    "tell the operator")
        self._loaded[statement] = pk
        return pk
