"""Radix-2 evaluation domains of the scalar field and the NTTs over them.

A domain of size ``n = 2^k`` is the group ``H = {w^i}`` of n-th roots of unity; its coset
``gH`` uses the field's multiplicative generator ``g`` (which is not in ``H``, so the
vanishing polynomial ``Z(X) = X^n - 1`` is the non-zero constant ``g^n - 1`` on ``gH``).

Field elements are Python ints. Inputs may be any integers (they are taken modulo ``r``);
outputs are canonical, in ``[0, r)``.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any

from zkmargin.curves import Curve, get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.field import ScalarField
from zkmargin.polynomials.arithmetic import (
    Backend,
    as_int,
    as_int_list,
    bit_reversal,
    dif_bitreversed,
    get_backend,
    powers,
)


@lru_cache(maxsize=4)
def _half_tables(backend: Backend, r: int, omega: int, size: int) -> tuple[list[Any], list[Any]]:
    """``([w^j], [w^-j])`` for ``j < size/2`` in the backend's representation (cached)."""
    half = size // 2
    forward = powers(omega, half, r)
    # w^(n/2) = -1, so w^-j = w^(n-j) = -w^(n/2-j)
    inverse = [1] + [r - forward[half - j] for j in range(1, half)] if half else []
    return backend.lift_all(forward), backend.lift_all(inverse)


@lru_cache(maxsize=6)
def _power_table(backend: Backend, r: int, base: int, scale: int, size: int) -> list[Any]:
    """``scale * base^i`` for ``i < size`` (cached)."""
    return backend.lift_all(powers(base, size, r, start=scale))


