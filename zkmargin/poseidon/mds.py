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
"""

from __future__ import annotations

from zkmargin.poseidon import linalg
from zkmargin.poseidon.grain import GrainBits
from zkmargin.poseidon.linalg import Matrix


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


def is_secure(m: Matrix, p: int) -> bool:
    t = len(m)
    orbit = _unit_orbit(m, 4 * t * (t - 1), p)
    return _no_invariant_trails(m, p) and all(
        _first_unit_is_cyclic(orbit, power, t, p) for power in range(1, 4 * t + 1)
    )


def _no_invariant_trails(m: Matrix, p: int) -> bool:
    """Check 1 of the module docstring, for i = 1..t-1."""
    t = len(m)
    powers = [linalg.identity(t), m]
    for _ in range(2, t):
        powers.append(linalg.mat_mul(powers[-1], m, p))
    for i in range(1, t):
        m_i = powers[i]
        if m_i == [[m_i[0][0] if r == c else 0 for c in range(t)] for r in range(t)]:
            return False
        s_i = _inactive_subspace(powers, i, p)
        if _meets_rational_eigenspace(m_i, s_i, p):
            return False
        for j in range(1, i + 1):
            if _is_invariant(s_i, powers[j], p):
                return False
    return True


def _inactive_subspace(powers: list[Matrix], i: int, p: int) -> Matrix:
    """Basis of S_i: v with v[0] = 0 and (M^k v)[0] = 0 for k = 1..i-1, over coordinates 1..t-1."""
    t = len(powers[1])
    rows = [powers[k][0][1:] for k in range(1, i)]
    return [[0, *v] for v in linalg.null_space(rows, t - 1, p)]


def _meets_rational_eigenspace(a: Matrix, subspace: Matrix, p: int) -> bool:
    """Does some eigenspace of ``a`` with eigenvalue in F_p meet ``subspace`` beyond 0?"""
    t = len(a)
    for eigenvalue in linalg.roots(linalg.charpoly(a, p), p):
        shifted = [
            [(x - eigenvalue) % p if r == c else x for c, x in enumerate(row)] for r, row in enumerate(a)
        ]
        eigenspace = linalg.null_space(shifted, t, p)
        if linalg.rank(subspace + eigenspace, p) < len(subspace) + len(eigenspace):
            return True
    return False


def _is_invariant(subspace: Matrix, a: Matrix, p: int) -> bool:
    """a * subspace == subspace (``subspace`` given by a basis)."""
    image = [linalg.mat_vec(a, v, p) for v in subspace]
    dim = len(subspace)
    return linalg.rank(image, p) == dim and linalg.rank(subspace + image, p) == dim


def _unit_orbit(m: Matrix, length: int, p: int) -> Matrix:
    """e_0, M e_0, ..., M^length e_0."""
    orbit = [[1] + [0] * (len(m) - 1)]
    for _ in range(length):
        orbit.append(linalg.mat_vec(m, orbit[-1], p))
    return orbit


def _first_unit_is_cyclic(orbit: Matrix, power: int, t: int, p: int) -> bool:
    """Do e_0, A e_0, ..., A^(t-1) e_0 span F_p^t for A = M^power (checks 2 and 3)?"""
    return linalg.rank(orbit[: power * (t - 1) + 1 : power], p) == t
