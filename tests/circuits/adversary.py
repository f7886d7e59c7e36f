"""A cheating prover for the soundness tests: it controls the whole witness.

The circuits' own witness builders refuse bad values, so a cheater works on the witness
directly. :class:`Witness` copies a synthesized constraint system into index space (index 0 is
the constant one, then the public inputs, then the private variables, like ``cs.witness()``)
and offers the two moves an adversary needs:

- :meth:`Witness.propagate`, an honest *re-derivation*: after the cheater pins some values,
  recompute every derived value (products, Poseidon rounds, bit decompositions, sign and
  magnitude, is-zero outputs) from them, exactly as the circuit's builder would. A cheat then
  fails only at the constraints its pinned values genuinely contradict, never at a stale
  intermediate value.
- :meth:`Witness.repair`, a generic *witness-repair* search: repeatedly take a violated
  constraint and solve it for one variable that appears in it (linearly, or quadratically with
  a square root), following the constraints that the change breaks in turn (a depth-bounded
  search along chains of single breakages) until the change lands on a variable no other
  remaining constraint mentions. This is what kills mutants: drop the booleanity constraint of
  bit 37 and the search solves the recomposition for a non-boolean bit 37; drop an S-box
  constraint in the last Poseidon round and it walks back from the commitment to that S-box.
- :meth:`Witness.algebraic_repair`, for a dropped product a few multiplications upstream of
  the one violated constraint: the product's output becomes an unknown y, everything after it
  a polynomial in y; interpolate the violated constraint's residual and take a root in F_r.

Nothing here knows the circuits' semantics beyond constraint *shapes* and gadget labels; the
tests decide what a false claim is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from zkmargin.constraints import ConstraintSystem

Row = dict[int, int]

_RECOMPOSE = "bits recompose the value"
_SIGN_RELATION = "value = m - sign*(2m+1)"
_IS_ZERO_INVERSE = "x * inverse = 1 - out"


def sqrt_mod(n: int, r: int, non_residue: int) -> int | None:
    """A square root of n modulo the prime r (Tonelli-Shanks), or None if n is not a square."""
    n %= r
    if n == 0:
        return 0
    if pow(n, (r - 1) // 2, r) != 1:
        return None
    q, s = r - 1, 0
    while q % 2 == 0:
        q //= 2
        s += 1
    z = pow(non_residue, q, r)
    m, c, t, root = s, z, pow(n, q, r), pow(n, (q + 1) // 2, r)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2 = t2 * t2 % r
            i += 1
        b = pow(c, 1 << (m - i - 1), r)
        m, c, t, root = i, b * b % r, t * b * b % r, root * b % r
    return root


class Witness:
    """A mutable copy of a constraint system's witness, with the structure needed to cheat."""

    def __init__(self, cs: ConstraintSystem):
        self.cs = cs
        self.r = cs.r
        self.non_residue = cs.curve.multiplicative_generator
        self.num_public = cs.num_public
        self.names = ["one", *cs.public_names, *cs.private_names]
        self.index = {name: i for i, name in enumerate(self.names)}
        a, b, c = cs.matrices()
        self.rows: list[tuple[Row, Row, Row]] = [(dict(x), dict(y), dict(z)) for x, y, z in zip(a, b, c)]
        self.labels = [con.label for con in cs.constraints]
        self.values = cs.witness()
        self._shared: dict[str, object] = {}  # caches shared by clones
        self.cons_of: dict[int, list[int]] = defaultdict(list)
        for k, (x, y, z) in enumerate(self.rows):
            for v in {*x, *y, *z}:
                if v:
                    self.cons_of[v].append(k)

    # --- values -------------------------------------------------------------------------
    def clone(self) -> Witness:
        other = object.__new__(Witness)
        other.__dict__.update(self.__dict__)
        other.values = list(self.values)
        return other

    def var(self, name: str) -> int:
        return self.index[name]

    def __getitem__(self, name: str) -> int:
        return self.values[self.index[name]]

    def __setitem__(self, name: str, value: int) -> None:
        self.values[self.index[name]] = value % self.r

    def signed(self, name: str) -> int:
        v = self[name]
        return v - self.r if v > self.r // 2 else v

    def _eval(self, row: Row) -> int:
        w = self.values
        return sum(c * w[v] for v, c in row.items()) % self.r

    def holds(self, k: int) -> bool:
        a, b, c = self.rows[k]
        return self._eval(a) * self._eval(b) % self.r == self._eval(c)

    def violated(self, dropped: int | None = None) -> list[int]:
        return [k for k in range(len(self.rows)) if k != dropped and not self.holds(k)]

    def violated_labels(self, dropped: int | None = None) -> list[str]:
        return [self.labels[k] for k in self.violated(dropped)]

    def write_back(self, cs: ConstraintSystem | None = None) -> ConstraintSystem:
        """Copy the values into ``cs`` (default: the one this witness came from) via set_value.

        ``cs`` must have the same variables as the system this witness was made from.
        """
        cs = cs or self.cs
        if "lcs" not in self._shared:
            self._shared["lcs"] = [self.cs.variable(name) for name in self.names[1:]]
        for lc, value in zip(self._shared["lcs"], self.values[1:]):
            cs.set_value(lc, value)
        return cs

    # --- honest re-derivation -----------------------------------------------------------
    def propagate(self, fixed: Iterable[str | int] = (), frozen: Iterable[str] = (), start: int = 0) -> Witness:
        """Recompute every derived value in constraint order, as the circuit's builder does.

        ``fixed`` names (or indexes) variables the cheater chose; ``frozen`` are name prefixes
        whose variables keep their current values (e.g. a Poseidon trace the cheater wants to
        reuse); ``start`` skips the constraints before it. Inputs (variables no constraint
        defines) keep their values anyway.
        """
        fixed_ids = {n if isinstance(n, int) else self.index[n] for n in fixed}
        frozen = tuple(frozen)
        r, w = self.r, self.values

        def free(v: int) -> bool:
            return v > self.num_public and v not in fixed_ids and not self.names[v].startswith(frozen)

        def put(v: int, value: int) -> None:
            if free(v):
                w[v] = value % r

        for k in range(start, len(self.rows)):
            a, b, c = self.rows[k]
            label = self.labels[k]
            if label.endswith(_RECOMPOSE):
                x = self._eval(c)
                for v, coeff in a.items():
                    put(v, (x >> (coeff.bit_length() - 1)) & 1)
            elif label.endswith(_SIGN_RELATION):
                # sign * (2m + 1) = m - x
                (sign,) = a
                m = next(v for v in b if v)
                x = (w[m] - self._eval(c)) % r
                value = x - r if x > r // 2 else x
                put(sign, int(value < 0))
                put(m, value if value >= 0 else -value - 1)
            elif label.endswith(_IS_ZERO_INVERSE):
                # x * inverse = 1 - out
                x = self._eval(a)
                (inverse,) = b
                out = next(v for v in c if v)
                put(inverse, pow(x, -1, r) if x else 0)
                put(out, 0 if x else 1)
            elif len(c) == 1:
                ((v, coeff),) = c.items()
                if coeff == 1 and v and v not in a and v not in b and self.cons_of[v][0] == k:
                    put(v, self._eval(a) * self._eval(b))
        return self

    # --- generic repair -----------------------------------------------------------------
    def _roots(self, k: int, v: int) -> list[int]:
        """Values of v that satisfy constraint k with every other variable unchanged."""
        r, w = self.r, self.values
        a, b, c = self.rows[k]
        alpha, beta, gamma = a.get(v, 0), b.get(v, 0), c.get(v, 0)
        a0 = (self._eval(a) - alpha * w[v]) % r
        b0 = (self._eval(b) - beta * w[v]) % r
        c0 = (self._eval(c) - gamma * w[v]) % r
        quad = alpha * beta % r
        lin = (alpha * b0 + beta * a0 - gamma) % r
        const = (a0 * b0 - c0) % r
        if quad:
            disc = sqrt_mod(lin * lin - 4 * quad * const, r, self.non_residue)
            if disc is None:
                return []
            inv = pow(2 * quad, -1, r)
            return sorted({(-lin + disc) * inv % r, (-lin - disc) * inv % r})
        if lin:
            return [-const * pow(lin, -1, r) % r]
        return []

    def _rederive_bits(self, k: int) -> list[tuple[int, int]] | None:
        """The honest bits for a recomposition constraint whose value fits: (var, bit) pairs."""
        a, _, c = self.rows[k]
        x = self._eval(c)
        if any(v in a for v in c) or x >= 1 << len(a):
            return None
        return [(v, (x >> (coeff.bit_length() - 1)) & 1) for v, coeff in a.items()]

    def repair(
        self, dropped: int | None = None, fixed: Iterable[int] = (), *,
        max_depth: int = 5, max_rounds: int = 12, seen: set[int] | None = None,
    ) -> bool:
        """Try to satisfy every constraint but ``dropped`` without touching ``fixed`` or publics.

        Returns True when it succeeded. ``seen`` collects every constraint index the search
        looked at: a failed search that never saw constraint i fails identically with i dropped.
        """
        fixed_ids = {0, *range(1, self.num_public + 1), *fixed}
        seen = seen if seen is not None else set()
        for _ in range(max_rounds):
            bad = self.violated(dropped)
            seen.update(bad)
            if not bad:
                return True
            k = bad[0]
            if not any(self._search(k, depth, dropped, fixed_ids, set(), seen) for depth in range(max_depth + 1)):
                return False
        return not self.violated(dropped)

    def _search(
        self, k: int, depth: int, dropped: int | None, fixed: set[int], touched: set[int], seen: set[int]
    ) -> bool:
        """Fix constraint k so that at most a chain of single new breakages follows, ending cleanly."""
        w = self.values
        moves: list[list[tuple[int, int]]] = []
        if self.labels[k].endswith(_RECOMPOSE):
            bits = self._rederive_bits(k)
            if bits and not any(v in fixed or v in touched for v, _ in bits):
                moves.append(bits)
        a, b, c = self.rows[k]
        candidates = sorted(
            (v for v in {*a, *b, *c} if v not in fixed and v not in touched), key=lambda v: len(self.cons_of[v])
        )
        for v in candidates:
            # changing v breaks every other constraint on v that holds now: more than one is a dead end
            holding = 0
            for j in self.cons_of[v]:
                if j != k and j != dropped:
                    seen.add(j)
                    if self.holds(j):
                        holding += 1
                        if holding > 1:
                            break
            if holding > 1:
                continue
            moves.extend([(v, root)] for root in self._roots(k, v))
        for move in moves:
            before = {}
            affected: set[int] = set()
            for v, _value in move:
                before[v] = w[v]
                affected.update(self.cons_of[v])
            affected.discard(k)
            affected.discard(dropped)  # type: ignore[arg-type]
            seen.update(affected)
            was_ok = {j for j in affected if self.holds(j)}
            for v, value in move:
                w[v] = value
            if not self.holds(k):  # a root that does not hold (cannot happen for a solved root)
                for v, old in before.items():
                    w[v] = old
                continue
            broken = [j for j in was_ok if not self.holds(j)]
            if not broken:
                return True
            if len(broken) == 1 and depth > 0 and self._search(
                broken[0], depth - 1, dropped, fixed, touched | set(before), seen
            ):
                return True
            for v, old in before.items():
                w[v] = old
        return False

    # --- algebraic repair ---------------------------------------------------------------
    def _output_of(self, k: int) -> int | None:
        """The variable constraint k defines (a product's output), if any."""
        _, _, c = self.rows[k]
        if len(c) == 1:
            ((v, coeff),) = c.items()
            if coeff == 1 and v > self.num_public and self.cons_of[v][0] == k:
                return v
        return None

    def _degree_in(self, var: int, target: int, cap: int) -> int | None:
        """Degree of constraint ``target``'s residual A*B - C as a polynomial in ``var``.

        Follows the products defined after ``var``'s constraint. None when a non-polynomial
        step (bits, signs, is-zero) depends on ``var``; cap + 1 once the degree must exceed
        ``cap`` (no value of degree <= cap is used any more).
        """
        last_use = self._shared.setdefault("last_use", {v: max(ks) for v, ks in self.cons_of.items()})
        degree = {var: 1}
        live = {var}

        def of(row: Row) -> int:
            return max((degree.get(v, 0) for v in row), default=0)

        for k in range(self.cons_of[var][0] + 1, target + 1):
            a, b, c = self.rows[k]
            if k == target:
                return max(of(a) + of(b), of(c))
            out = self._output_of(k)
            if out is not None and not self.labels[k].endswith(_RECOMPOSE):
                d = of(a) + of(b)
                if d:
                    degree[out] = d
                    if d <= cap:
                        live.add(out)
            elif self.labels[k].endswith((_RECOMPOSE, _SIGN_RELATION, _IS_ZERO_INVERSE)) and any(
                degree.get(v, 0) for v in {*a, *b, *c}
            ):
                return None
            live = {v for v in live if last_use[v] > k}
            if not live:
                return cap + 1
        return None

    def degree_in(self, var: int, target: int, cap: int = 50) -> int | None:
        """:meth:`_degree_in`, cached across clones (it depends on the structure only)."""
        cache = self._shared.setdefault("degrees", {})
        if (var, target, cap) not in cache:
            cache[(var, target, cap)] = self._degree_in(var, target, cap)
        return cache[(var, target, cap)]

    def algebraic_repair(self, dropped: int, fixed: Iterable[int] = (), max_degree: int = 50) -> bool:
        """Treat the output of the dropped constraint as an unknown y and solve for it.

        Every value after it is a polynomial in y; when the only violated constraint's
        residual has degree <= ``max_degree``, interpolate it and take a root in F_r
        (Cantor-Zassenhaus). This reaches a few rounds into a hash, where the local search
        cannot.
        """
        y = self._output_of(dropped)
        bad = self.violated(dropped)
        if y is None or len(bad) != 1 or bad[0] < dropped:
            return False
        target = bad[0]
        degree = self.degree_in(y, target, max_degree)
        if degree is None or degree == 0 or degree > max_degree:
            return False
        fixed = [*fixed, y]
        r = self.r

        def residual(value: int) -> int:
            self.values[y] = value % r
            self.propagate(fixed=fixed, start=dropped + 1)
            a, b, c = self.rows[target]
            return (self._eval(a) * self._eval(b) - self._eval(c)) % r

        xs = list(range(1, degree + 2))
        coeffs = interpolate(xs, [residual(x) for x in xs], r)
        for root in poly_roots(coeffs, r):
            if residual(root) == 0 and not self.violated(dropped):
                return True
        return False


