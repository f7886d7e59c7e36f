"""The one error family of zkmargin.

Library code raises these; the edges (CLI exit codes, HTTP status codes) translate them.
A *malformed* input (bad encoding, a point off the curve, a value not below the modulus)
is an error; a well-formed proof that does not verify is simply ``False``.
"""


class ZkMarginError(Exception):
    """Base class of every error zkmargin raises on purpose."""


class MalformedInputError(ZkMarginError, ValueError):
    """An input is not a well-formed value of the expected kind (encoding, range, curve)."""


class UnknownCurveError(ZkMarginError, ValueError):
    """A curve name that zkmargin does not know."""


class ConstraintSystemError(ZkMarginError):
    """A circuit was built or assigned inconsistently."""


class UnsatisfiedError(ZkMarginError):
    """A witness does not satisfy a constraint; ``label`` names the first failing one."""

    def __init__(self, label: str, index: int):
        super().__init__(f"constraint #{index} is not satisfied: {label}")
        self.label = label
        self.index = index


class KeyFileError(ZkMarginError):
    """A key file is missing, damaged or made for another circuit or curve."""


class UnsupportedCurveError(ZkMarginError, ValueError):
    """A well-formed input on a curve that the requested operation does not support."""
