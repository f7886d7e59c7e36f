"""Polynomials over the scalar field: radix-2 evaluation domains, NTTs and the Groth16 quotient.

>>> from zkmargin.polynomials import EvaluationDomain, quotient_h
>>> domain = EvaluationDomain(8, "bn128")
>>> domain.intt(domain.ntt([1, 2, 3])) == [1, 2, 3, 0, 0, 0, 0, 0]
True

Field elements are Python ints; outputs are canonical (in ``[0, r)``). The integer arithmetic
comes from :mod:`zkmargin.polynomials.arithmetic` (plain ints, or gmpy2 when installed).
"""

from zkmargin.polynomials.arithmetic import BACKEND_ENV, available_backends, get_backend
from zkmargin.polynomials.domain import EvaluationDomain
from zkmargin.polynomials.quotient import METHODS, quotient_h

__all__ = [
    "BACKEND_ENV",
    "METHODS",
    "EvaluationDomain",
    "available_backends",
    "get_backend",
    "quotient_h",
]