def _trim(p: list[int]) -> list[int]:
    while p and p[-1] == 0:
        p.pop()
    return p


def _mul(p: list[int], q: list[int], r: int) -> list[int]:
    if not p or not q:
        return []
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        if a:
            for j, b in enumerate(q):
                out[i + j] += a * b
    return _trim([x % r for x in out])


def _divmod(p: list[int], q: list[int], r: int) -> tuple[list[int], list[int]]:
    p = list(p)
    inv = pow(q[-1], -1, r)
    quotient = [0] * max(0, len(p) - len(q) + 1)
    for i in range(len(p) - len(q), -1, -1):
        factor = p[i + len(q) - 1] * inv % r
        quotient[i] = factor
        if factor:
            for j, b in enumerate(q):
                p[i + j] = (p[i + j] - factor * b) % r
    return _trim(quotient), _trim(p[: len(q) - 1])


def _gcd(p: list[int], q: list[int], r: int) -> list[int]:
    p, q = _trim(list(p)), _trim(list(q))
    while q:
        p, q = q, _divmod(p, q, r)[1]
    inv = pow(p[-1], -1, r)
    return [x * inv % r for x in p]


def _powmod(base: list[int], e: int, modulus: list[int], r: int) -> list[int]:
    result, base = [1], _divmod(base, modulus, r)[1]
    while e:
        if e & 1:
            result = _divmod(_mul(result, base, r), modulus, r)[1]
        base = _divmod(_mul(base, base, r), modulus, r)[1]
        e >>= 1
    return result


