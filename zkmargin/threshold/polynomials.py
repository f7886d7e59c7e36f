"""Shamir sharing mod l: polynomial evaluation, Lagrange coefficients, and the same in the group.

Guardian j's share is a polynomial's value at x = j (indices start at 1: x = 0 is the secret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zkmargin.edwards import IDENTITY, EdwardsCurve, Point, add, mul
from zkmargin.errors import MalformedInputError


def evaluate(coefficients: Sequence[int], x: int, modulus: int) -> int:
    """``Σ coefficients[k] · x^k mod modulus`` (Horner)."""
    value = 0
    for coefficient in reversed(coefficients):
        value = (value * x + coefficient) % modulus
    return value


def evaluate_in_group(ec: EdwardsCurve, commitments: Sequence[Point], x: int) -> Point:
    """``Σ x^k · commitments[k]``: the point f(x)·B when ``commitments[k] = a_k·B``.

    Horner in the group: x is a small guardian index, so each step is a short multiplication.
    """
    value = IDENTITY
    for commitment in reversed(commitments):
        value = add(ec, mul(ec, x, value), commitment)
    return value


def lagrange_coefficients(indices: Sequence[int], modulus: int, at: int = 0) -> dict[int, int]:
    """``λ_i`` with ``f(at) = Σ λ_i · f(i)`` for any polynomial of degree < len(indices)."""
    if len(set(indices)) != len(indices) or any(i % modulus == 0 for i in indices):
        raise MalformedInputError("interpolation needs distinct non-zero indices")
    coefficients = {}
    for i in indices:
        numerator, denominator = 1, 1
        for j in indices:
            if j != i:
                numerator = numerator * (at - j) % modulus
                denominator = denominator * (i - j) % modulus
        coefficients[i] = numerator * pow(denominator, -1, modulus) % modulus
    return coefficients


def interpolate_in_group(ec: EdwardsCurve, points: Mapping[int, Point], at: int = 0) -> Point:
    """``Σ λ_i · points[i]``: F(at) for the group polynomial through the given points.

    With fewer points than the polynomial's degree + 1 this is a point, just not F(at).
    """
    total = IDENTITY
    for index, coefficient in lagrange_coefficients(list(points), ec.order, at).items():
        total = add(ec, total, mul(ec, coefficient, points[index]))
    return total
