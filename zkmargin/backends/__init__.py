"""Curve backends: one contract (``Backend``), several implementations.

- ``arkworks``: native BLS12-381 (the default for that curve).
- ``garaga``: BN254 (the default for that curve): group arithmetic and MSMs on gmpy2,
  pairings and G2 subgroup checks in garaga's native extension.
- ``py_ecc``: the reference for both curves; every fast path is tested against it.
"""

from __future__ import annotations

from functools import cache

from zkmargin.backends.base import Backend
from zkmargin.curves import BLS12_381, BN254, Curve, get_curve
from zkmargin.errors import ZkMarginError

BACKENDS: dict[str, tuple[str, ...]] = {
    BLS12_381.name: ("arkworks", "py_ecc"),
    BN254.name: ("garaga", "py_ecc"),
}


@cache
def _make(curve_name: str, backend_name: str) -> Backend:
    curve = get_curve(curve_name)
    if backend_name == "arkworks" and curve is BLS12_381:
        from zkmargin.backends.arkworks import ArkworksBackend

        return ArkworksBackend()
    if backend_name == "garaga" and curve is BN254:
        from zkmargin.backends.bn254 import BN254Backend

        return BN254Backend()
    if backend_name == "py_ecc":
        from zkmargin.backends.pyecc import PyEccBackend

        return PyEccBackend(curve)
    raise ZkMarginError(
        f"backend {backend_name!r} is not available for {curve.name}; "
        f"choose one of {', '.join(BACKENDS[curve.name])}"
    )


def get_backend(curve: str | Curve | None = None, name: str | None = None) -> Backend:
    """The backend ``name`` for ``curve`` (default: the fastest one available)."""
    c = get_curve(curve)
    return _make(c.name, name or BACKENDS[c.name][0])


__all__ = ["Backend", "BACKENDS", "get_backend"]