def interpolate(xs: list[int], ys: list[int], r: int) -> list[int]:
    """Coefficients (lowest first) of the polynomial through the points (Newton's form)."""
    n = len(xs)
    table = list(ys)
    for level in range(1, n):
        for i in range(n - 1, level - 1, -1):
            table[i] = (table[i] - table[i - 1]) * pow(xs[i] - xs[i - level], -1, r) % r
    coeffs = [table[-1]]
    for i in range(n - 2, -1, -1):  # Horner: coeffs * (X - xs[i]) + table[i]
        shifted = [0, *coeffs]
        for j, c in enumerate(coeffs):
            shifted[j] = (shifted[j] - c * xs[i]) % r
        shifted[0] = (shifted[0] + table[i]) % r
        coeffs = shifted
    return _trim(coeffs)


def _sub(p: list[int], q: list[int], r: int) -> list[int]:
    n = max(len(p), len(q))
    p, q = p + [0] * (n - len(p)), q + [0] * (n - len(q))
    return _trim([(a - b) % r for a, b in zip(p, q)])


def poly_roots(coeffs: list[int], r: int, seed: int = 1) -> list[int]:
    """The distinct roots in F_r of a polynomial (coefficients lowest first)."""
    import random

    f = _trim(list(coeffs))
    if len(f) < 2:
        return []
    # gcd(f, X^r - X) is the product of (X - root) over the roots of f
    pending = [_gcd(f, _sub(_powmod([0, 1], r, f, r), [0, 1], r), r)]
    rng = random.Random(seed)
    roots = []
    while pending:
        g = pending.pop()
        if len(g) == 2:
            roots.append(-g[0] * pow(g[1], -1, r) % r)
        elif len(g) > 2:  # split with gcd(g, (X + s)^((r-1)/2) - 1) for random s
            while True:
                d = _gcd(g, _sub(_powmod([rng.randrange(r), 1], (r - 1) // 2, g, r), [1], r), r)
                if 1 < len(d) < len(g):
                    pending += [d, _divmod(g, d, r)[0]]
                    break
    return sorted(roots)


def drop(cs: ConstraintSystem, index: int) -> ConstraintSystem:
    """The same system without constraint ``index`` (a mutant), sharing the witness."""
    mutant = ConstraintSystem(cs.curve, has_witness=cs.has_witness)
    mutant.__dict__.update(cs.__dict__)
    mutant.constraints = cs.constraints[:index] + cs.constraints[index + 1 :]
    return mutant


def failing_labels(cs: ConstraintSystem) -> list[str]:
    """Labels of every constraint the witness in ``cs`` breaks (first_unsatisfied names one)."""
    return Witness(cs).violated_labels()


def rederive(cs: ConstraintSystem, changed: Iterable[str] = (), frozen: Iterable[str] = ()) -> Witness:
    """Re-derive every value depending on the variables already overwritten in ``cs``.

    ``changed`` names the overwritten variables (they keep their values). Returns the witness,
    already written back into ``cs``.
    """
    w = Witness(cs)
    w.propagate(fixed=changed, frozen=frozen)
    w.write_back(cs)
    return w
