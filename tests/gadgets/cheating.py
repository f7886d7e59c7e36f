"""Cheating witnesses that stay consistent downstream of the cheat.

:class:`OverridingSystem` replaces the value of chosen private variables *when they are
allocated*, so everything computed after them (further points, hashes, digests) follows the
cheat: only the constraints that tie an overridden variable to its inputs can break, which
``tests.circuits.helpers.assert_only_fails_at`` then pins.
"""

from __future__ import annotations

from zkmargin.constraints import ConstraintSystem


class OverridingSystem(ConstraintSystem):
    def __init__(self, curve, overrides: dict[str, int] | None = None):
        super().__init__(curve, has_witness=True)
        self.overrides = dict(overrides or {})
        self.unused = set(self.overrides)

    def private(self, name, value=None, **flags):
        qualified = self._qualified(name)
        if qualified in self.overrides:
            self.unused.discard(qualified)
            value = self.overrides[qualified]
        return super().private(name, value, **flags)

    def assert_every_override_used(self) -> None:
        assert not self.unused, f"overrides never allocated: {sorted(self.unused)}"
