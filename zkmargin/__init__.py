"""zkmargin: zero-knowledge private margin verification.

The library layers, each knowing only the one below: ``curves`` and ``field`` ->
``backends`` (group arithmetic) -> ``polynomials`` -> ``constraints`` and ``gadgets`` ->
``groth16`` -> ``formats`` (snarkjs JSON, binary proving keys).
"""

from typing import Any

from zkmargin.curves import BLS12_381, BN254, get_curve
from zkmargin.errors import MalformedInputError, ZkMarginError

__version__ = "0.1.0"

_POSEIDON = ("poseidon_hash", "poseidon_permutation", "poseidon_sponge")


def __getattr__(name: str) -> Any:
    # Poseidon's round constants load on first use, not on `import zkmargin`.
    if name in _POSEIDON:
        from zkmargin import poseidon

        return getattr(poseidon, name)
    raise AttributeError(f"module 'zkmargin' has no attribute {name!r}")


__all__ = ["BLS12_381", "BN254", "MalformedInputError", "ZkMarginError", "get_curve", *_POSEIDON]
