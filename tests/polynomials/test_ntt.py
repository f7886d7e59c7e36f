"""NTTs against the O(n^2) definition, round trips, coset variants, input handling."""

import numpy as np
import pytest

from zkmargin.errors import MalformedInputError
from zkmargin.polynomials import EvaluationDomain, available_backends


def naive_evaluations(coeffs, points, r):
    return [sum(c * pow(x, j, r) for j, c in enumerate(coeffs)) % r for x in points]


def random_elements(rng, n, r):
    return [rng.randrange(r) for _ in range(n)]


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32, 64])
def test_ntt_matches_naive_evaluation(curve, backend, rng, n):
    d = EvaluationDomain(n, curve, backend=backend)
    coeffs = random_elements(rng, n, curve.r)
    assert d.ntt(coeffs) == naive_evaluations(coeffs, d.elements(), curve.r)


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_coset_ntt_matches_naive_evaluation_on_the_coset(curve, backend, rng, n):
    d = EvaluationDomain(n, curve, backend=backend)
    r = curve.r
    coeffs = random_elements(rng, n, r)
    coset = [d.g * w % r for w in d.elements()]
    assert d.coset_ntt(coeffs) == naive_evaluations(coeffs, coset, r)


@pytest.mark.parametrize("log_n", [0, 1, 2, 5, 10])
def test_round_trips(curve, backend, rng, log_n):
    n = 1 << log_n
    d = EvaluationDomain(n, curve, backend=backend)
    values = random_elements(rng, n, curve.r)
    assert d.intt(d.ntt(values)) == values
    assert d.ntt(d.intt(values)) == values
    assert d.coset_intt(d.coset_ntt(values)) == values
    assert d.coset_ntt(d.coset_intt(values)) == values


def test_pointwise_product_is_cyclic_convolution(curve, backend, rng):
    n, r = 32, curve.r
    d = EvaluationDomain(n, curve, backend=backend)
    a, b = random_elements(rng, n, r), random_elements(rng, n, r)
    expected = [sum(a[j] * b[(k - j) % n] for j in range(n)) % r for k in range(n)]
    assert d.intt([x * y for x, y in zip(d.ntt(a), d.ntt(b))]) == expected


def test_backends_agree(curve, rng):
    n, r = 1 << 12, curve.r
    values = random_elements(rng, n, r)
    results = []
    for name in available_backends():
        d = EvaluationDomain(n, curve, backend=name)
        results.append((d.ntt(values), d.intt(values), d.coset_ntt(values), d.coset_intt(values)))
    assert all(result == results[0] for result in results)


def test_short_coefficient_lists_are_zero_padded(curve, backend, rng):
    d = EvaluationDomain(16, curve, backend=backend)
    coeffs = random_elements(rng, 5, curve.r)
    padded = coeffs + [0] * 11
    assert d.ntt(coeffs) == d.ntt(padded)
    assert d.coset_ntt(coeffs) == d.coset_ntt(padded)
    assert d.ntt([]) == [0] * 16
    assert d.ntt([7]) == [7] * 16  # a constant


def test_inputs_are_taken_modulo_r_and_outputs_are_canonical(curve, backend, rng):
    d = EvaluationDomain(8, curve, backend=backend)
    r = curve.r
    coeffs = random_elements(rng, 8, r)
    shifted = [c + k * r for c, k in zip(coeffs, [-3, -1, 0, 1, 2, 5, -7, 100])]
    for transform in (d.ntt, d.intt, d.coset_ntt, d.coset_intt):
        out = transform(shifted)
        assert out == transform(coeffs)
        assert all(type(v) is int and 0 <= v < r for v in out)


def test_integer_like_inputs_are_accepted_and_not_mutated(curve, backend):
    d = EvaluationDomain(4, curve, backend=backend)
    ints = [1, 2, 3, 4]
    original = list(ints)
    expected = d.ntt(ints)
    assert ints == original
    assert d.ntt(np.array(ints, dtype=np.int64)) == expected
    assert d.ntt((v for v in ints)) == expected
    assert d.ntt([True, 2, 3, 4]) == expected


@pytest.mark.parametrize("bad", [[1, 2.5, 3], [1, "2"], [None], 7])
def test_non_integer_inputs_are_rejected(curve, bad):
    d = EvaluationDomain(4, curve)
    for transform in (d.ntt, d.coset_ntt):
        with pytest.raises(MalformedInputError):
            transform(bad)


def test_wrong_lengths_are_rejected(curve):
    d = EvaluationDomain(4, curve)
    with pytest.raises(MalformedInputError, match="do not fit"):
        d.ntt([1, 2, 3, 4, 5])
    with pytest.raises(MalformedInputError, match="do not fit"):
        d.coset_ntt([0] * 8)
    for transform in (d.intt, d.coset_intt):
        with pytest.raises(MalformedInputError, match="expected 4 evaluations"):
            transform([1, 2, 3])
        with pytest.raises(MalformedInputError, match="expected 4 evaluations"):
            transform([0] * 5)
