"""Poseidon over the scalar fields of BLS12-381 and BN254, out of circuit.

- :func:`poseidon_permutation`: the permutation of width 2..17 (reference parameters);
- :func:`poseidon_hash`: circomlib's Poseidon(1..16), first element of the permuted [0, *inputs];
- :func:`poseidon_sponge`: a domain-separated sponge for inputs of any length
  (construction in :mod:`zkmargin.poseidon.sponge`).

Parameters load lazily from the data files shipped with this package
(:mod:`zkmargin.poseidon.params`); importing it generates nothing. The circuit gadgets are
in :mod:`zkmargin.gadgets.poseidon`.
"""

from typing import Any

__all__ = ["poseidon_hash", "poseidon_permutation", "poseidon_sponge"]


def __getattr__(name: str) -> Any:
    # Resolved on first use, so that `python -m zkmargin.poseidon.params` runs the module fresh.
    if name in ("poseidon_hash", "poseidon_permutation"):
        from zkmargin.poseidon import permutation

        return getattr(permutation, name)
    if name == "poseidon_sponge":
        from zkmargin.poseidon.sponge import poseidon_sponge

        return poseidon_sponge
    raise AttributeError(f"module 'zkmargin.poseidon' has no attribute {name!r}")
