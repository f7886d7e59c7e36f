"""Just enough linear algebra over F_p to run the reference's MDS security checks.

Matrices are lists of rows, vectors lists of ints, polynomials coefficient lists from the
constant term up; every result is reduced mod p. Sizes here are at most 17, so plain
Python loops are fast enough, and being explicit keeps the checks auditable.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = list[list[int]]
Vector = list[int]
Poly = list[int]


# --- matrices -------------------------------------------------------------------------
def identity(n: int) -> Matrix:
    return [[int(i == j) for j in range(n)] for i in range(n)]


def mat_mul(a: Matrix, b: Matrix, p: int) -> Matrix:
    columns = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) % p for col in columns] for row in a]


def mat_vec(a: Matrix, v: Sequence[int], p: int) -> Vector:
    return [sum(x * y for x, y in zip(row, v)) % p for row in a]


def echelon(vectors: Sequence[Sequence[int]], p: int) -> tuple[Matrix, list[int]]:
    """Reduced row echelon form of the nonzero span: (rows, pivot columns)."""
    rows = [[x % p for x in v] for v in vectors]
    pivots: list[int] = []
    ncols = len(rows[0]) if rows else 0
    rank = 0
    for col in range(ncols):
        found = next((i for i in range(rank, len(rows)) if rows[i][col]), None)
        if found is None:
            continue
        rows[rank], rows[found] = rows[found], rows[rank]
        inv = pow(rows[rank][col], -1, p)
        pivot_row = [x * inv % p for x in rows[rank]]
        rows[rank] = pivot_row
        for i, row in enumerate(rows):
            if i != rank and row[col]:
                factor = row[col]
                rows[i] = [(x - factor * y) % p for x, y in zip(row, pivot_row)]
        pivots.append(col)
        rank += 1
    return rows[:rank], pivots


def rank(vectors: Sequence[Sequence[int]], p: int) -> int:
    return len(echelon(vectors, p)[0])


def solve(a: Matrix, b: Sequence[int], p: int) -> Vector:
    """The x with a . x = b, for an invertible square ``a``."""
    n = len(a)
    reduced, pivots = echelon([[*row, y] for row, y in zip(a, b)], p)
    if pivots != list(range(n)):
        raise ArithmeticError("singular matrix")
    return [row[n] for row in reduced]


def null_space(rows: Sequence[Sequence[int]], ncols: int, p: int) -> Matrix:
    """A basis of {v : rows . v = 0}."""
    reduced, pivots = echelon(rows, p) if rows else ([], [])
    basis = []
    for free in (c for c in range(ncols) if c not in pivots):
        v = [0] * ncols
        v[free] = 1
        for row, pivot in zip(reduced, pivots):
            v[pivot] = -row[free] % p
        basis.append(v)
    return basis


def charpoly(a: Matrix, p: int) -> Poly:
    """det(x*I - a), via reduction to Hessenberg form (O(n^3))."""
    h = _hessenberg(a, p)
    n = len(h)
    polys: list[Poly] = [[1]]
    for k in range(n):
        nxt = poly_mul([-h[k][k] % p, 1], polys[k], p)
        product = 1
        for i in range(k - 1, -1, -1):
            product = product * h[i + 1][i] % p
            nxt = poly_sub(nxt, [product * h[i][k] * c % p for c in polys[i]], p)
        polys.append(nxt)
    return polys[n]


def _hessenberg(a: Matrix, p: int) -> Matrix:
    """A similar upper Hessenberg matrix (same characteristic polynomial)."""
    h = [[x % p for x in row] for row in a]
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
    return h


# --- polynomials ----------------------------------------------------------------------
def _trim(f: Poly) -> Poly:
    while f and f[-1] == 0:
        f.pop()
    return f


def poly_sub(f: Poly, g: Poly, p: int) -> Poly:
    out = [0] * max(len(f), len(g))
    for i, c in enumerate(f):
        out[i] = c
    for i, c in enumerate(g):
        out[i] = (out[i] - c) % p
    return _trim([c % p for c in out])


def poly_mul(f: Poly, g: Poly, p: int) -> Poly:
    if not f or not g:
        return []
    out = [0] * (len(f) + len(g) - 1)
    for i, x in enumerate(f):
        if x:
            for j, y in enumerate(g):
                out[i + j] += x * y
    return _trim([c % p for c in out])


def poly_divmod(f: Poly, g: Poly, p: int) -> tuple[Poly, Poly]:
    """Quotient and remainder of f by a nonzero g."""
    rem = list(f)
    inv_lead = pow(g[-1], -1, p)
    quotient = [0] * max(len(f) - len(g) + 1, 0)
    for shift in range(len(f) - len(g), -1, -1):
        coeff = rem[shift + len(g) - 1] * inv_lead % p
        quotient[shift] = coeff
        if coeff:
            for i, c in enumerate(g):
                rem[shift + i] = (rem[shift + i] - coeff * c) % p
    return _trim(quotient), _trim(rem[: len(g) - 1])


def poly_powmod(base: Poly, exponent: int, modulus: Poly, p: int) -> Poly:
    """base^exponent mod a monic ``modulus``, reducing through a table of x^k mod modulus."""
    n = len(modulus) - 1
    table = [[0] * (n - 1) + [1]]  # x^(n-1)
    for _ in range(n - 1):
        shifted = [0, *table[-1]]  # times x: degree n, reduce its leading term
        lead = shifted.pop()
        table.append([(c - lead * m) % p for c, m in zip(shifted, modulus)])
    table = table[1:]  # x^n .. x^(2n-2)

    def reduce(f: Poly) -> Poly:
        out = f[:n] + [0] * (n - len(f[:n]))
        for high, c in zip(table, f[n:]):
            if c:
                for i, m in enumerate(high):
                    out[i] += c * m
        return _trim([c % p for c in out])

    result: Poly = [1]
    base = poly_divmod(base, modulus, p)[1]
    for bit in bin(exponent)[2:]:
        result = reduce(poly_mul(result, result, p))
        if bit == "1":
            result = reduce(poly_mul(result, base, p))
    return result


def poly_gcd(f: Poly, g: Poly, p: int) -> Poly:
    """The monic greatest common divisor."""
    f, g = _trim(list(f)), _trim(list(g))
    while g:
        f, g = g, poly_divmod(f, g, p)[1]
    inv_lead = pow(f[-1], -1, p)
    return [c * inv_lead % p for c in f]


def roots(f: Poly, p: int) -> list[int]:
    """The distinct roots of f in F_p: split gcd(f, x^p - x) into linear factors."""
    x_to_p = poly_powmod([0, 1], p, f, p)
    split = poly_gcd(f, poly_sub(x_to_p, [0, 1], p), p)
    return sorted(_linear_factor_roots(split, p))


def _linear_factor_roots(g: Poly, p: int) -> list[int]:
    """Roots of a monic product of distinct linear factors (Cantor-Zassenhaus, shift a = 1, 2, ...)."""
    if len(g) == 1:
        return []
    if len(g) == 2:
        return [-g[0] % p]
    for shift in range(1, p):
        half = poly_powmod([shift, 1], (p - 1) // 2, g, p)
        factor = poly_gcd(g, poly_sub(half, [1], p), p)
        if 1 < len(factor) < len(g):
            rest = poly_divmod(g, factor, p)[0]
            return _linear_factor_roots(factor, p) + _linear_factor_roots(rest, p)
    raise ArithmeticError("no splitting shift found")
