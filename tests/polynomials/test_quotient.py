"""quotient_h: h = (a b - c) / Z exactly, for every method, with checks, timings and errors."""

import pytest

from zkmargin.errors import MalformedInputError, UnsatisfiedError
from zkmargin.polynomials import EvaluationDomain, quotient_h


def horner(coeffs, x, r):
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % r
    return acc


def methods_for(backend):
    return ["auto", "coset", "kronecker"] if backend == "gmpy2" else ["auto", "coset"]


def satisfied_evaluations(rng, n, r):
    a = [rng.randrange(r) for _ in range(n)]
    b = [rng.randrange(r) for _ in range(n)]
    return a, b, [x * y % r for x, y in zip(a, b)]


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 1024])
def test_h_times_z_equals_ab_minus_c_at_a_random_point(curve, backend, rng, n):
    r = curve.r
    d = EvaluationDomain(n, curve, backend=backend)
    a, b, c = satisfied_evaluations(rng, n, r)
    tau = rng.randrange(r)
    a_t, b_t, c_t = (d.evaluate_from_evaluations(e, tau) for e in (a, b, c))
    for method in methods_for(backend):
        h = quotient_h(a, b, c, d, method=method)
        assert len(h) == n - 1
        assert all(type(v) is int and 0 <= v < r for v in h)
        assert horner(h, tau, r) * d.evaluate_vanishing(tau) % r == (a_t * b_t - c_t) % r


@pytest.mark.parametrize("n", [2, 8, 16])
def test_h_is_the_exact_polynomial_quotient(curve, backend, rng, n):
    """Schoolbook a*b, split as h (X^n - 1) + c; quotient_h must return exactly h."""
    r = curve.r
    d = EvaluationDomain(n, curve, backend=backend)
    a = [rng.randrange(r) for _ in range(n)]
    b = [rng.randrange(r) for _ in range(n)]
    product = [0] * (2 * n - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            product[i + j] = (product[i + j] + x * y) % r
    expected_h = product[n:]
    c = [(product[i] + (product[n + i] if n + i < 2 * n - 1 else 0)) % r for i in range(n)]
    for method in methods_for(backend):
        assert quotient_h(d.ntt(a), d.ntt(b), d.ntt(c), d, method=method) == expected_h


def test_methods_agree_on_a_larger_domain(curve, rng):
    n, r = 1 << 11, curve.r
    a, b, c = satisfied_evaluations(rng, n, r)
    results = set()
    for backend in ("python", "gmpy2"):
        try:
            d = EvaluationDomain(n, curve, backend=backend)
        except MalformedInputError:
            continue
        for method in methods_for(backend)[1:]:
            results.add(tuple(quotient_h(a, b, c, d, method=method)))
    assert len(results) == 1


def test_a_point_where_ab_differs_from_c_is_reported(curve, backend, rng):
    n, r = 16, curve.r
    d = EvaluationDomain(n, curve, backend=backend)
    a, b, c = satisfied_evaluations(rng, n, r)
    c[5] = (c[5] + 1) % r
    for method in methods_for(backend):
        with pytest.raises(UnsatisfiedError, match="w\\^5") as excinfo:
            quotient_h(a, b, c, d, method=method)
        assert excinfo.value.index == 5
        assert len(quotient_h(a, b, c, d, method=method, check=False)) == n - 1  # unchecked: no error


def test_phase_timings_are_reported(curve, backend, rng):
    n, r = 64, curve.r
    d = EvaluationDomain(n, curve, backend=backend)
    a, b, c = satisfied_evaluations(rng, n, r)
    expected = {
        "coset": {"check", "intt", "coset_ntt", "divide", "coset_intt", "total"},
        "kronecker": {"check", "intt", "multiply", "unpack", "total"},
    }
    for method in methods_for(backend)[1:]:
        phases, calls = {}, []
        quotient_h(a, b, c, d, method=method, phases=phases,
                   on_phase=lambda name, s, calls=calls: calls.append((name, s)))
        assert set(phases) == expected[method]
        assert [name for name, _ in calls] == [k for k in phases if k != "total"]
        assert all(s >= 0 for s in phases.values())
        assert phases["total"] >= sum(s for k, s in phases.items() if k != "total") * 0.99
        before = dict(phases)
        quotient_h(a, b, c, d, method=method, phases=phases)
        assert phases["total"] > before["total"]  # durations accumulate


def test_bad_arguments(curve, rng):
    r = curve.r
    d = EvaluationDomain(8, curve, backend="python")
    a, b, c = satisfied_evaluations(rng, 8, r)
    with pytest.raises(MalformedInputError, match="c_evals"):
        quotient_h(a, b, c[:7], d)
    with pytest.raises(MalformedInputError, match="a_evals"):
        quotient_h(a + [0], b, c, d)
    with pytest.raises(MalformedInputError, match="unknown quotient method"):
        quotient_h(a, b, c, d, method="karatsuba")
    with pytest.raises(MalformedInputError, match="gmpy2"):
        quotient_h(a, b, c, d, method="kronecker")
    with pytest.raises(MalformedInputError, match="EvaluationDomain"):
        quotient_h(a, b, c, 8)
    with pytest.raises(MalformedInputError, match="integer"):
        quotient_h([0.5] * 8, b, c, d)
