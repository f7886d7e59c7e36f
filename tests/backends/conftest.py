"""Fixtures for the cross-backend suite: every (curve, backend) pair and its py_ecc reference."""

from __future__ import annotations

import random

import pytest

from tests.backends.group_view import GroupView
from zkmargin.backends import BACKENDS, Backend, get_backend

PAIRS = [(curve, name) for curve, names in BACKENDS.items() for name in names]


@pytest.fixture(scope="session", params=PAIRS, ids=[f"{curve}-{name}" for curve, name in PAIRS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(*request.param)


@pytest.fixture(scope="session")
def reference(backend: Backend) -> Backend:
    return get_backend(backend.curve, "py_ecc")


@pytest.fixture(scope="session")
def is_reference(backend: Backend) -> bool:
    """py_ecc is slow: the tests shrink their sizes for it."""
    return backend.name == "py_ecc"


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240611)


@pytest.fixture(params=["g1", "g2"])
def group(request: pytest.FixtureRequest, backend: Backend) -> GroupView:
    """One group of the backend, so that one test covers G1 and G2."""
    return GroupView(backend, request.param)


@pytest.fixture
def reference_group(group: GroupView, reference: Backend) -> GroupView:
    return GroupView(reference, group.prefix)
