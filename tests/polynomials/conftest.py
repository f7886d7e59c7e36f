"""Fixtures for the polynomial tests: ``curve`` (both curves) comes from tests/conftest.py;
``backend`` runs a test on every integer back end installed here."""

import random

import pytest

from zkmargin.polynomials import available_backends


@pytest.fixture(params=available_backends())
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return random.Random(20240611)
