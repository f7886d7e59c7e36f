"""The Cauchy MDS matrix of the reference generator and its security checks.

The reference draws 2t field elements x_0..x_{t-1}, y_0..y_{t-1} from the Grain stream
(n bits each, reduced mod p), redraws all of them while any two coincide, rejects the draw
if some x_i + y_j = 0, and sets M[i][j] = 1 / (x_i + y_j). A matrix is kept only if it passes
the three checks against infinitely long invariant subspace trails of partial rounds
(Grassi, Rechberger, Schofnegger: "Proving Resistance Against Infinitely Long Subspace
Trails"), for one S-box per partial round:

1. for i = 1..t-1: M^i is not a scalar matrix; no eigenvector of M^i with eigenvalue in
   F_p lies in S_i, the inputs whose first coordinate stays out of the S-box for i rounds;
   and M^j S_i != S_i for j = 1..i;
2. the unit vector e_0 (the S-box position) is a cyclic vector of M;
3. e_0 is a cyclic vector of M^r for r = 2..4t.

The checks run on galois's GF(p) matrices and polynomials (products, rank, null spaces,
polynomial arithmetic and gcd, powering modulo a polynomial, equal-degree factorization). Two
steps stay by hand because galois's versions do not finish for a 254-bit p and t up to 17:
the characteristic polynomial (:func:`_characteristic_poly`) and finding the roots in F_p
(:func:`_roots_in_field`). This module is only imported to regenerate the shipped parameters, never when Poseidon is
evaluated, so galois stays off the paths of the CLI and the service; it is installed with the
``params`` extra (``pip install 'zkmargin[params]'``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import galois
import numpy as np

from zkmargin.curves import BLS12_381, BN254
from zkmargin.poseidon.grain import GrainBits

Matrix = list[list[int]]


def draw_cauchy(bits: GrainBits, n: int, t: int, p: int) -> Matrix:
    """The next Cauchy matrix the reference's ``create_mds_p`` would accept."""
    while True:
        values = [bits.read(n) % p for _ in range(2 * t)]
        while len(set(values)) != len(values):
            values = [bits.read(n) % p for _ in range(2 * t)]
        xs, ys = values[:t], values[t:]
        if all((x + y) % p for x in xs for y in ys):
            return [[pow(x + y, -1, p) for y in ys] for x in xs]


def secure_mds(bits: GrainBits, n: int, t: int, p: int) -> Matrix:
    """Draw Cauchy matrices until one passes all three checks."""
    while True:
        m = draw_cauchy(bits, n, t, p)
        if is_secure(m, p):
            return m


@cache
def prime_field(p: int) -> type[galois.FieldArray]:
    """galois's GF(p). For a curve's scalar field we pass its known multiplicative generator:
    otherwise galois searches for a primitive element by factoring p - 1, which takes minutes
    for a 254-bit p (the generator is not used by anything here)."""
    generator = next((c.multiplicative_generator for c in (BLS12_381, BN254) if c.r == p), None)
    if generator is None:
        return galois.GF(p)
    return galois.GF(p, primitive_element=generator, verify=False)


def is_secure(m: Matrix, p: int) -> bool:
    gf = prime_field(p)
    a = gf([[x % p for x in row] for row in m])
    t = len(m)
    orbit = _unit_orbit(a, 4 * t * (t - 1))
    return _no_invariant_trails(a) and all(_first_unit_is_cyclic(orbit, power, t) for power in range(1, 4 * t + 1))


def _no_invariant_trails(m: Any) -> bool:
    """Check 1 of the module docstring, for i = 1..t-1."""
    t = m.shape[0]
    gf = type(m)
    powers = [gf.Identity(t), m]
    for _ in range(2, t):
        powers.append(powers[-1] @ m)
    for i in range(1, t):
        m_i = powers[i]
        if np.array_equal(m_i, m_i[0, 0] * gf.Identity(t)):
            return False
        s_i = _inactive_subspace(powers, i)
        if _meets_rational_eigenspace(m_i, s_i):
            return False
        for j in range(1, i + 1):
            if _is_invariant(s_i, powers[j]):
                return False
    return True


