"""Integer back ends and the radix-2 NTT kernel behind :mod:`zkmargin.polynomials`.

Two back ends compute the same thing on the same inputs:

``python``
    plain ``int`` arithmetic; always available.
``gmpy2``
    twiddles and the modulus are ``gmpy2.mpz``, so every butterfly's multiply-and-reduce runs
    in GMP (``x * w % r`` costs about 160 ns instead of 390 ns for 255-bit operands), and
    :func:`zkmargin.polynomials.quotient_h` can multiply whole polynomials with one GMP
    multiplication (Kronecker substitution). Used when ``gmpy2`` is importable. It is a C
    extension with wheels and no first-call cost (no JIT).

``ZKMARGIN_POLY_BACKEND=python|gmpy2|auto`` (default ``auto``) picks the default; every
public entry point also takes ``backend=``.

The kernel is a constant-geometry ("Pease") radix-2 decimation-in-frequency NTT: every stage
pairs ``x[j]`` with ``x[j + n/2]`` and writes the sum to ``y[2j]`` and the twiddled difference
to ``y[2j + 1]``. That shape lets each stage run as a few list-level operations over whole
halves (``map``/slices execute in C), instead of a Python loop per butterfly, and the
output comes out in bit-reversed order. Sums are not reduced between stages (Python
integers do not overflow; a value gains at most one bit per stage) and differences are only
reduced when multiplied, so a butterfly costs one modular reduction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from operator import add, index, sub
from typing import Any

from zkmargin.errors import MalformedInputError

try:  # optional accelerator
    import gmpy2 as _gmpy2
except ImportError:  # pragma: no cover - depends on the machine
    _gmpy2 = None

BACKEND_ENV = "ZKMARGIN_POLY_BACKEND"


@dataclass(frozen=True)
class Backend:
    """How field elements are represented inside the NTT.

    ``lift`` maps a Python int to the working representation. Only the tables (twiddles,
    coset powers) and the modulus are lifted: data may stay plain ints, because ``int * mpz``
    and ``int % mpz`` already run in GMP and return mpz. ``lower``/``to_ints`` turn working
    values back into canonical Python ints.
    """

    name: str
    lift: Callable[[int], Any]
    kronecker: bool  # fast whole-polynomial multiplication available

    def modulus(self, r: int) -> Any:
        return self.lift(r)

    def lift_all(self, values: list[int]) -> list[Any]:
        """A table in the working representation."""
        if self.name == "python":
            return values
        return list(map(self.lift, values))

    def lower(self, values: Sequence[Any], r: int, order: Sequence[int] | None = None) -> list[int]:
        """Canonical Python ints in [0, r): ``values`` (permuted by ``order``) reduced."""
        if order is not None:
            values = [values[i] for i in order]
        if self.name == "python":
            return [v % r for v in values]
        R = self.lift(r)
        return [int(v % R) for v in values]

    def to_ints(self, values: Sequence[Any]) -> list[int]:
        """Python ints of already reduced working values."""
        if self.name == "python":
            return list(values)
        return list(map(int, values))


PYTHON = Backend("python", int, kronecker=False)
GMPY2 = Backend("gmpy2", _gmpy2.mpz, kronecker=True) if _gmpy2 is not None else None


def available_backends() -> tuple[str, ...]:
    """Names of the back ends usable on this machine, fastest last."""
    return ("python", "gmpy2") if GMPY2 is not None else ("python",)


def get_backend(name: str | Backend | None = None) -> Backend:
    """Resolve ``None``/``"auto"`` (gmpy2 if installed), ``"python"`` or ``"gmpy2"``."""
    if isinstance(name, Backend):
        return name
    if name is None:
        name = os.environ.get(BACKEND_ENV, "auto")
    key = str(name).strip().lower()
    if key == "auto":
        return GMPY2 if GMPY2 is not None else PYTHON
    if key == "python":
        return PYTHON
    if key == "gmpy2":
        if GMPY2 is None:
            raise MalformedInputError("polynomial backend 'gmpy2' requested but gmpy2 is not installed")
        return GMPY2
    raise MalformedInputError(f"unknown polynomial backend {name!r}: use auto, python or gmpy2")


# --------------------------------------------------------------------------- inputs


def as_int(value: Any, what: str) -> int:
    """``value`` as a Python int (int subclasses, numpy integers, mpz), else MalformedInputError."""
    if type(value) is int:
        return value
    try:
        return index(value)
    except TypeError:
        raise MalformedInputError(f"{what} must be an integer, got {type(value).__name__}") from None


def as_int_list(values: Sequence[int], what: str) -> list[int]:
    """A fresh list of Python ints; rejects anything that is not an integer (floats, str)."""
    try:
        out = list(values)
    except TypeError:
        raise MalformedInputError(f"{what} must be a sequence of integers") from None
    if set(map(type, out)) <= {int}:  # fast path, one C-level pass
        return out
    for i, v in enumerate(out):
        if type(v) is not int:
            out[i] = as_int(v, f"{what}[{i}]")  # int subclasses, numpy integers, gmpy2.mpz
    return out


# --------------------------------------------------------------------------- tables


@lru_cache(maxsize=16)
def bit_reversal(n: int) -> tuple[int, ...]:
    """The bit-reversal permutation of ``range(n)`` (``n`` a power of two)."""
    perm = [0]
    while len(perm) < n:
        perm = [2 * i for i in perm] + [2 * i + 1 for i in perm]
    return tuple(perm)


def powers(base: int, count: int, r: int, start: int = 1) -> list[int]:
    """``[start * base^i mod r for i in range(count)]``."""
    out = [0] * count
    acc = start % r
    for i in range(count):
        out[i] = acc
        acc = acc * base % r
    return out


# --------------------------------------------------------------------------- kernel


def _stage_twiddles(table: Sequence[Any], k: int) -> list[Any]:
    """Twiddles ``table[(j // k) * k]`` for ``j`` in ``[k, n/2)``: ``table[k::k]``, each k times."""
    base = table[k::k]
    if k == 1:
        return list(base)
    if k <= 16:
        return list(chain.from_iterable(zip(*([base] * k))))
    return list(chain.from_iterable(map(repeat, base, repeat(k))))


def dif_bitreversed(x: list[Any], table: Sequence[Any], modulus: Any) -> list[Any]:
    """Unnormalised DFT of ``x`` (natural order) in bit-reversed order, entries unreduced.

    ``table[j] = w^j`` for ``j < n/2`` where ``w`` is a primitive n-th root of unity, in
    the working representation (reduced). Returns ``y`` with ``y[bitrev(i)] = sum_j x_j w^{ij}``
    modulo ``modulus`` (the values themselves may be negative or exceed the modulus by up to
    ``log2 n`` bits). ``x`` may be consumed.
    """
    n = len(x)
    if n <= 1:
        return list(x)
    h = n >> 1
    y = [0] * n
    k = 1  # in stage s the twiddle of pair j is w^((j >> s) << s); j < k use w^0 = 1
    while k <= h:
        u = x[:h]
        v = x[h:]
        y[0::2] = list(map(add, u, v))
        if k == h:  # last stage: every twiddle is 1
            y[1::2] = list(map(sub, u, v))
        else:
            y[1 : 2 * k : 2] = list(map(sub, u[:k], v[:k]))
            tw = _stage_twiddles(table, k)
            y[2 * k + 1 :: 2] = [(p - q) * t % modulus for p, q, t in zip(u[k:], v[k:], tw)]
        x, y = y, x
        k <<= 1
    return x
