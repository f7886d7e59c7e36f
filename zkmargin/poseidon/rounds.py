"""Round numbers for x^5 Poseidon at 128-bit security, by the reference's formula.

This is the 2019 ``calc_round_numbers.py`` of the Poseidon authors (the version circomlib's
parameters come from): an instance (R_F, R_P) must survive the statistical, interpolation
and two Groebner-basis attacks; among the secure ones the search adds the security margin
(R_F + 2, R_P * 1.075 rounded up) and keeps the fewest S-boxes, ``t * R_F + R_P``.
Finally, as the reference's parameter script states ("R_P is increased to the closest
multiple of t"), R_P is rounded up to a multiple of t: this gives the published instances
(57 partial rounds for t = 3, 60 for t = 5) and circomlib's whole table for t = 2..17.

The reference evaluates its bounds in floating point. Every bound has the form
``ceil(log_5(2) * a / b)``, which is exactly the least ``k`` with ``5^(k*b) >= 2^a``, and
``ceil(c * min(x, y)) = min(ceil(c*x), ceil(c*y))``, so here they are exact integers.
"""

from __future__ import annotations

from functools import cache

ALPHA = 5
SECURITY_BITS = 128
_MARGIN = (43, 40)  # R_P grows by 7.5 %
_SEARCH_PARTIAL = range(1, 500)
_SEARCH_FULL = range(4, 100, 2)


def _least_power(base: int, target: int, step: int = 1) -> int:
    """The least k >= 0 with base^(k*step) >= target."""
    k, power, stride = 0, 1, base**step
    while power < target:
        k += 1
        power *= stride
    return k


def _log_alpha_2_times(numerator: int, denominator: int) -> int:
    """ceil(log_alpha(2) * numerator / denominator)."""
    return _least_power(ALPHA, 1 << numerator, denominator)


def _min_full_rounds(p: int, t: int, partial_rounds: int) -> int:
    """The least R_F the four attack bounds allow for this R_P."""
    m = SECURITY_BITS
    n = p.bit_length()  # ceil(log2 p) for p not a power of two
    half_log_alpha_p = _least_power(ALPHA, p, 2)  # ceil(log_alpha(p) / 2)
    statistical = 6 if m <= (p.bit_length() - 1 - (ALPHA - 1) // 2) * (t + 1) else 10
    interpolation = 1 + _log_alpha_2_times(min(m, n), 1) + _least_power(ALPHA, t) - partial_rounds
    groebner_1 = 1 + min(_log_alpha_2_times(m, 3), half_log_alpha_p) - partial_rounds
    groebner_2 = t - 1 + min(_log_alpha_2_times(m, t + 1), half_log_alpha_p) - partial_rounds
    return max(statistical, interpolation, groebner_1, groebner_2)


@cache
def round_numbers(p: int, t: int) -> tuple[int, int]:
    """(R_F, R_P) for width ``t`` over F_p: margin included, R_P a multiple of t."""
    full, partial = _cheapest_secure(p, t)
    return full, -(-partial // t) * t


def _cheapest_secure(p: int, t: int) -> tuple[int, int]:
    """The reference's brute-force search for the fewest S-boxes, margin included."""
    best: tuple[int, int, int] | None = None  # (cost, R_F, R_P)
    for partial in _SEARCH_PARTIAL:
        least = _min_full_rounds(p, t, partial)
        full = next((f for f in _SEARCH_FULL if f >= least), None)
        if full is None:
            continue
        full += 2
        padded = -(-partial * _MARGIN[0] // _MARGIN[1])
        cost = t * full + padded
        if best is None or cost < best[0] or (cost == best[0] and full < best[1]):
            best = (cost, full, padded)
    if best is None:
        raise ValueError(f"no secure round numbers for t={t}")
    return best[1], best[2]