def _inactive_subspace(powers: list[Any], i: int) -> Any:
    """Basis (rows) of S_i: v with v[0] = 0 and (M^k v)[0] = 0 for k = 1..i-1."""
    t = powers[1].shape[0]
    gf = type(powers[1])
    if i == 1:
        free = gf.Identity(t - 1)
    else:
        free = gf(np.array([powers[k][0, 1:] for k in range(1, i)])).null_space()
    return np.hstack([gf.Zeros((free.shape[0], 1)), free])


def _meets_rational_eigenspace(a: Any, subspace: Any) -> bool:
    """Does some eigenspace of ``a`` with eigenvalue in F_p meet ``subspace`` beyond 0?"""
    gf = type(a)
    identity = gf.Identity(a.shape[0])
    for eigenvalue in _roots_in_field(_characteristic_poly(a)):
        eigenspace = (a - eigenvalue * identity).null_space()
        stacked = np.vstack([subspace, eigenspace])
        if np.linalg.matrix_rank(stacked) < subspace.shape[0] + eigenspace.shape[0]:
            return True
    return False


def _characteristic_poly(a: Any) -> galois.Poly:
    """det(x*I - a), via reduction to a similar upper Hessenberg matrix (O(n^3)).

    Kept by hand: galois's ``FieldArray.characteristic_poly()`` expands the determinant by
    minors (O(n!)), which does not finish for t = 9..17.
    """
    gf = type(a)
    p = gf.order
    h = [[int(x) for x in row] for row in a]
    n = len(h)
    for m in range(1, n - 1):
        found = next((i for i in range(m, n) if h[i][m - 1]), None)
        if found is None:
            continue
        if found != m:
            h[found], h[m] = h[m], h[found]
            for row in h:
                row[found], row[m] = row[m], row[found]
        inv = pow(h[m][m - 1], -1, p)
        for i in range(m + 1, n):
            u = h[i][m - 1] * inv % p
            if not u:
                continue
            h[i] = [(x - u * y) % p for x, y in zip(h[i], h[m])]
            for row in h:
                row[m] = (row[m] + u * row[i]) % p
    # the characteristic polynomials of the leading k x k blocks, k = 0..n
    x = galois.Poly.Identity(gf)
    polys = [galois.Poly.One(gf)]
    for k in range(n):
        nxt = (x - gf(h[k][k])) * polys[k]
        product = 1
        for i in range(k - 1, -1, -1):
            product = product * h[i + 1][i] % p
            nxt -= gf(product * h[i][k] % p) * polys[i]
        polys.append(nxt)
    return polys[n]


def _roots_in_field(f: galois.Poly) -> list[Any]:
    """The distinct roots of f in F_p.

    Kept by hand: galois's ``Poly.roots()`` tries every element of the field (a Chien search),
    hopeless for a 254-bit p. We keep the product of f's linear factors, gcd(f, x^p - x), with
    galois's modular powering and gcd, and split it with galois's equal-degree factorization.
    """
    gf = f.field
    x = galois.Poly.Identity(gf)
    frobenius = pow(x, gf.order, f) - x  # x^p - x, reduced mod f
    # galois's annotations declare gcd and pow for int only; both are defined for Poly too
    split: galois.Poly = galois.gcd(f, frobenius)  # type: ignore[arg-type, assignment]
    if split.degree == 0:
        return []
    return [-factor.coeffs[-1] for factor in split.equal_degree_factors(1)]


def _is_invariant(subspace: Any, a: Any) -> bool:
    """a * subspace == subspace (``subspace`` given by a basis, one vector per row)."""
    image = subspace @ a.T
    dim = subspace.shape[0]
    return bool(np.linalg.matrix_rank(image) == dim and np.linalg.matrix_rank(np.vstack([subspace, image])) == dim)


def _unit_orbit(m: Any, length: int) -> list[Any]:
    """e_0, M e_0, ..., M^length e_0."""
    orbit = [type(m).Zeros(m.shape[0])]
    orbit[0][0] = 1
    for _ in range(length):
        orbit.append(m @ orbit[-1])
    return orbit


def _first_unit_is_cyclic(orbit: list[Any], power: int, t: int) -> bool:
    """Do e_0, A e_0, ..., A^(t-1) e_0 span F_p^t for A = M^power (checks 2 and 3)?"""
    return bool(np.linalg.matrix_rank(np.vstack(orbit[: power * (t - 1) + 1 : power])) == t)
