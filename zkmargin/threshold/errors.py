"""The threshold package's errors, in zkmargin's one error family.

A malformed value (a point off the subgroup, a scalar not below l, bad JSON) raises
:class:`~zkmargin.errors.MalformedInputError` as everywhere else; these are the failures of
the protocol itself, and each names the guardians responsible.
"""

from __future__ import annotations

from collections.abc import Mapping

from zkmargin.errors import ZkMarginError


def _describe(blame: Mapping[int, str]) -> str:
    return "; ".join(f"guardian {index}: {reason}" for index, reason in sorted(blame.items()))


class ThresholdError(ZkMarginError):
    """A threshold operation cannot complete."""


class NotEnoughSharesError(ThresholdError):
    """Fewer than t distinct valid decryption shares; ``refused`` names the rejected guardians."""

    def __init__(self, valid: int, threshold: int, refused: Mapping[int, str]):
        message = f"{valid} valid decryption shares, {threshold} needed"
        if refused:
            message += f" (refused: {_describe(refused)})"
        super().__init__(message)
        self.refused = dict(refused)


class DkgFailedError(ThresholdError):
    """Fewer than t dealers qualified; ``disqualified`` names them with the reason."""

    def __init__(self, qualified: int, threshold: int, disqualified: Mapping[int, str]):
        super().__init__(
            f"key generation failed: {qualified} qualified dealers, {threshold} needed"
            f" (disqualified: {_describe(disqualified)})"
        )
        self.disqualified = dict(disqualified)


class InconsistentShareError(ThresholdError):
    """A guardian's own sub-shares do not add up to its verification key."""

    def __init__(self, guardian: int, reason: str):
        super().__init__(f"guardian {guardian}: {reason}")
        self.guardian = guardian
