"""EvaluationDomain: roots of unity, coset, vanishing polynomial, Lagrange basis, bad sizes."""

import pytest

from zkmargin.curves import BLS12_381, get_curve
from zkmargin.errors import MalformedInputError, UnknownCurveError, ZkMarginError
from zkmargin.polynomials import BACKEND_ENV, EvaluationDomain, available_backends, get_backend


def horner(coeffs, x, r):
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % r
    return acc


@pytest.mark.parametrize("log_n", [0, 1, 3, 6])
def test_domain_parameters(curve, log_n):
    n = 1 << log_n
    d = EvaluationDomain(n, curve)
    r = curve.r
    assert (d.size, d.log_size, len(d)) == (n, log_n, n)
    assert pow(d.omega, n, r) == 1
    if n > 1:
        assert pow(d.omega, n // 2, r) == r - 1  # primitive: w^(n/2) = -1
    assert d.omega * d.omega_inv % r == 1
    assert d.size * d.size_inv % r == 1
    assert d.g == d.coset_shift == curve.multiplicative_generator
    assert d.coset_shift * d.coset_shift_inv % r == 1
    assert pow(d.g, n, r) != 1  # the coset gH is disjoint from H


def test_curve_names_and_default():
    assert EvaluationDomain(4).curve is BLS12_381
    assert EvaluationDomain(4, "bn254").curve is get_curve("bn128")
    with pytest.raises(UnknownCurveError):
        EvaluationDomain(4, "secp256k1")


def test_elements_are_the_powers_of_omega(curve):
    d = EvaluationDomain(16, curve)
    assert d.elements() == [pow(d.omega, i, curve.r) for i in range(16)]
    assert len(set(d.elements())) == 16
    assert d.element(5) == pow(d.omega, 5, curve.r)
    assert d.element(-1) == d.omega_inv
    assert EvaluationDomain(1, curve).elements() == [1]


def test_vanishing_polynomial(curve, rng):
    d = EvaluationDomain(8, curve)
    r = curve.r
    assert all(d.evaluate_vanishing(w) == 0 for w in d.elements())
    x = rng.randrange(r)
    assert d.evaluate_vanishing(x) == (pow(x, 8, r) - 1) % r
    z = d.vanishing_on_coset()
    assert z != 0
    assert all(d.evaluate_vanishing(d.g * w % r) == z for w in d.elements())


@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_lagrange_coefficients_match_the_product_formula(curve, rng, n):
    d = EvaluationDomain(n, curve)
    r = curve.r
    tau = rng.randrange(r)
    ws = d.elements()
    expected = []
    for i, wi in enumerate(ws):
        num = den = 1
        for j, wj in enumerate(ws):
            if j != i:
                num = num * (tau - wj) % r
                den = den * (wi - wj) % r
        expected.append(num * pow(den, -1, r) % r)
    got = d.lagrange_coefficients_at(tau)
    assert got == expected
    assert sum(got) % r == 1  # the basis sums to the constant polynomial 1


def test_lagrange_coefficients_inside_the_domain_are_unit_vectors(curve):
    d = EvaluationDomain(8, curve)
    for k, w in enumerate(d.elements()):
        assert d.lagrange_coefficients_at(w) == [int(i == k) for i in range(8)]
    assert d.lagrange_coefficients_at(d.elements()[3] + curve.r) == [int(i == 3) for i in range(8)]


def test_lagrange_interpolation_evaluates_the_polynomial(curve, backend, rng):
    d = EvaluationDomain(32, curve, backend=backend)
    r = curve.r
    coeffs = [rng.randrange(r) for _ in range(32)]
    evals = d.ntt(coeffs)
    tau = rng.randrange(r)
    assert d.evaluate_from_evaluations(evals, tau) == horner(coeffs, tau, r)
    basis = d.lagrange_coefficients_at(tau)
    assert sum(e * weight for e, weight in zip(evals, basis)) % r == horner(coeffs, tau, r)


@pytest.mark.parametrize("size", [0, -4, 3, 6, 12, 2**20 + 1])
def test_sizes_that_are_not_powers_of_two_are_rejected(size):
    with pytest.raises(ValueError, match="power of two"):
        EvaluationDomain(size)


@pytest.mark.parametrize("size", [8.0, "8", True, None])
def test_non_integer_sizes_are_rejected(size):
    with pytest.raises(MalformedInputError):
        EvaluationDomain(size)


def test_sizes_beyond_the_two_adicity_are_rejected(curve):
    largest = 1 << curve.two_adicity
    assert EvaluationDomain(largest, curve).log_size == curve.two_adicity  # tables are lazy
    with pytest.raises(ValueError, match="2-adicity") as excinfo:
        EvaluationDomain(largest * 2, curve)
    assert isinstance(excinfo.value, ZkMarginError)


def test_backend_selection(monkeypatch):
    assert get_backend("python").name == "python"
    assert EvaluationDomain(4, backend="python").backend.name == "python"
    with pytest.raises(MalformedInputError, match="unknown polynomial backend"):
        get_backend("fortran")
    monkeypatch.setenv(BACKEND_ENV, "python")
    assert get_backend().name == "python"
    monkeypatch.setenv(BACKEND_ENV, "auto")
    assert get_backend().name == available_backends()[-1]
