"""galois as an independent oracle for field, NTT and polynomial arithmetic, on both scalar fields.

Each test draws random inputs, computes with zkmargin and with galois's GF(r) arrays and
polynomials, and compares. galois is a test dependency only; the ``gf`` fixture builds each
field once per session. Building GF(r) is cheap when galois is given the field's
multiplicative generator (``primitive_element=``, ``verify=False``); left to itself, galois
factors r - 1 to find one, which takes minutes for a 254-bit r. Sizes stay small: galois
computes on Python ints for these fields.
"""

from __future__ import annotations

import pytest

from zkmargin.field import ScalarField
from zkmargin.polynomials import EvaluationDomain
from zkmargin.polynomials.quotient import quotient_h

galois = pytest.importorskip("galois")


@pytest.fixture(scope="session")
def galois_fields():
    return {}


@pytest.fixture
def gf(curve, galois_fields):
    """galois's GF(r) for the curve under test, built once per session."""
    if curve.name not in galois_fields:
        galois_fields[curve.name] = galois.GF(
            curve.r, primitive_element=curve.multiplicative_generator, verify=False
        )
    return galois_fields[curve.name]


def _poly(gf, coeffs):
    """The galois polynomial with these coefficients (constant term first, as zkmargin lists them)."""
    return galois.Poly(list(reversed(coeffs)), field=gf) if coeffs else galois.Poly.Zero(gf)


def _coeffs(poly, n):
    """The first n coefficients of a galois polynomial, constant term first, as ints."""
    low = [int(c) for c in reversed(poly.coeffs)]
    return (low + [0] * n)[:n]


def _draw(rng, n, r):
    return [rng.randrange(r) for _ in range(n)]


# --- field ------------------------------------------------------------------------------
def test_field_inverses_match_galois(curve, gf, rng):
    field = ScalarField(curve)
    values = [rng.randrange(1, curve.r) for _ in range(16)]
    expected = [int(v) for v in gf(values) ** -1]
    assert [field.inv(v) for v in values] == expected
    assert field.batch_inv(values) == expected


@pytest.mark.parametrize("log_n", [0, 1, 3, 5])
def test_roots_of_unity_match_galois(curve, gf, log_n):
    n = 1 << log_n
    omega = gf.primitive_root_of_unity(n) if n > 1 else gf(1)
    assert ScalarField(curve).root_of_unity(n) == int(omega)
    assert EvaluationDomain(n, curve).elements() == [int(omega**i) for i in range(n)]


# --- NTT --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 8, 32])
def test_ntt_is_evaluation_on_the_domain(curve, backend, gf, rng, n):
    d = EvaluationDomain(n, curve, backend=backend)
    coeffs = _draw(rng, n, curve.r)
    points = gf(d.elements())
    assert d.ntt(coeffs) == [int(v) for v in _poly(gf, coeffs)(points)]
    coset = gf([d.g * w % curve.r for w in d.elements()])
    assert d.coset_ntt(coeffs) == [int(v) for v in _poly(gf, coeffs)(coset)]


@pytest.mark.parametrize("n", [2, 8, 32])
def test_inverse_ntt_is_interpolation(curve, backend, gf, rng, n):
    d = EvaluationDomain(n, curve, backend=backend)
    evals = _draw(rng, n, curve.r)
    points = gf(d.elements())
    assert d.intt(evals) == _coeffs(galois.lagrange_poly(points, gf(evals)), n)
    coset = gf([d.g * w % curve.r for w in d.elements()])
    assert d.coset_intt(evals) == _coeffs(galois.lagrange_poly(coset, gf(evals)), n)


# --- polynomial arithmetic --------------------------------------------------------------
@pytest.mark.parametrize("n", [4, 16])
def test_multiplication_through_the_ntt_matches_galois(curve, backend, gf, rng, n):
    d = EvaluationDomain(2 * n, curve, backend=backend)
    a, b = _draw(rng, n, curve.r), _draw(rng, n, curve.r)
    product = d.intt([x * y % curve.r for x, y in zip(d.ntt(a + [0] * n), d.ntt(b + [0] * n))])
    assert product == _coeffs(_poly(gf, a) * _poly(gf, b), 2 * n)


@pytest.mark.parametrize("method", ["coset", "kronecker"])
@pytest.mark.parametrize("n", [2, 8, 32])
def test_quotient_is_polynomial_division_by_the_vanishing_polynomial(curve, backend, gf, rng, n, method):
    d = EvaluationDomain(n, curve, backend=backend)
    if method == "kronecker" and not d.backend.kronecker:
        pytest.skip("the Kronecker quotient needs the gmpy2 backend")
    r = curve.r
    a_evals, b_evals = _draw(rng, n, r), _draw(rng, n, r)
    c_evals = [x * y % r for x, y in zip(a_evals, b_evals)]
    points = gf(d.elements())
    a, b, c = (galois.lagrange_poly(points, gf(v)) for v in (a_evals, b_evals, c_evals))
    vanishing = galois.Poly.Degrees([n, 0], [1, -1], field=gf)
    h, remainder = divmod(a * b - c, vanishing)
    assert remainder == galois.Poly.Zero(gf)
    assert quotient_h(a_evals, b_evals, c_evals, d, method=method) == _coeffs(h, n - 1)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_evaluation_off_the_domain_matches_galois(curve, gf, rng, n):
    d = EvaluationDomain(n, curve)
    r = curve.r
    evals = _draw(rng, n, r)
    tau = rng.randrange(r)
    interpolant = galois.lagrange_poly(gf(d.elements()), gf(evals)) if n > 1 else galois.Poly(evals, field=gf)
    assert d.evaluate_from_evaluations(evals, tau) == int(interpolant(gf(tau)))
    assert d.evaluate_vanishing(tau) == int(galois.Poly.Degrees([n, 0], [1, -1], field=gf)(gf(tau)))
    basis = d.lagrange_coefficients_at(tau)
    for i in range(n):
        unit = [int(i == j) for j in range(n)]
        lagrange_i = galois.lagrange_poly(gf(d.elements()), gf(unit)) if n > 1 else galois.Poly.One(gf)
        assert basis[i] == int(lagrange_i(gf(tau)))