class EvaluationDomain:
    """The multiplicative subgroup of order ``size`` (a power of two) of F_r, and its coset.

    ``backend`` selects the integer arithmetic (``"auto"``, ``"python"``, ``"gmpy2"``, see
    :mod:`zkmargin.polynomials.arithmetic`); results do not depend on it.
    """

    def __init__(self, size: int, curve: Curve | str | None = None, backend: str | Backend | None = None):
        if not isinstance(size, int) or isinstance(size, bool):
            raise MalformedInputError(f"domain size must be an integer, got {type(size).__name__}")
        self.curve = get_curve(curve)
        self.field = ScalarField(self.curve)
        self.r = self.field.r
        if size <= 0 or size & (size - 1):
            raise MalformedInputError(f"domain size must be a power of two, got {size}")
        self.log_size = size.bit_length() - 1
        if self.log_size > self.curve.two_adicity:
            raise MalformedInputError(
                f"a domain of size 2^{self.log_size} exceeds the 2-adicity 2^{self.curve.two_adicity} "
                f"of the {self.curve.name} scalar field"
            )
        self.size = size
        self.backend = get_backend(backend)
        r = self.r
        self.omega = self.field.root_of_unity(size)
        self.omega_inv = pow(self.omega, -1, r)
        self.size_inv = pow(size, -1, r)
        self.coset_shift = self.curve.multiplicative_generator % r
        self.coset_shift_inv = pow(self.coset_shift, -1, r)

    @property
    def g(self) -> int:
        """The coset shift (the field's multiplicative generator)."""
        return self.coset_shift

    def __repr__(self) -> str:
        return f"EvaluationDomain(size=2^{self.log_size}, curve={self.curve.name}, backend={self.backend.name})"

    def __len__(self) -> int:
        return self.size

    # ------------------------------------------------------------------ tables

    @cached_property
    def _tables(self) -> tuple[list[Any], list[Any]]:
        return _half_tables(self.backend, self.r, self.omega, self.size)

    @cached_property
    def _modulus(self) -> Any:
        return self.backend.modulus(self.r)

    def _coset_powers(self) -> list[Any]:
        """``g^i`` in natural order: coefficients -> coset-shifted coefficients."""
        return _power_table(self.backend, self.r, self.coset_shift, 1, self.size)

    def _coset_scale(self) -> list[Any]:
        """``g^i / n``: an inverse DIF output -> coset-shifted coefficients."""
        return _power_table(self.backend, self.r, self.coset_shift, self.size_inv, self.size)

    def _coset_unscale(self, extra: int = 1) -> list[Any]:
        """``extra * g^-i / n``: finishes a coset inverse NTT."""
        scale = self.size_inv * extra % self.r
        return _power_table(self.backend, self.r, self.coset_shift_inv, scale, self.size)

    # ------------------------------------------------------------------ raw transforms
    # Working-representation lists; "_br" = bit-reversed order, entries unreduced.

    def _forward_br(self, x: list[Any]) -> list[Any]:
        return dif_bitreversed(x, self._tables[0], self._modulus)

    def _inverse_br_unscaled(self, x: list[Any]) -> list[Any]:
        """``n * coefficients`` in bit-reversed order."""
        return dif_bitreversed(x, self._tables[1], self._modulus)

    def _natural(self, x_br: list[Any]) -> list[Any]:
        return [x_br[i] for i in bit_reversal(self.size)]

    def _natural_times(self, x_br: list[Any], table: list[Any]) -> list[Any]:
        """``[x_natural[i] * table[i] mod r]`` for a bit-reversed ``x_br``, in one pass."""
        R = self._modulus
        return [x_br[j] * t % R for j, t in zip(bit_reversal(self.size), table)]

    def _natural_scaled(self, x_br: list[Any], scalar: int) -> list[Any]:
        """``[x_natural[i] * scalar mod r]`` for a bit-reversed ``x_br``."""
        R, s = self._modulus, self.backend.lift(scalar)
        return [x_br[j] * s % R for j in bit_reversal(self.size)]

    def _mul_table(self, x: list[Any], table: list[Any]) -> list[Any]:
        R = self._modulus
        return [a * t % R for a, t in zip(x, table)]

    def _lower_natural(self, x_br: list[Any]) -> list[int]:
        """Canonical ints in natural order from an unreduced bit-reversed list."""
        return self.backend.lower(x_br, self.r, bit_reversal(self.size))

    # ------------------------------------------------------------------ inputs

    def _coefficients(self, coeffs: Any, what: str = "coefficients") -> list[int]:
        values = as_int_list(coeffs, what)
        if len(values) > self.size:
            raise MalformedInputError(
                f"{what}: {len(values)} coefficients do not fit a domain of size {self.size}"
            )
        values.extend([0] * (self.size - len(values)))
        return values

    def _evaluations(self, evals: Any, what: str = "evaluations") -> list[int]:
        values = as_int_list(evals, what)
        if len(values) != self.size:
            raise MalformedInputError(f"{what}: expected {self.size} evaluations, got {len(values)}")
        return values

    # ------------------------------------------------------------------ public transforms

    def ntt(self, coeffs: Any) -> list[int]:
        """Evaluations ``[f(w^i) for i in range(n)]`` of ``f = sum coeffs[j] X^j``.

        ``coeffs`` may be shorter than the domain (zero-padded), not longer.
        """
        return self._lower_natural(self._forward_br(self._coefficients(coeffs)))

    def intt(self, evals: Any) -> list[int]:
        """Coefficients (length n) of the polynomial of degree < n with these evaluations."""
        y = self._inverse_br_unscaled(self._evaluations(evals))
        return self.backend.to_ints(self._natural_scaled(y, self.size_inv))

    def coset_ntt(self, coeffs: Any) -> list[int]:
        """Evaluations ``[f(g w^i) for i in range(n)]`` on the coset ``gH``."""
        x = self._mul_table(self._coefficients(coeffs), self._coset_powers())
        return self._lower_natural(self._forward_br(x))

    def coset_intt(self, evals: Any) -> list[int]:
        """Coefficients of the polynomial of degree < n with these values on ``gH``."""
        y = self._inverse_br_unscaled(self._evaluations(evals))
        return self.backend.to_ints(self._natural_times(y, self._coset_unscale()))

    # ------------------------------------------------------------------ vanishing polynomial, Lagrange basis

    def vanishing_on_coset(self) -> int:
        """``Z(g w^i) = g^n - 1``, the same non-zero constant at every point of ``gH``."""
        return (pow(self.coset_shift, self.size, self.r) - 1) % self.r

    def evaluate_vanishing(self, x: int) -> int:
        """``Z(x) = x^n - 1``."""
        x = as_int(x, "x") % self.r
        return (pow(x, self.size, self.r) - 1) % self.r

    def elements(self) -> list[int]:
        """``[w^i for i in range(n)]``."""
        if self.size == 1:
            return [1]
        half = powers(self.omega, self.size // 2, self.r)
        r = self.r
        return half + [r - v for v in half]  # w^(n/2 + i) = -w^i

    def element(self, i: int) -> int:
        """``w^i``."""
        return pow(self.omega, i % self.size, self.r)

    def lagrange_coefficients_at(self, tau: int) -> list[int]:
        """``[L_i(tau) for i in range(n)]`` for the Lagrange basis of this domain.

        ``L_i(X) = (w^i / n) (X^n - 1) / (X - w^i)``: O(n) with one batch inversion. When
        ``tau`` is itself a point ``w^k`` of the domain the result is the unit vector ``e_k``.
        """
        r = self.r
        tau = as_int(tau, "tau") % r
        z = (pow(tau, self.size, r) - 1) % r
        elements = self.elements()
        if z == 0:
            out = [0] * self.size
            out[elements.index(tau)] = 1
            return out
        inverses = self.field.batch_inv([(tau - w) % r for w in elements])
        scale = z * self.size_inv % r
        return [scale * w % r * d % r for w, d in zip(elements, inverses)]

    def evaluate_from_evaluations(self, evals: Any, tau: int) -> int:
        """``f(tau)`` for the polynomial of degree < n with these evaluations on the domain."""
        values = self._evaluations(evals)
        basis = self.lagrange_coefficients_at(tau)
        return sum(v * b for v, b in zip(values, basis)) % self.r
