"""Median timings of one NTT and of the Groth16 quotient h(X) for several NTT approaches.

    python benchmarks/ntt_bench.py                       # all approaches, n = 2^12, 2^14, 2^16
    python benchmarks/ntt_bench.py --sizes 12 14 16 18 --repeat 5 --approach kept-gmpy2
    python benchmarks/ntt_bench.py --cpu      # process CPU time: steadier on a shared machine

Approaches (the ``kept-*`` ones are zkmargin.polynomials; the others live only here, as the
record of what was measured):

  iterative        textbook iterative radix-2 DIT: bit-reversal copy, one Python loop per
                   butterfly, Python ints, every sum reduced
  iterative-mpz    the same code on gmpy2.mpz
  numpy-object     DIF stages as numpy object-array operations (reshape (blocks, 2, half))
  numpy-object-mpz the same on gmpy2.mpz
  numba            8 x 32-bit-limb Montgomery kernel compiled by numba (cache=True); data stay
                   in limb form through the whole quotient pipeline; needs numba (not a
                   dependency of zkmargin)
  kept-python      zkmargin: constant-geometry DIF over whole halves (map/slices), lazy sums,
                   skipped trivial twiddles, cached tables; coset quotient (7 transforms)
  kept-gmpy2       the same kernel with mpz twiddles; quotient by Kronecker substitution
                   (2 transforms + one GMP multiplication)
  kept-gmpy2-coset the gmpy2 kernel with the 7-transform coset quotient

Quotient timings of the non-kept approaches run the same 7-transform coset pipeline as
``kept-python`` with that approach's transform. Tables (twiddles, coset powers) are built
once per size before timing; "first" is the first call (table building, numba compilation
or cache load).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zkmargin.curves import get_curve  # noqa: E402
from zkmargin.field import ScalarField  # noqa: E402
from zkmargin.polynomials import EvaluationDomain, available_backends, quotient_h  # noqa: E402
from zkmargin.polynomials.arithmetic import bit_reversal, powers  # noqa: E402

try:
    import gmpy2
except ImportError:  # pragma: no cover
    gmpy2 = None

# ----------------------------------------------------------------------------- reference kernels


def _iterative(values: list, table: list, R) -> list:
    """DFT with root w (table[j] = w^j, j < n/2), natural order in and out."""
    n = len(values)
    x = [values[i] for i in bit_reversal(n)]
    h = 1
    while h < n:
        step = n // (2 * h)
        for start in range(0, n, 2 * h):
            for j in range(h):
                u = x[start + j]
                v = x[start + j + h] * table[j * step] % R
                x[start + j] = (u + v) % R
                x[start + j + h] = (u - v) % R
        h *= 2
    return x


def _numpy_object(values: list, table, R) -> list:
    import numpy as np

    n = len(values)
    x = np.array(values, dtype=object)
    h = n // 2
    while h >= 1:
        X = x.reshape(n // (2 * h), 2, h)
        u = X[:, 0, :]
        v = X[:, 1, :]
        s = u + v
        d = (u - v) * table[:: n // (2 * h)] % R
        X[:, 0, :] = s
        X[:, 1, :] = d
        h //= 2
    return list(x[list(bit_reversal(n))] % R)


class ReferenceTransform:
    """A natural-order DFT by one of the reference kernels, with its tables per domain size."""

    def __init__(self, kernel: str, lift: Callable, r: int):
        self.kernel, self.lift, self.r, self.R = kernel, lift, r, lift(r)
        self.tables: dict[tuple[int, int], object] = {}

    def _table(self, root: int, n: int):
        key = (root, n)
        if key not in self.tables:
            table = [self.lift(v) for v in powers(root, n // 2, self.r)]
            if self.kernel == "numpy-object":
                import numpy as np

                table = np.array(table, dtype=object)
            self.tables[key] = table
        return self.tables[key]

    def __call__(self, values: list[int], root: int) -> list:
        x = [self.lift(v) for v in values]
        fn = _iterative if self.kernel == "iterative" else _numpy_object
        return fn(x, self._table(root, len(values)), self.R)


def coset_quotient(transform: Callable, a: list[int], b: list[int], c: list[int], dom: EvaluationDomain) -> list[int]:
    """h = (ab - c)/Z by the 7-transform coset method on top of a natural-order DFT."""
    r, n = dom.r, dom.size
    shift = powers(dom.g, n, r, start=dom.size_inv)  # g^i / n
    on_coset = []
    for values in (a, b, c):
        coeffs = transform(values, dom.omega_inv)  # n * coefficients
        on_coset.append(transform([x * s % r for x, s in zip(coeffs, shift)], dom.omega))
    z_inv = pow(dom.vanishing_on_coset(), -1, r)
    numerator = [(x * y - z) % r for x, y, z in zip(*on_coset)]
    unshift = powers(dom.coset_shift_inv, n, r, start=dom.size_inv * z_inv % r)
    h = transform(numerator, dom.omega_inv)
    return [int(x * s % r) for x, s in zip(h, unshift)][:-1]


# ----------------------------------------------------------------------------- numba (optional)

# Kernels at module level so that numba's on-disk cache (cache=True) can find them again.
try:
    import numba as nb
    import numpy as np
except ImportError:  # pragma: no cover
    nb = None

if nb is not None:
    NL = 8  # 32-bit limbs in uint64 words: products and carries fit in 64 bits

    @nb.njit(cache=True, inline="always")
    def mont_mul(a, b, out, p, ninv, T):
        M = np.uint64(0xFFFFFFFF)
        S = np.uint64(32)
        for j in range(NL + 2):
            T[j] = 0
        for i in range(NL):
            C = np.uint64(0)
            bi = b[i]
            for j in range(NL):
                t = T[j] + a[j] * bi + C
                T[j] = t & M
                C = t >> S
            t = T[NL] + C
            T[NL] = t & M
            T[NL + 1] = t >> S
            m = (T[0] * ninv) & M
            t = T[0] + m * p[0]
            C = t >> S
            for j in range(1, NL):
                t = T[j] + m * p[j] + C
                T[j - 1] = t & M
                C = t >> S
            t = T[NL] + C
            T[NL - 1] = t & M
            T[NL] = T[NL + 1] + (t >> S)
        ge = T[NL] != 0
        if not ge:
            ge = True
            for j in range(NL - 1, -1, -1):
                if T[j] != p[j]:
                    ge = T[j] > p[j]
                    break
        if ge:
            B = np.uint64(0)
            for j in range(NL):
                t = T[j] - p[j] - B
                B = t >> np.uint64(63)
                out[j] = t & M
        else:
            for j in range(NL):
                out[j] = T[j]

    @nb.njit(cache=True, inline="always")
    def add_mod(a, b, out, p):
        M = np.uint64(0xFFFFFFFF)
        C = np.uint64(0)
        for j in range(NL):
            t = a[j] + b[j] + C
            out[j] = t & M
            C = t >> np.uint64(32)
        ge = True
        for j in range(NL - 1, -1, -1):
            if out[j] != p[j]:
                ge = out[j] > p[j]
                break
        if ge:
            B = np.uint64(0)
            for j in range(NL):
                t = out[j] - p[j] - B
                B = t >> np.uint64(63)
                out[j] = t & M

    @nb.njit(cache=True, inline="always")
    def sub_mod(a, b, out, p):
        M = np.uint64(0xFFFFFFFF)
        B = np.uint64(0)
        for j in range(NL):
            t = a[j] - b[j] - B
            B = t >> np.uint64(63)
            out[j] = t & M
        if B:
            C = np.uint64(0)
            for j in range(NL):
                t = out[j] + p[j] + C
                out[j] = t & M
                C = t >> np.uint64(32)

    @nb.njit(cache=True)
    def dft(x, tw, p, ninv):
        """In-place natural-order DFT of (n, NL) Montgomery limbs; tw = w^j (j < n/2)."""
        n = x.shape[0]
        T = np.zeros(NL + 2, dtype=np.uint64)
        u = np.zeros(NL, dtype=np.uint64)
        v = np.zeros(NL, dtype=np.uint64)
        h = n // 2
        stride = 1
        while h >= 1:
            for start in range(0, n, 2 * h):
                for j in range(h):
                    a = x[start + j]
                    b = x[start + j + h]
                    for k in range(NL):
                        u[k] = a[k]
                        v[k] = b[k]
                    add_mod(u, v, a, p)
                    sub_mod(u, v, v, p)
                    if j == 0:
                        for k in range(NL):
                            b[k] = v[k]
                    else:
                        mont_mul(v, tw[j * stride], b, p, ninv, T)
            h //= 2
            stride *= 2
        L = 0
        while (1 << L) < n:
            L += 1
        for i in range(n):
            j = 0
            ii = i
            for _ in range(L):
                j = (j << 1) | (ii & 1)
                ii >>= 1
            if j > i:
                for k in range(NL):
                    t = x[i, k]
                    x[i, k] = x[j, k]
                    x[j, k] = t

    @nb.njit(cache=True)
    def mul_rows(x, y, p, ninv):
        """x[i] <- x[i] * y[i] (Montgomery)."""
        T = np.zeros(NL + 2, dtype=np.uint64)
        o = np.zeros(NL, dtype=np.uint64)
        for i in range(x.shape[0]):
            mont_mul(x[i], y[i], o, p, ninv, T)
            for k in range(NL):
                x[i, k] = o[k]

    @nb.njit(cache=True)
    def mul_sub_rows(a, b, c, p, ninv):
        """a[i] <- a[i] * b[i] - c[i]."""
        T = np.zeros(NL + 2, dtype=np.uint64)
        o = np.zeros(NL, dtype=np.uint64)
        for i in range(a.shape[0]):
            mont_mul(a[i], b[i], o, p, ninv, T)
            sub_mod(o, c[i], a[i], p)

    def to_limbs(values):
        data = b"".join(v.to_bytes(32, "little") for v in values)
        return np.frombuffer(data, dtype=np.uint32).reshape(-1, NL).astype(np.uint64)

    def from_limbs(arr):
        data = arr.astype(np.uint32).tobytes()
        fb = int.from_bytes
        return [fb(data[i : i + 32], "little") for i in range(0, len(data), 32)]



def _numba_module():
    """The numba kernels (compiled, or loaded from cache, on first call); None without numba."""
    if nb is None:
        return None
    from types import SimpleNamespace

    return SimpleNamespace(
        np=np, dft=dft, mul_rows=mul_rows, mul_sub_rows=mul_sub_rows, to_limbs=to_limbs, from_limbs=from_limbs
    )


class NumbaPipeline:
    """Montgomery-limb transforms; inputs/outputs converted from/to Python ints once per call."""

    def __init__(self, r: int):
        self.m = _numba_module()
        if self.m is None:
            raise RuntimeError("numba is not installed")
        self.r = r
        self.mont = (1 << 256) % r
        self.p = self.m.to_limbs([r])[0].copy()
        self.ninv = self.m.np.uint64((-pow(r, -1, 1 << 32)) % (1 << 32))
        self.cache: dict[tuple, object] = {}

    def _limbs_mont(self, values: list[int]):
        return self.m.to_limbs([v * self.mont % self.r for v in values])

    def _table(self, key, make: Callable[[], list[int]]):
        if key not in self.cache:
            self.cache[key] = self._limbs_mont(make())
        return self.cache[key]

    def _twiddles(self, root: int, n: int):
        return self._table(("tw", root, n), lambda: powers(root, n // 2, self.r))

    def _in(self, values: list[int]):
        """Python ints -> Montgomery limbs (one Montgomery multiplication by R^2 in-kernel)."""
        x = self.m.to_limbs(values)
        r2 = self._table(("r2", len(values)), lambda: [1 << 256] * len(values))  # Mont(R) = R^2
        self.m.mul_rows(x, r2, self.p, self.ninv)
        return x

    def _out(self, x) -> list[int]:
        one = self._table(("one", x.shape[0]), lambda: [pow(1 << 256, -1, self.r)] * x.shape[0])
        self.m.mul_rows(x, one, self.p, self.ninv)  # leave Montgomery form
        return self.m.from_limbs(x)

    def ntt(self, values: list[int], root: int) -> list[int]:
        x = self._in(values)
        self.m.dft(x, self._twiddles(root, len(values)), self.p, self.ninv)
        return self._out(x)

    def quotient(self, a, b, c, dom: EvaluationDomain) -> list[int]:
        n, r = dom.size, dom.r
        shift = self._table(("shift", n), lambda: powers(dom.g, n, r, start=dom.size_inv))
        z_inv = pow(dom.vanishing_on_coset(), -1, r)
        unshift = self._table(
            ("unshift", n), lambda: powers(dom.coset_shift_inv, n, r, start=dom.size_inv * z_inv % r)
        )
        fwd, inv = self._twiddles(dom.omega, n), self._twiddles(dom.omega_inv, n)
        arrays = []
        for values in (a, b, c):
            x = self._in(values)
            self.m.dft(x, inv, self.p, self.ninv)
            self.m.mul_rows(x, shift, self.p, self.ninv)
            self.m.dft(x, fwd, self.p, self.ninv)
            arrays.append(x)
        xa, xb, xc = arrays
        self.m.mul_sub_rows(xa, xb, xc, self.p, self.ninv)
        self.m.dft(xa, inv, self.p, self.ninv)
        self.m.mul_rows(xa, unshift, self.p, self.ninv)
        return self._out(xa)[:-1]


# ----------------------------------------------------------------------------- driver

APPROACHES = (
    "iterative",
    "iterative-mpz",
    "numpy-object",
    "numpy-object-mpz",
    "numba",
    "kept-python",
    "kept-gmpy2",
    "kept-gmpy2-coset",
)


def make_approach(name: str, size: int, curve) -> tuple[Callable, Callable] | None:
    """(ntt(values), quotient(a, b, c)) for ``name`` at this size, or None if unavailable."""
    r = get_curve(curve).r
    dom = EvaluationDomain(size, curve, backend="python")
    if name.endswith("-mpz") and gmpy2 is None:
        return None
    if name in ("iterative", "iterative-mpz", "numpy-object", "numpy-object-mpz"):
        kernel = name.removesuffix("-mpz")
        tr = ReferenceTransform(kernel, gmpy2.mpz if name.endswith("-mpz") else int, r)

        def ntt(values):
            return [int(v) for v in tr(values, dom.omega)]

        return ntt, lambda a, b, c: coset_quotient(tr, a, b, c, dom)
    if name == "numba":
        try:
            pipe = NumbaPipeline(r)
        except RuntimeError:
            return None
        return (lambda values: pipe.ntt(values, dom.omega)), (lambda a, b, c: pipe.quotient(a, b, c, dom))
    if name.startswith("kept-"):
        backend = "python" if name == "kept-python" else "gmpy2"
        if backend not in available_backends():
            return None
        method = "coset" if name in ("kept-python", "kept-gmpy2-coset") else "kronecker"
        kept = EvaluationDomain(size, curve, backend=backend)
        return kept.ntt, (lambda a, b, c: quotient_h(a, b, c, kept, method=method))
    raise SystemExit(f"unknown approach {name!r}; choose from {', '.join(APPROACHES)}")


CLOCK = time.perf_counter


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 14, 16], help="log2 of the domain sizes")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--curve", default="bls12381")
    parser.add_argument("--approach", nargs="+", default=list(APPROACHES), choices=APPROACHES)
    parser.add_argument("--skip-slow-quotient", type=int, default=16, metavar="LOG",
                        help="time the quotient of iterative/numpy-object approaches only up to this size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpu", action="store_true",
                        help="measure process CPU time instead of wall-clock time (steadier on a busy machine)")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter

    field = ScalarField(args.curve)
    rng = random.Random(args.seed)
    clock = "CPU" if args.cpu else "wall-clock"
    backends = ", ".join(available_backends())
    print(f"curve {field.curve.name}, median {clock} seconds of {args.repeat} runs; backends: {backends}")
    print(f"{'approach':18s} {'log n':>5s} {'first':>8s} {'ntt':>8s} {'quotient':>9s}  check")
    for log_n in args.sizes:
        n = 1 << log_n
        a = [rng.randrange(field.r) for _ in range(n)]
        b = [rng.randrange(field.r) for _ in range(n)]
        c = [x * y % field.r for x, y in zip(a, b)]
        reference_dom = EvaluationDomain(n, args.curve)
        expected_ntt = reference_dom.ntt(a)
        expected_h = quotient_h(a, b, c, reference_dom)
        for name in args.approach:
            made = make_approach(name, n, args.curve)
            if made is None:
                print(f"{name:18s} {log_n:5d}  (unavailable)")
                continue
            ntt, quotient = made
            start = CLOCK()
            first_out = ntt(a)
            first = CLOCK() - start
            ok = first_out == expected_ntt
            t_ntt = median_time(lambda ntt=ntt, a=a: ntt(a), args.repeat)
            slow = name.startswith(("iterative", "numpy-object"))
            if slow and log_n > args.skip_slow_quotient:
                t_q, q_txt = float("nan"), "   skipped"
            else:
                ok = ok and quotient(a, b, c) == expected_h
                t_q = median_time(lambda quotient=quotient, a=a, b=b, c=c: quotient(a, b, c), args.repeat)
                q_txt = f"{t_q:9.3f}"
            print(f"{name:18s} {log_n:5d} {first:8.3f} {t_ntt:8.3f} {q_txt}  {'ok' if ok else 'MISMATCH'}", flush=True)


if __name__ == "__main__":
    main()
