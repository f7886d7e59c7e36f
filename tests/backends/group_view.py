"""Test-side view of one group of a backend: ``view.add(a, b)`` is ``backend.g1_add(a, b)``
or ``backend.g2_add(a, b)``, so one test body covers both groups."""

from __future__ import annotations

from typing import Any

from zkmargin.backends import Backend


class GroupView:
    def __init__(self, backend: Backend, prefix: str):
        self.backend = backend
        self.prefix = prefix
        self.r = backend.curve.r

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, f"{self.prefix}_{name}")

    @property
    def generator_affine(self) -> Any:
        curve = self.backend.curve
        return curve.g1_generator if self.prefix == "g1" else curve.g2_generator

    def random_point(self, rng: Any) -> Any:
        return self.mul(self.generator(), rng.randrange(1, self.r))

    def port(self, point: Any, other: GroupView) -> Any:
        """The same point as an object of another backend, through affine coordinates."""
        xy = self.to_affine(point)
        if xy is None:
            return other.identity()
        return getattr(other.backend, f"_{other.prefix}_from_affine_unchecked")(xy)

    def __repr__(self) -> str:
        return f"{self.backend!r}.{self.prefix}"
